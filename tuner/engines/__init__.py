"""Search engines: each proposes parameters and fits the shared trial unit.

``random`` is scikit-learn's ``RandomizedSearchCV``; ``optuna`` is an Optuna study.
Both take a :class:`~tuner.engines.base.SearchContext` and return an
:class:`~tuner.engines.base.EngineResult`.
"""

from tuner.engines.base import EngineResult, SearchContext, TrialRecord

__all__ = ["EngineResult", "SearchContext", "TrialRecord"]
