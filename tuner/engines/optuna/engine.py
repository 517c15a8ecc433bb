"""The Optuna engine: a (possibly shared, persistent) study; one trial unit per trial.

Its trials run in a pool of warm worker processes (:mod:`tuner.engines.optuna.worker`),
each joining the study by name, so a search on one machine and a cluster job's
workers run the same code. The study is created (or, resuming, joined) beside the
search's parent run, with what a worker needs recorded in it
(:mod:`tuner.engines.optuna.record`); the finish step's fits run in the same warm workers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna

from tuner.config import SearchConfig
from tuner.engines.base import Engine
from tuner.engines.optuna.lost import close_orphaned_runs
from tuner.engines.optuna.record import StudyRecord
from tuner.engines.optuna.storage import check_storage, default_storage_url, get_storage, local_file_of
from tuner.engines.optuna.study import STATE_NAMES, check_study_name, collect, load_study, sampler_seed
from tuner.engines.optuna.supervisor import ProgressReport, run_in_workers
from tuner.engines.optuna.worker import recheck_task, refit_task
from tuner.errors import TunerError
from tuner.processes.gpus import usable_cores
from tuner.processes.pool import WorkerPool
from tuner.redact import redact
from tuner.search.context import Inputs, SearchContext
from tuner.search.finish import Candidate, FinalModel
from tuner.search.outcomes import EngineResult
from tuner.search.parent_run import timestamp
from tuner.tracking.runs import RunTarget, reopen_run
from tuner.tracking.store import DEFAULT_STORE


class OptunaEngine(Engine):
    """``total``, ``seed`` and ``report``: a cluster worker's study total, sampler seed and
    per-trial lines (a search's are its own trials, its seed and its progress display);
    ``storage``: the study's storage, when the caller opened it already."""

    def __init__(
        self,
        config: SearchConfig,
        *,
        total: int | None = None,
        seed: int | None = None,
        report: ProgressReport | None = None,
        storage: optuna.storages.BaseStorage | None = None,
    ):
        super().__init__(config)
        self.study_name = config.study
        self._storage_url = config.storage
        self._store_dir = DEFAULT_STORE.resolve()
        self.pool_size = config.n_jobs or usable_cores()
        self.study_total, self.seed, self.report = total, seed, report
        self._storage = storage

    @property
    def storage_url(self) -> str:
        """``--storage``, else the study's own journal in ``mlruns/optuna/`` (once it is named)."""
        if self._storage_url is None:
            assert self.study_name is not None, "a study's default storage is known once it is named"
            self._storage_url = default_storage_url(self._store_dir, self.study_name)
        return self._storage_url

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        """The study's storage, opened once per process."""
        if self._storage is None:
            self._storage = get_storage(self.storage_url)
        return self._storage

    def settings(self) -> dict[str, str | None]:
        return {
            "sampler": self.config.sampler,
            "pruner": self.config.pruner,
            "storage": redact(self.storage_url),
            "study": self.study_name,
        }

    def check(self, load: Callable[[], Inputs]) -> Inputs:
        """The storage opens (before the data is read), and the study name is free (or,
        resuming, the study matches the space, data and settings)."""
        if self.config.storage:
            check_storage(self.config.storage)  # a wrong URL, host or password fails first
        missing = (
            self.study_name is not None
            and local_file_of(self.storage_url)
            and not Path(self.storage_url.removeprefix("sqlite:///")).exists()
        )
        if self.study_name and missing and self.config.resume:  # refused without creating the file
            raise TunerError(
                f"no study named {self.study_name!r} to resume in {redact(self.storage_url)} "
                f"(no such file); drop --resume to start it"
            )
        inputs = load()
        if self.study_name is not None and not missing:
            recorded = replace(self.config, metric=inputs.metric.name)  # a worker's default could differ
            space, direction, fingerprint = inputs.space, inputs.metric.direction, inputs.dataset.fingerprint
            sha = inputs.network.sha256
            check_study_name(self.storage, self.study_name, recorded, space, direction, fingerprint, sha)
        return inputs

    def join(self, experiment: RunTarget, inputs: Inputs) -> str | None:
        """Resuming: the study's parent run, reopened, with the runs its dead processes left
        open closed. Otherwise the new study (its record follows the parent run)."""
        self.study_name = self.study_name or f"{experiment.run_name}-{timestamp()}"
        if not self.config.resume:
            optuna.create_study(
                storage=self.storage, study_name=self.study_name, direction=inputs.metric.direction
            )
            return None
        study = load_study(self.study_name, self.storage, heartbeat=False)
        parent = StudyRecord.read(study).parent_run_id
        close_orphaned_runs(study, experiment.tracking_uri, parent)
        reopen_run(experiment.tracking_uri, parent)
        return parent

    def run_name(self, experiment: RunTarget) -> str:
        return self.study_name or ""

    def record(self, search_run: RunTarget, inputs: Inputs) -> None:
        study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        recorded = replace(self.config, metric=inputs.metric.name)
        local = bool(local_file_of(self.storage_url))
        sha = inputs.network.sha256
        StudyRecord.new(recorded, inputs.space, inputs.dataset.fingerprint, search_run, local, sha).write(
            study
        )

    def run(self, ctx: SearchContext, pool: WorkerPool | None) -> int:
        assert pool is not None and self.study_name is not None, (
            "the steps give a pool; join() names the study"
        )

        def progress(new: list[Any], best: float | None) -> None:
            ctx.progress.update(len(new), best, Counter(STATE_NAMES.get(t.state) for t in new))

        study = load_study(self.study_name, self.storage, heartbeat=False)
        return run_in_workers(
            pool,
            study,
            self.storage_url,
            trials=self.config.trials,
            timeout=self.config.timeout,
            seed=sampler_seed(self.config.seed, study) if self.seed is None else self.seed,
            tracking_uri=ctx.search_run.tracking_uri,
            network=ctx.network,
            total=self.study_total,
            max_failures=self.config.max_failures,
            report=self.report or progress,
        )

    def outcome(self, ctx: SearchContext) -> EngineResult:
        assert self.study_name is not None
        result = collect(load_study(self.study_name, self.storage, heartbeat=False))
        result.storage = redact(self.storage_url)
        return result

    def fits(self, ctx: SearchContext, pool: WorkerPool | None) -> PoolFits:
        assert pool is not None and self.study_name is not None
        return PoolFits(pool, (self.study_name, self.storage_url, ctx.search_run.tracking_uri))


class PoolFits:
    """The finish step's fits in the warm workers: the re-check folds side by side."""

    def __init__(self, pool: WorkerPool, study: tuple[str, str, str]):
        self.pool, self.study = pool, study

    def recheck(self, tasks: list[tuple[Candidate, int]]) -> list[tuple[float, float]]:
        # One candidate's folds in one worker, the validation leader's in the one that refits:
        # they reuse the candidate's traced model (tuner.trial.model_reuse).
        return self.pool.run_all(recheck_task, [(*self.study, c, k) for c, k in tasks], lanes=True)

    def refit(self, chosen: Candidate, checked: list[Candidate]) -> FinalModel:
        return self.pool.run_all(refit_task, [(*self.study, chosen, checked)], warm_first=True)[0]
