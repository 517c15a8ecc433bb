"""The engine contract: what differs between engines, and nothing else.

As scikit-learn's ``BaseSearchCV._run_search`` is for its searches, an engine runs
trials of the shared trial unit and reads them back. Loading the data, the parent
run, the worker pool, progress, the finish and the result are the same for every
engine and live in :mod:`tuner.jobs.steps`, which asks the engine only what differs:

* :meth:`Engine.run` (required) runs the trials; :meth:`Engine.outcome` reads them;
* :meth:`Engine.check` (optional) refuses, before anything is written, what the run
  would fail on, opening the engine's storage once, before the data is read;
* :meth:`Engine.settings` (optional) are logged on the parent run;
* :attr:`Engine.pool_size` says whether trials run in a pool of warm workers, and
  :meth:`Engine.fits` where the finish step's fits run;
* :meth:`Engine.join` and :meth:`Engine.record` bracket the parent run's creation
  (a persistent study is joined or created there).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuner.config import SearchConfig
from tuner.search.context import Inputs, SearchContext
from tuner.search.finish import Fits, InProcessFits
from tuner.search.outcomes import EngineResult
from tuner.tracking.runs import RunTarget

if TYPE_CHECKING:
    from tuner.processes.pool import WorkerPool


class Engine(ABC):
    unit = "trials"  # what the progress display counts
    rechecks = True  # whether the finish re-checks the best few (False: the scores are CV means already)
    pool_size = 0  # worker processes the steps start for it; 0: it runs its fits itself

    def __init__(self, config: SearchConfig):
        self.config = config

    @property
    def workers(self) -> int:
        """Processes that run trials, for the result."""
        return self.pool_size or 1

    def check(self, load: Callable[[], Inputs]) -> Inputs:
        """Refuse what :meth:`run` would fail on, then read the inputs (``load``): a storage
        or server is checked before a large file is read. Nothing is written."""
        return load()

    def settings(self) -> dict[str, Any]:
        """Engine-specific settings, logged as parameters of the search run."""
        return {}

    def total(self) -> int | None:
        """How many units the progress display expects."""
        return self.config.trials

    def join(self, experiment: RunTarget, inputs: Inputs) -> str | None:
        """Before a parent run opens: the id of an existing one to join (a resumed study), else None."""
        return None

    def run_name(self, experiment: RunTarget) -> str:
        from tuner.search.parent_run import timestamp

        return timestamp()

    def record(self, search_run: RunTarget, inputs: Inputs) -> None:
        """After the parent run opened: record what the engine keeps beside it."""
        return None

    def fits(self, ctx: SearchContext, pool: WorkerPool | None) -> Fits:
        """Where the finish step's fits run: in this process unless the engine says otherwise."""
        return InProcessFits(ctx)

    @abstractmethod
    def run(self, ctx: SearchContext, pool: WorkerPool | None) -> int:
        """Run the search's trials; return how many this process's workers started."""

    @abstractmethod
    def outcome(self, ctx: SearchContext) -> EngineResult:
        """Every finished trial and the best, as recorded."""
