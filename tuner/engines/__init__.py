"""Search engines: each proposes parameters and runs the shared trial unit.

``random`` is scikit-learn's ``RandomizedSearchCV``; ``optuna`` is an Optuna study.
Every engine implements :class:`tuner.engines.base.Engine`. The table below names
them without importing them, so the CLI answers ``--help`` at once; its keys are
:data:`tuner.choices.ENGINES` (a test checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuner.config import SearchConfig
    from tuner.engines.base import Engine

ENGINE_CLASSES = {
    "optuna": "tuner.engines.optuna.engine:OptunaEngine",
    "random": "tuner.engines.random_search:RandomEngine",
}


def make_engine(config: SearchConfig) -> Engine:
    """The engine ``config.engine`` names."""
    module, cls = ENGINE_CLASSES[config.engine].split(":")
    return getattr(importlib.import_module(module), cls)(config)
