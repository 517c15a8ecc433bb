"""A worker: one process that joins a study by name and runs its trials.

Everything but the study's name and storage comes from the study's record
(:mod:`tuner.engines.optuna.record`), so the same function runs in a search's pool
and in a cluster job's ``tuner worker`` on any machine. Each trial fits the trial
unit on the train split, reports the validation metric every epoch to the pruner,
and returns the validation score. A trial that fails for reasons of its own is
recorded as failed and the study goes on; a bug of ours or a lost store stops it.
The same warm processes run the finish step's fits (:func:`recheck_task`, :func:`refit_task`).
"""

from __future__ import annotations

import gc
import os
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import optuna

from tuner import interrupts
from tuner.engines.optuna.heartbeats import WorkerBeacon
from tuner.engines.optuna.lost import fail_stale_trials, fail_trials_of_gone_workers, requeue
from tuner.engines.optuna.record import (
    BEST_EPOCH_ATTR,
    REASON_ATTR,
    RUN_ATTR,
    TIMING_ATTR,
    StudyRecord,
)
from tuner.engines.optuna.retrying import StorageUnavailable
from tuner.engines.optuna.study import best_value, check_worker_fits, load_study
from tuner.errors import TunerError, first_line
from tuner.interrupts import failure_reason, stop_requested
from tuner.processes.pool import claim_warm_up, take_ticket
from tuner.processes.worker_id import worker_id
from tuner.redact import redact, scrub
from tuner.search.context import Inputs, SearchContext, build_context, load_inputs
from tuner.search.finish import Candidate, FinalModel, recheck_fold, refit_and_log
from tuner.search.progress import SearchProgress
from tuner.shipping.mlflow_model import warm_up_logging
from tuner.tracking.failures import TrackingUnavailable, is_our_bug, is_unreachable
from tuner.tracking.reachability import check_reachable
from tuner.tracking.runs import WORKER_ATTR, RunTarget
from tuner.tracking.store import client_for

DATA_ENV = "TUNER_DATA"  # this machine's copy of the study's data
WAIT_FOR_RUNNING_SECONDS = 1.0  # a worker waiting on the last running trials polls this often


