"""An Optuna study as the shared record of a search: created once, joined by workers.

The create step records in the study everything a worker needs (the settings, the
space's YAML, the data's fingerprint, where the parent run is), so a worker needs
nothing but the study's name and storage. :func:`collect` reads the trials back.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from dataclasses import dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna

from tuner.config import SearchConfig
from tuner.distribution import NAMES
from tuner.engines.optuna_factories import PRUNERS, SAMPLERS
from tuner.engines.registry import WORKER_ATTR, worker_gone, workers_seen
from tuner.engines.retrying_storage import RetryingRDBStorage
from tuner.engines.storage import JOURNAL_SUFFIXES
from tuner.errors import TunerError, first_line
from tuner.records import EngineResult, TrialRecord
from tuner.redact import redact, scrub
from tuner.space import SearchSpace, parse_space
from tuner.tracking import COMPLETE, FAILED, PRUNED, RunTarget, close_run, close_trial_runs, open_runs_of

STATE_NAMES = {
    optuna.trial.TrialState.COMPLETE: COMPLETE,
    optuna.trial.TrialState.PRUNED: PRUNED,
    optuna.trial.TrialState.FAIL: FAILED,
}
# The progress display tells the story; a failed trial keeps its reason and traceback in MLflow.
optuna.logging.set_verbosity(optuna.logging.ERROR)

PARENT_RUN_ATTR = "mlflow_parent_run_id"
RUN_ATTR = "mlflow_run_id"  # a trial's own MLflow run
REASON_ATTR = "fail_reason"
BEST_EPOCH_ATTR = "best_epoch"
TIMING_ATTR = "timing"
CONFIG_ATTR = "tuner.config"
SPACE_ATTR = "tuner.space"
TRACKING_ATTR = "tuner.tracking"  # tracking URI and experiment id of the parent run
FINGERPRINT_ATTR = "tuner.data_fingerprint"
VERSIONS_ATTR = "tuner.versions"  # a worker with other versions is refused
HOST_ATTR = "tuner.storage_host"  # a local-file storage's machine: no worker elsewhere
RESULT_ATTR = "tuner.result"  # what the finish step returned, for a second `study finish`
REQUEUED_ATTR = "tuner.requeued_from"  # a lost or interrupted trial's parameters, queued again
RETRIES_ATTR = "tuner.retries"  # how often these parameters were queued again
MAX_RETRIES = 3  # a trial whose worker died is retried this many times
STALE_REASON = "its worker stopped sending heartbeats (killed, preempted or cut off); retried"
LOST_REASON = "ended without a result: its worker died or was cut off"
# Settings a resumed search may change: they do not change what a trial is.
RESUMABLE = ("storage", "study", "resume", "n_jobs", "timeout", "tracking_uri", "show_progress")
RESUMABLE += ("trials", "max_failures", "recheck", "recheck_folds", "engine")
RESUMABLE += ("space", "data")  # compared by the space's text and the data's fingerprint
VERSIONED = {
    "tuner": NAMES,  # the distribution, under its name or the one before the rename
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"),
    "keras": ("keras",),
}


def default_storage_url(store_dir: Path) -> str:
    """A journal file inside ``mlruns/``: safe for several local processes at once."""
    return str(store_dir / "optuna.journal")


def local_file_of(url: str) -> str | None:
    """The file behind a journal or SQLite storage; None for a database server."""
    if "://" not in url:
        return str(Path(url).resolve())
    if url.startswith("sqlite:///"):
        return str(Path(url.removeprefix("sqlite:///")).resolve())
    return None


def open_storage(url: str, heartbeat: tuple[int, int] | None = None) -> optuna.storages.BaseStorage:
    """A journal file (path ending .journal/.log) or any RDB URL (sqlite, postgresql, mysql).

    With ``heartbeat`` (interval, grace period in seconds), an RDB storage fails a
    trial whose worker stopped beating and re-queues it with the same parameters
    (:func:`retry_stale_trial`).
    """
    if url.endswith(JOURNAL_SUFFIXES) and "://" not in url:
        path = Path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    beat: dict[str, Any] = {}
    if heartbeat is not None:
        interval, grace = heartbeat
        beat = {"heartbeat_interval": interval, "grace_period": grace}
        beat["heartbeat_stale_trial_callback"] = retry_stale_trial
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat arguments
            return RetryingRDBStorage(url, **beat)
    except Exception as exc:  # noqa: BLE001 - a bad URL or unreachable database is the user's to fix
        first = scrub(first_line(exc), url)
        raise TunerError(
            f"cannot open Optuna storage {redact(url)!r}: {first}. Give an RDB URL "
            f"(sqlite:///file.db, postgresql://user@host/db) or a path ending in .journal"
        ) from None


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
    recorded = study.user_attrs.get(TRACKING_ATTR)
    if not recorded:
        return
    uri = os.environ.get("MLFLOW_TRACKING_URI") or recorded[0]
    try:
        close_trial_runs(uri, recorded[1], study.study_name, trial, reason)
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
    storage = study._storage  # noqa: SLF001 - Optuna's public API changes a trial only in its own process
    try:
        storage.set_trial_user_attr(trial._trial_id, REASON_ATTR, reason)  # noqa: SLF001
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # noqa: SLF001
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
    records = {w["id"]: w for w in workers_seen(study)}
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
    its process is; elsewhere, when its record in the study stopped beating.
    """
    records = {w["id"]: w for w in workers_seen(study)}
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR)
        why = worker and worker_gone(worker, records.get(worker))
        if why and fail_lost_trial(study, trial, f"worker {worker} {why}") is not None:
            failed.append(trial.number)
    return failed


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and re-queue) the running trials whose worker stopped beating; no-op without heartbeat."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def check_study_name(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    config: SearchConfig,
    space: SearchSpace,
    direction: str,
    fingerprint: str,
) -> None:
    """Refuse, before anything is written: a new study whose name is taken, a missing one to
    resume, or a resume with another metric, space, data or settings (never silently mixed)."""
    exists = study_name in optuna.get_all_study_names(storage)
    if exists and not config.resume:
        raise TunerError(
            f"a study named {study_name!r} already exists in this storage; add --resume to add "
            f"trials to it, or pick another --study name"
        )
    if not config.resume:
        return
    if not exists:
        raise TunerError(
            f"no study named {study_name!r} to resume in this storage; drop --resume to start it"
        )
    study = optuna.load_study(study_name=study_name, storage=storage)
    if study.direction.name.lower() != direction:
        raise TunerError(
            f"study {study_name!r} was created to {study.direction.name.lower()} its metric; "
            f"resume it with the same --metric"
        )
    check_resumable(study, config, space, fingerprint)


