"""Search engines: each proposes parameters and runs the shared trial unit.

``random`` is scikit-learn's ``RandomizedSearchCV``; ``optuna`` is an Optuna study.
Every engine implements :class:`tuner.engines.base.Engine`. The table below names
them without importing them, so the CLI answers ``--help`` at once; its keys are
:data:`tuner.choices.ENGINES` (a test checks it).

May import: search, shipping, trial, networks, tracking, processes, _compat, and the modules at tuner's top.
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
# Engines whose trials run in a pool of warm worker processes (their ``pool_size`` is above 0;
# a test checks it): the fork server that those workers come from starts for them alone.
POOLED = frozenset({"optuna"})


def start_workers_early(engine: str) -> None:
    """The one place that decides whether the worker fork server starts: for a pooled engine,
    start it now, so that its TensorFlow import overlaps the caller's own imports and set-up.
    Called first thing by the commands and again by the search's first step (a no-op then)."""
    if engine in POOLED:
        from tuner.processes.fork_server import start_early

        start_early()


def make_engine(config: SearchConfig) -> Engine:
    """The engine ``config.engine`` names."""
    module, cls = ENGINE_CLASSES[config.engine].split(":")
    return getattr(importlib.import_module(module), cls)(config)