@dataclass(frozen=True)
class WorkerTask:
    """What one worker process needs: the study, where to log, and its budget."""

    study: str
    storage: str
    deadline: float | None  # wall-clock time (time.time()) after which no trial starts
    sampler_seed: int
    tracking_uri: str | None = None  # None: the study's
    total: int | None = None  # the study's budget of finished trials (a cluster study's --trials)
    network: Any = None  # the search's ModelRef (a local pool's); None: the study's, from this machine's copy


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker reads back from the study."""

    config: Any  # SearchConfig
    space: Any  # SearchSpace
    fingerprint: str
    search_run: RunTarget


def _budget_allows(task: WorkerTask) -> bool:
    """This worker's own budget: stop request, deadline, the pool's tickets."""
    if stop_requested() or (task.deadline is not None and time.time() >= task.deadline):
        return False
    return take_ticket()


def _study_wants_more(task: WorkerTask, study: optuna.Study) -> bool:
    """Whether the study's ``total`` leaves room for one more trial, waiting while it is unclear.

    Finished means complete or pruned. While the trials still running would reach the
    total, wait: one may fail (its worker dies) and come back to the queue.
    """
    if task.total is None:
        return True
    while True:
        fail_stale_trials(study)  # a dead worker's trial goes back to the queue (RDB heartbeat)
        fail_trials_of_gone_workers(study)  # the same, for any storage (the study's heartbeats)
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        finished = counts[optuna.trial.TrialState.COMPLETE] + counts[optuna.trial.TrialState.PRUNED]
        if finished >= task.total:
            return False
        if finished + counts[optuna.trial.TrialState.RUNNING] < task.total:
            return True
        if stop_requested() or (task.deadline is not None and time.time() >= task.deadline):
            return False
        time.sleep(WAIT_FOR_RUNNING_SECONDS)


def load_setup(
    study: optuna.Study,
    storage_url: str,
    tracking_uri: str | None = None,
    data: str | None = None,
    network: Any = None,
) -> tuple[WorkerSetup, Inputs]:
    """What the study records, with this machine's data, checked: versions, storage, fingerprint.

    ``data`` (else ``$TUNER_DATA``) is where this machine keeps the study's data, when it is
    mounted elsewhere than where the study was created.
    """
    check_worker_fits(study, storage_url)
    record = StudyRecord.read(study)
    config = record.config(tracking_uri)
    config.data = data or os.environ.get(DATA_ENV) or config.data
    setup = WorkerSetup(config, record.space(), record.fingerprint, record.search_run(tracking_uri))
    check_reachable(setup.search_run.tracking_uri)
    inputs = load_inputs(setup.config, setup.space, record.model_sha256, network)
    if inputs.dataset.fingerprint != setup.fingerprint:
        raise TunerError(
            f"the data {setup.config.data!r} on this machine differs from the study's "
            f"(fingerprint {inputs.dataset.fingerprint}, study {setup.fingerprint}); give workers the same file"
        )
    return setup, inputs


def join(
    study_name: str,
    storage_url: str,
    sampler_seed: int | None = None,
    tracking_uri: str | None = None,
    network: Any = None,
) -> tuple[Any, SearchContext]:
    """The study and this process's context, from nothing but the study's name and storage."""
    study = load_study(study_name, storage_url, sampler_seed)
    setup, inputs = load_setup(study, storage_url, tracking_uri, network=network)
    progress = SearchProgress("trials", None, "", enabled=False)
    return study, build_context(setup.config, setup.search_run, progress, inputs)


def work(task: WorkerTask) -> int:
    """Worker entry point: join the study and run trials while the budgets allow; return how many."""
    with interrupts.handle_signals(raise_at_once=False):  # stop at the next batch, not anywhere
        study, ctx = join(task.study, task.storage, task.sampler_seed, task.tracking_uri, task.network)
        _contexts[(task.study, task.storage, task.tracking_uri)] = ctx  # the finish's, if it runs here
        settle(ctx)
        started = 0
        with WorkerBeacon(study, ctx.config.heartbeat_interval) as beacon:
            while _study_wants_more(task, study) and _budget_allows(task):
                beacon.trial_started()
                optimize(ctx, study, 1, None)
                started += 1
        # Out of trials: the finish may come next, and the first worker to run out refits and logs
        # the model; it has a core to itself while the others train their last trials.
        if claim_warm_up():
            threading.Thread(target=warm_up_logging, name="warm-up-logging").start()
        return started


def settle(ctx: SearchContext) -> None:
    """Freeze what the worker's set-up made (the study, the data, the MLflow store's modules) out of
    the garbage collector's sight: it lives as long as the process. Every fit starts with a full
    collection (:func:`tuner.trial.estimator.release_memory`), which would otherwise scan these
    long-lived objects at every fit, for nothing."""
    client_for(ctx.search_run.tracking_uri)  # imports the store's modules now, not in the first trial
    gc.collect()
    gc.freeze()


def optimize(ctx: SearchContext, study: optuna.Study, n_trials: int | None, timeout: float | None) -> None:
    """Run ``n_trials`` more trials (and/or until ``timeout`` seconds) of ``study`` in this process."""
    from tuner.trial.estimator import estimator_params, make_estimator

    common = ctx.estimator_kwargs()
    ds = ctx.dataset

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker_id())  # first: a dead worker's trials are found by it
        values = ctx.space.suggest(trial)
        tags = {
            "optuna.study": study.study_name,
            "optuna.trial": str(trial.number),
        }
        estimator = make_estimator(
            **common,
            **estimator_params(values),
            random_state=ctx.config.seed + trial.number,
            run_target=ctx.trial_target(f"trial-{trial.number}", **tags),
            pruning_trial=trial,
        )
        try:
            estimator.fit(ctx.X_train, ds.y_train, validation_data=(ctx.X_valid, ds.y_valid))
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt as exc:  # preempted: the same parameters wait for the next worker
            trial.set_user_attr(REASON_ATTR, failure_reason(exc))
            requeue(study, trial)
            raise
        except Exception as exc:
            outcome = _outcome_of(exc, trial, study, ctx.search_run.tracking_uri)
            if outcome is exc:
                raise
            raise outcome from (exc if isinstance(outcome, _TrialError) else None)
        finally:
            if getattr(estimator, "run_id_", None):
                trial.set_user_attr(RUN_ATTR, estimator.run_id_)
            if hasattr(estimator, "timing_"):
                trial.set_user_attr(TIMING_ATTR, estimator.timing_)
        trial.set_user_attr(BEST_EPOCH_ATTR, estimator.best_epoch_)
        return estimator.val_score_

    before = len(study.trials)

    def on_trial_end(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        ctx.progress.update(len(study.trials) - before, best_value(study))
        if stop_requested():
            study.stop()  # no new trial after Ctrl-C or SIGTERM

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        study.optimize(
            objective,
            n_trials=n_trials,
            timeout=timeout,
            catch=(_TrialError,),  # the trial's own failure; a bug of ours or a lost store stops
            callbacks=[on_trial_end],
            gc_after_trial=False,  # the trial unit already collects
        )


class _TrialError(Exception):
    """A trial that failed for reasons of its own (its settings, memory): the study goes on."""


def _outcome_of(exc: Exception, trial: optuna.Trial, study: optuna.Study, tracking_uri: str) -> Exception:
    """What a trial's exception becomes: the trial's own failure (recorded, the study goes on),
    or, raised on, a bug of ours (with its traceback) or a lost store (``--resume`` goes on)."""
    if isinstance(exc, StorageUnavailable):
        return exc  # the study cannot record anything now
    trial.set_user_attr(REASON_ATTR, scrub(failure_reason(exc), tracking_uri)[:1000])
    if is_unreachable(exc):  # not the trial's fault: it waits for the --resume
        requeue(study, trial)
        return TrackingUnavailable(
            f"lost the MLflow tracking store {redact(tracking_uri)} mid-search "
            f"({scrub(first_line(exc), tracking_uri)}); finished trials are kept in study "
            f"{study.study_name!r}: when the store is back, run the same command with "
            f"--study {study.study_name} --resume"
        )
    if is_our_bug(exc):
        return exc  # Optuna fails the trial and re-raises it: the search stops
    return _TrialError(str(exc))


# This worker's context by (study, storage, tracking URI): its trials' and its finish tasks'.
_contexts: dict[tuple[str, str, str | None], SearchContext] = {}


def _finish_context(study_name: str, storage_url: str, tracking_uri: str | None) -> SearchContext:
    """The context the finish tasks share: the one this worker's trials used, else joined once.

    Joining again would read and preprocess the data a second time beside what TensorFlow
    kept from the trials: at 1M rows that was a worker's peak memory. A pool's workers
    live for one search, so the study cannot change under the cache.
    """
    key = (study_name, storage_url, tracking_uri)
    if key not in _contexts:
        _contexts[key] = join(study_name, storage_url, tracking_uri=tracking_uri)[1]
    return _contexts[key]


def recheck_task(
    study_name: str, storage_url: str, tracking_uri: str | None, candidate: Candidate, fold: int
) -> float:
    """Worker entry point: one re-check fold of one candidate (see :mod:`tuner.search.finish`)."""
    with interrupts.handle_signals(raise_at_once=False):
        return recheck_fold(_finish_context(study_name, storage_url, tracking_uri), candidate, fold)


def refit_task(
    study_name: str, storage_url: str, tracking_uri: str | None, chosen: Candidate, checked: list[Candidate]
) -> FinalModel:
    """Worker entry point: refit, test and log the chosen candidate (see :mod:`tuner.search.finish`)."""
    with interrupts.handle_signals(raise_at_once=False):
        return refit_and_log(_finish_context(study_name, storage_url, tracking_uri), chosen, checked)
