"""The engine contract: what every engine receives, does and returns.

As scikit-learn's ``BaseSearchCV._run_search`` does for its searches, an engine
does one thing: run trials of the shared trial unit and report them. Loading
data, the search's parent run, progress, the refit and the result are the same for
every engine and live outside it (``tuner.search``, ``tuner.finish``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from tuner.config import SearchConfig
from tuner.context import Inputs, SearchContext
from tuner.search_run import open_search_run, timestamp
from tuner.tracking import RunTarget


@dataclass
class TrialRecord:
    number: int
    state: str  # complete | pruned | failed (tuner.tracking's state names)
    value: float | None  # the search metric on validation data (CV mean for random)
    params: dict[str, Any]
    run_id: str | None = None
    duration_s: float | None = None
    reason: str = ""
    best_epoch: int | None = None


@dataclass
class EngineResult:
    trials: list[TrialRecord]
    best: TrialRecord
    study: str | None = None  # an Optuna study, for adding trials later
    storage: str | None = None


class Engine(ABC):
    """Runs the trials of one search. Subclasses implement :meth:`run`, and may
    override :meth:`start` (Optuna keeps its study beside the parent run)."""

    unit = "trials"  # what the progress display counts

    def __init__(self, config: SearchConfig):
        self.config = config

    def settings(self) -> dict[str, Any]:
        """Engine-specific settings, logged as parameters of the search run."""
        return {}

    def total(self) -> int | None:
        """How many units the progress display expects."""
        return self.config.trials

    def start(self, experiment: RunTarget, inputs: Inputs) -> RunTarget:
        """Open the search's parent run; return the target its trials log under."""
        return open_search_run(
            self.config, inputs, experiment, self.settings(), f"{self.config.engine}-{timestamp()}"
        )

    @abstractmethod
    def run(self, ctx: SearchContext) -> EngineResult:
        """Run the search's trials; return every finished one and the best."""