def differences(
    study: optuna.Study, config: SearchConfig, space: SearchSpace, fingerprint: str, ignore: tuple[str, ...]
) -> list[str]:
    """How ``config``, ``space`` and the data differ from what ``study`` recorded, one phrase each."""
    attrs = study.user_attrs
    recorded, given = attrs.get(CONFIG_ATTR, {}), recorded_settings(config)
    found = [
        f"{key} {recorded.get(key)!r} (study) vs {given.get(key)!r} (given)"
        for key in sorted(set(recorded) | set(given))
        if key not in ignore and recorded.get(key) != given.get(key)
    ]
    if attrs.get(SPACE_ATTR, {}).get("text") != space.text:
        found.append(f"the space ({attrs.get(SPACE_ATTR, {}).get('name')!r} in the study)")
    if attrs.get(FINGERPRINT_ATTR) != fingerprint:
        found.append(
            f"the data (fingerprint {attrs.get(FINGERPRINT_ATTR)} in the study, {fingerprint} given)"
        )
    return found


def check_resumable(study: optuna.Study, config: SearchConfig, space: SearchSpace, fingerprint: str) -> None:
    """Let a process join a running or resumed study only with the same space, data and settings.

    Two processes on one study (``--resume`` twice, or a search beside workers)
    share its sampler's history: mixing spaces, data or metrics would corrupt it.
    """
    if CONFIG_ATTR not in study.user_attrs:
        raise TunerError(f"study {study.study_name!r} was not created by tuner: it records no settings")
    found = differences(study, config, space, fingerprint, RESUMABLE)
    if found:
        raise TunerError(
            f"study {study.study_name!r} was created with other settings: {'; '.join(found)}. "
            f"Resume it with the same ones, or start another --study"
        )


def study_versions() -> dict[str, str]:
    """The versions a worker must share with the study: a trial's outcome depends on them."""
    versions = {}
    for lib, dists in VERSIONED.items():
        for dist in dists:
            try:
                versions[lib] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def recorded_settings(config: SearchConfig) -> dict[str, Any]:
    """The settings as the study records them: no storage URL (each worker has its own)."""
    return {
        **config.to_dict(),
        "storage": None,
        "show_progress": False,
        "tracking_uri": redact(config.tracking_uri),
    }


