"""The Optuna engine: a (possibly shared, persistent) study; one trial unit per trial.

A search is three steps, each of which a cluster job can run on its own:
**create** (:meth:`OptunaEngine.start`: the study and the parent run, with what a
worker needs recorded in the study), **work** (:func:`tuner.engines.workers.work`:
any number of processes that need only the study's name and storage, each running
:func:`tuner.engines.workers.optimize`), and **finish** (:func:`tuner.finish.finish`, the same for every
engine). Each trial fits on the train split, reports the validation metric every
epoch to the pruner, and returns the validation score. Trials that raise are
recorded as failed and the study goes on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna

from tuner.config import SearchConfig
from tuner.context import Inputs, SearchContext
from tuner.engines.base import Engine
from tuner.engines.study import (
    PARENT_RUN_ATTR,
    STATE_NAMES,
    check_study_name,
    close_orphaned_runs,
    collect,
    default_storage_url,
    load_study,
    local_file_of,
    open_storage,
    record_for_workers,
)
from tuner.engines.workers import WorkerPool, recheck_task, refit_task, run_in_workers, usable_cores
from tuner.errors import TunerError
from tuner.finish import FinalModel, candidates, choose
from tuner.records import EngineResult
from tuner.redact import redact
from tuner.search_run import children_of, open_search_run, timestamp
from tuner.tracking import DEFAULT_STORE, RunTarget, reopen_run


class OptunaEngine(Engine):
    def __init__(self, config: SearchConfig):
        super().__init__(config)
        self.storage_url = config.storage or default_storage_url(DEFAULT_STORE.resolve())
        self.study_name = config.study
        self.workers = config.n_jobs or usable_cores()
        self.pool: WorkerPool | None = None

    def __enter__(self) -> OptunaEngine:
        self.pool = WorkerPool(self.workers)  # workers import TensorFlow while the search sets up
        return self

    def __exit__(self, exc_type: type | None, *exc_info: Any) -> None:
        assert self.pool is not None
        if exc_type is not None:  # Ctrl-C, SIGTERM or an error: running trials record why
            self.pool.stop()
        self.pool.close()

    def settings(self) -> dict[str, str | None]:
        return {
            "sampler": self.config.sampler,
            "pruner": self.config.pruner,
            "storage": redact(self.storage_url),
            "study": self.study_name,
        }

    def check(self, inputs: Inputs) -> None:
        """The storage opens, and the study name is free (or, resuming, the study matches)."""
        if self.study_name is None:
            return  # a new study under a new name; validate() checked the storage
        if local_file_of(self.storage_url) and not Path(self.storage_url.removeprefix("sqlite:///")).exists():
            if self.config.resume:  # refused without creating the file
                raise TunerError(
                    f"no study named {self.study_name!r} to resume in {redact(self.storage_url)} "
                    f"(no such file); drop --resume to start it"
                )
            return
        recorded = replace(self.config, metric=inputs.metric.name)  # a worker's default could differ
        check_study_name(
            open_storage(self.storage_url),
            self.study_name,
            recorded,
            inputs.space,
            inputs.metric.direction,
            inputs.dataset.fingerprint,
        )

    def start(self, experiment: RunTarget, inputs: Inputs) -> RunTarget:
        """Create (or, resuming, load) the study and its parent run; record what workers need.

        Resuming, the study is joined as it is: what it records stays its creator's.
        """
        self.study_name = self.study_name or f"{experiment.run_name}-{timestamp()}"
        # Resuming: close the runs earlier processes left open (run_in_workers fails and
        # re-queues the trials their dead workers left running).
        if self.config.resume:
            study = load_study(self.study_name, self.storage_url, heartbeat=False)
            parent = study.user_attrs[PARENT_RUN_ATTR]
            close_orphaned_runs(study, experiment.tracking_uri, parent)
            reopen_run(experiment.tracking_uri, parent)
            return children_of(experiment, parent)
        study = optuna.create_study(
            storage=open_storage(self.storage_url),
            study_name=self.study_name,
            direction=inputs.metric.direction,
        )
        target = open_search_run(self.config, inputs, experiment, self.settings(), self.study_name)
        recorded = replace(self.config, metric=inputs.metric.name)
        record_for_workers(
            study, recorded, inputs.space, inputs.dataset.fingerprint, target, self.storage_url
        )
        return target

    def run(self, ctx: SearchContext) -> EngineResult:
        assert self.pool is not None and self.study_name is not None, "enter the engine, then start()"
        config = ctx.config

        def report(new: list[Any], best: float | None) -> None:
            ctx.progress.update(len(new), best, Counter(STATE_NAMES.get(t.state) for t in new))

        run_in_workers(
            self.pool,
            self.study_name,
            self.storage_url,
            trials=config.trials,
            timeout=config.timeout,
            seed=config.seed,
            tracking_uri=ctx.search_run.tracking_uri,
            max_failures=config.max_failures,
            report=report,
        )
        result = collect(load_study(self.study_name, self.storage_url, heartbeat=False))
        result.storage = redact(self.storage_url)
        return result

    def finish(self, ctx: SearchContext, outcome: EngineResult) -> FinalModel:
        """The shared finish step, run in the warm workers: the re-check folds in parallel."""
        assert self.pool is not None and self.study_name is not None
        checked = candidates(outcome, ctx.metric, ctx.config.recheck)
        study = (self.study_name, self.storage_url, ctx.search_run.tracking_uri)
        if len(checked) > 1:
            folds = range(ctx.config.recheck_folds)
            scores = iter(self.pool.run_all(recheck_task, [(*study, c, k) for c in checked for k in folds]))
            for candidate in checked:
                candidate.scores = [next(scores) for _ in folds]
        return self.pool.run_all(refit_task, [(*study, choose(ctx.metric, checked), checked)])[0]
