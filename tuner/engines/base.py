"""The engine contract: what every engine receives, does and returns.

As scikit-learn's ``BaseSearchCV._run_search`` does for its searches, an engine
does one thing: run trials of the shared trial unit and report them. Loading
data, the search's parent run, progress, the refit and the result are the same for
every engine and live outside it (``tuner.search``, ``tuner.finish``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from tuner.config import SearchConfig
from tuner.context import Inputs, SearchContext
from tuner.finish import FinalModel, candidates, choose, recheck_fold, refit_and_log
from tuner.records import EngineResult, TrialRecord  # noqa: F401 - re-exported until the engines move
from tuner.search_run import open_search_run, timestamp
from tuner.tracking import RunTarget


class Engine(ABC):
    """Runs the trials of one search. Subclasses implement :meth:`run`, and may
    override :meth:`start` (Optuna keeps its study beside the parent run) and
    :meth:`finish` (Optuna runs it in its warm worker processes).

    An engine is a context manager: entering it starts what is slow to start
    (worker processes), so that runs while the search loads its data.
    """

    unit = "trials"  # what the progress display counts

    def __init__(self, config: SearchConfig):
        self.config = config
        self.workers = 1  # processes that run trials

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def settings(self) -> dict[str, Any]:
        """Engine-specific settings, logged as parameters of the search run."""
        return {}

    def total(self) -> int | None:
        """How many units the progress display expects."""
        return self.config.trials

    def check(self, inputs: Inputs) -> None:
        """Refuse what :meth:`start` would fail on, before anything is written or started."""
        return None

    def start(self, experiment: RunTarget, inputs: Inputs) -> RunTarget:
        """Open the search's parent run; return the target its trials log under."""
        return open_search_run(
            self.config, inputs, experiment, self.settings(), f"{self.config.engine}-{timestamp()}"
        )

    @abstractmethod
    def run(self, ctx: SearchContext) -> EngineResult:
        """Run the search's trials; return every finished one and the best."""

    def finish(self, ctx: SearchContext, outcome: EngineResult) -> FinalModel:
        """Re-check the best few trials, refit the winner, test and log it (in this process)."""
        checked = candidates(outcome, ctx.metric, ctx.config.recheck)
        if len(checked) > 1:
            for candidate in checked:
                candidate.scores = [recheck_fold(ctx, candidate, k) for k in range(ctx.config.recheck_folds)]
        return refit_and_log(ctx, choose(ctx.metric, checked), checked)