def record_for_workers(
    study: optuna.Study,
    config: SearchConfig,
    space: SearchSpace,
    fingerprint: str,
    search_run: RunTarget,
    storage_url: str,
) -> None:
    """Write into the study what a worker needs besides its name and storage (never a password)."""
    study.set_user_attr(CONFIG_ATTR, recorded_settings(config))
    study.set_user_attr(SPACE_ATTR, {"name": space.name, "text": space.text})
    study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
    study.set_user_attr(TRACKING_ATTR, [redact(search_run.tracking_uri), search_run.experiment_id])
    study.set_user_attr(PARENT_RUN_ATTR, search_run.search_run_id)
    study.set_user_attr(VERSIONS_ATTR, study_versions())
    if local_file_of(storage_url):
        study.set_user_attr(HOST_ATTR, socket.gethostname())


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker reads back from the study."""

    config: SearchConfig
    space: SearchSpace
    fingerprint: str
    search_run: RunTarget


def read_worker_setup(study: optuna.Study, tracking_uri: str | None = None) -> WorkerSetup:
    """The study's settings; trials log to ``tracking_uri`` if given, else where the study says."""
    attrs = study.user_attrs
    if CONFIG_ATTR not in attrs:
        raise TunerError(f"study {study.study_name!r} was not created by tuner: it records no settings")
    known = {f.name for f in fields(SearchConfig)}
    config = SearchConfig(**{k: v for k, v in attrs[CONFIG_ATTR].items() if k in known})
    space = parse_space(attrs[SPACE_ATTR]["text"], Path(f"{attrs[SPACE_ATTR]['name']}.yaml"))
    uri, experiment_id = attrs[TRACKING_ATTR]
    uri = tracking_uri or uri
    config.tracking_uri = uri
    run_id = attrs[PARENT_RUN_ATTR]
    search_run = RunTarget(uri, experiment_id, run_id, "", "search", run_id)
    return WorkerSetup(config, space, attrs[FINGERPRINT_ATTR], search_run)


def check_worker_fits(study: optuna.Study, storage_url: str) -> None:
    """Refuse a worker whose libraries differ from the study's, or that cannot share its storage."""
    recorded = study.user_attrs.get(VERSIONS_ATTR, {})
    mine = study_versions()
    for lib, version in recorded.items():
        if mine.get(lib) != version:
            raise TunerError(
                f"this worker runs {lib} {mine.get(lib, '(not installed)')}, study {study.study_name!r} "
                f"was created with {lib} {version}: install {lib}=={version} on this machine (one "
                f"environment, one image, for every worker of a study)"
            )
    host, here = study.user_attrs.get(HOST_ATTR), socket.gethostname()
    if host and host != here:
        raise TunerError(
            f"study {study.study_name!r} is stored in a local file ({local_file_of(storage_url)}) "
            f"created on host {host}, and this is {here}: SQLite and journal files cannot be shared "
            f"between machines; create the study on a database server (--storage postgresql://...)"
        )


def load_study(
    study_name: str, storage_url: str, sampler_seed: int | None = None, *, heartbeat: bool = True
) -> optuna.Study:
    """Join ``study_name`` with the sampler, pruner and heartbeat its recorded settings name."""
    storage = open_storage(storage_url)
    if study_name not in optuna.get_all_study_names(storage):
        raise TunerError(
            f"no study named {study_name!r} in {redact(storage_url)}; `tuner study list` shows those there"
        )
    settings: dict[str, Any] = optuna.load_study(study_name=study_name, storage=storage).user_attrs.get(
        CONFIG_ATTR, {}
    )
    if heartbeat and isinstance(storage, optuna.storages.RDBStorage):
        beat = (settings.get("heartbeat_interval", 60), settings.get("grace_period", 180))
        storage = open_storage(storage_url, beat)
    study = optuna.load_study(study_name=study_name, storage=storage)
    seed = settings.get("seed", 0) if sampler_seed is None else sampler_seed
    study.sampler = SAMPLERS[settings.get("sampler", "tpe")](seed)
    study.pruner = PRUNERS[settings.get("pruner", "hyperband")](settings.get("epochs", 100))
    return study


def _record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    duration = trial.duration.total_seconds() if trial.duration else None
    return TrialRecord(
        number=trial.number,
        state=STATE_NAMES.get(trial.state, trial.state.name.lower()),
        value=trial.value,
        params=dict(trial.params),
        run_id=trial.user_attrs.get(RUN_ATTR),
        duration_s=duration,
        reason=trial.user_attrs.get(REASON_ATTR)
        or (LOST_REASON if trial.state == optuna.trial.TrialState.FAIL else ""),
        best_epoch=trial.user_attrs.get(BEST_EPOCH_ATTR),
        timing=trial.user_attrs.get(TIMING_ATTR, {}),
        intermediate=dict(trial.intermediate_values),
    )


def best_value(study: optuna.Study) -> float | None:
    try:
        return study.best_value
    except ValueError:  # no complete trial yet
        return None


def collect(study: optuna.Study) -> EngineResult:
    """Every finished trial of ``study`` and the best one; an error if none completed."""
    finished = [_record(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if not any(t.state == COMPLETE for t in finished):
        failed = [t for t in finished if t.state == FAILED]
        why = f"; first error: {failed[0].reason}" if failed and failed[0].reason else ""
        raise TunerError(f"no trial of study {study.study_name!r} completed ({len(finished)} ended){why}")
    return EngineResult(trials=finished, best=_record(study.best_trial), study=study.study_name)
