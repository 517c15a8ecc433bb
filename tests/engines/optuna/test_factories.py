"""Samplers and pruners by name: the names users may write are the factories' table."""

from __future__ import annotations

from tuner.choices import ENGINES, PRUNERS, SAMPLERS
from tuner.engines import ENGINE_CLASSES
from tuner.engines.optuna import factories

# --- names --------------------------------------------------------------------------------------


def test_the_names_users_may_write_are_the_factories_names():
    assert set(ENGINES) == set(ENGINE_CLASSES)
    assert set(SAMPLERS) == set(factories.SAMPLERS)
    assert set(PRUNERS) == set(factories.PRUNERS)
