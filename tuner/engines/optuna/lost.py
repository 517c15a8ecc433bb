"""Lost trials: a running trial whose worker is gone is failed with why and queued again.

One rule for every storage. Which worker is gone is told by its process on this
host, by the study's heartbeats elsewhere (any storage, the journal file
included; :mod:`tuner.engines.optuna.heartbeats`), and by Optuna's own
heartbeat on RDB storages (:func:`retry_stale_trial`). A trial no worker claimed
(its creator lost the storage between creating it and naming itself on it) is lost
once the storage retry budget has passed since it started: by then its creator has
named itself or given up. A trial whose parameters kill worker after worker (the
out-of-memory killer) is retried at most ``MAX_RETRIES`` times.
"""

from __future__ import annotations

import os
import sys
import warnings
from datetime import datetime, timedelta

import optuna

from tuner._compat.optuna import fail_trial
from tuner.engines.optuna.heartbeats import worker_gone, workers_seen
from tuner.engines.optuna.record import REASON_ATTR, REQUEUED_ATTR, RETRIES_ATTR, StudyRecord, is_tuners
from tuner.engines.optuna.retrying import retry_budget
from tuner.errors import first_line
from tuner.redact import scrub
from tuner.tracking.runs import FAILED, MLFLOW_RUNNING, WORKER_ATTR, close_run, open_runs_of
from tuner.tracking.store import client_for

MAX_RETRIES = 3  # a trial whose worker died is retried this many times
STALE_REASON = "its worker stopped sending heartbeats (killed, preempted or cut off); retried"
LOST_REASON = "ended without a result: its worker died or was cut off"
UNCLAIMED_REASON = "no worker claimed it: its worker lost the storage as it started the trial"


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial | optuna.Trial) -> bool:
    """Queue ``trial``'s parameters again, up to :data:`MAX_RETRIES` times; False once past that.

    The cap keeps parameters that kill their worker (the kernel's out-of-memory
    killer, say) from killing worker after worker.
    """
    retries = trial.user_attrs.get(RETRIES_ATTR, 0)
    if retries >= MAX_RETRIES or not trial.params:
        return False
    study.enqueue_trial(trial.params, user_attrs={REQUEUED_ATTR: trial.number, RETRIES_ATTR: retries + 1})
    return True


def _close_runs_of(study: optuna.Study, trial: int, reason: str) -> None:
    """Close the MLflow runs a lost trial left open; warn, never stop, if the store is away."""
    if not is_tuners(study.user_attrs):
        return
    record = StudyRecord.read(study)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or record.tracking_uri
    try:
        close_trial_runs(uri, record.experiment_id, study.study_name, trial, reason)
    except Exception as exc:  # noqa: BLE001 - the retry is queued; an unreachable store must not stop the worker
        print(
            f"warning: could not close the MLflow run of trial {trial}: {scrub(first_line(exc), uri)}",
            file=sys.stderr,
        )


def retry_stale_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """A trial whose worker stopped beating (Optuna failed it): re-queue it, close its run.

    Optuna calls this in whichever live worker notices first, as it starts a trial.
    """
    requeue(study, trial)
    _close_runs_of(study, trial.number, STALE_REASON)


def fail_lost_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> bool | None:
    """A running trial whose worker is gone: failed with ``reason``, its run closed, re-queued.

    The one rule for every storage. Returns whether its parameters were queued
    again, or None when it had ended (or another process failed it first).
    """
    try:
        fail_trial(study, trial, {REASON_ATTR: reason})
    except optuna.exceptions.UpdateFinishedTrialError:
        return None  # it ended, or another process noticed first
    queued = requeue(study, trial)
    _close_runs_of(study, trial.number, reason)
    return queued


def close_orphaned_runs(study: optuna.Study, tracking_uri: str, search_run_id: str) -> list[str]:
    """Close the runs a resumed search's earlier processes left open, and only those.

    A trial's run whose trial has ended (failed while the tracking store was away,
    say), and a finish-step run whose worker is gone.
    """
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    records = {w["id"]: w for w in workers_seen(study.user_attrs)}
    closed = []
    for run in open_runs_of(tracking_uri, search_run_id):
        tags = run.data.tags
        trial = trials.get(int(tags["optuna.trial"])) if tags.get("optuna.trial", "").isdigit() else None
        worker = tags.get(WORKER_ATTR)
        if trial is not None and trial.state.is_finished():
            reason = trial.user_attrs.get(REASON_ATTR) or LOST_REASON
        elif trial is None and worker and worker_gone(worker, records.get(worker)):
            reason = f"worker {worker} {worker_gone(worker, records.get(worker))}"
        else:
            continue
        close_run(tracking_uri, run.info.run_id, FAILED, reason)
        closed.append(run.info.run_id)
    return closed


def fail_trials_of_gone_workers(study: optuna.Study) -> list[int]:
    """Fail and re-queue the running trials whose worker is gone; never a live worker's.

    For any storage, the journal file included: a worker on this host is gone when
    its process is; elsewhere, when its record in the study stopped beating. A trial
    no worker has claimed is gone once the storage retry budget has passed since it
    started (:func:`_unclaimed_too_long`).
    """
    records = {w["id"]: w for w in workers_seen(study.user_attrs)}
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR)
        if worker:
            why = worker_gone(worker, records.get(worker))
            reason = f"worker {worker} {why}" if why else None
        else:
            reason = UNCLAIMED_REASON if _unclaimed_too_long(trial) else None
        if reason and fail_lost_trial(study, trial, reason) is not None:
            failed.append(trial.number)
    return failed


def _unclaimed_too_long(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` started longer ago than a worker may spend retrying to claim it.

    A worker names itself on its trial first thing; only a storage outage delays that,
    and a worker gives up after the retry budget (the cluster's workers share it).
    ``datetime_start`` is the creator's clock: hosts are assumed in time (NTP).
    """
    started = trial.datetime_start
    return started is not None and datetime.now() - started > timedelta(seconds=retry_budget())


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and re-queue) the running trials whose worker stopped beating; no-op without heartbeat."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def close_trial_runs(tracking_uri: str, experiment_id: str, study: str, trial: int, reason: str) -> list[str]:
    """Close as failed the runs of Optuna trial ``trial`` still open: their process is gone."""
    client = client_for(tracking_uri)
    query = (
        f"tags.`optuna.study` = '{study}' and tags.`optuna.trial` = '{trial}' "
        f"and attributes.status = '{MLFLOW_RUNNING}'"
    )
    runs = client.search_runs([experiment_id], filter_string=query)
    for run in runs:
        close_run(tracking_uri, run.info.run_id, FAILED, reason)
    return [run.info.run_id for run in runs]
