"""An Optuna study as the shared record of a search: joined, checked and read back.

:func:`load_study` joins a study with the sampler, pruner and heartbeat its record
names; :func:`check_study_name` and :func:`check_worker_fits` refuse, before anything
is written, a study that a search or a worker must not join; :func:`collect` reads
the trials back as :class:`~tuner.search.outcomes.TrialRecord`.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any

import optuna

from tuner.config import SearchConfig, resumable_settings
from tuner.engines.optuna.factories import PRUNERS, SAMPLERS
from tuner.engines.optuna.lost import LOST_REASON, retry_stale_trial
from tuner.engines.optuna.record import (
    BEST_EPOCH_ATTR,
    REASON_ATTR,
    RUN_ATTR,
    TIMING_ATTR,
    StudyRecord,
    settings_of,
    study_versions,
)
from tuner.engines.optuna.storage import get_storage, local_file_of
from tuner.errors import TunerError
from tuner.processes.worker_id import worker_id
from tuner.redact import redact
from tuner.search.outcomes import EngineResult, TrialRecord
from tuner.space import SearchSpace
from tuner.tracking.runs import COMPLETE, FAILED, PRUNED

STATE_NAMES = {
    optuna.trial.TrialState.COMPLETE: COMPLETE,
    optuna.trial.TrialState.PRUNED: PRUNED,
    optuna.trial.TrialState.FAIL: FAILED,
}
# The progress display tells the story; a failed trial keeps its reason and traceback in MLflow.
optuna.logging.set_verbosity(optuna.logging.ERROR)
Storage = str | optuna.storages.BaseStorage


def check_study_name(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    config: SearchConfig,
    space: SearchSpace,
    direction: str,
    fingerprint: str,
    model_sha256: str | None = None,
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
    check_resumable(study, config, space, fingerprint, model_sha256)


def check_resumable(
    study: optuna.Study,
    config: SearchConfig,
    space: SearchSpace,
    fingerprint: str,
    model_sha256: str | None = None,
) -> None:
    """Let a process join a running or resumed study only with the same space, data and settings.

    Two processes on one study (``--resume`` twice, or a search beside workers)
    share its sampler's history: mixing spaces, data or metrics would corrupt it.
    """
    found = StudyRecord.read(study).differences(
        config, space, fingerprint, resumable_settings(), model_sha256
    )
    if found:
        raise TunerError(
            f"study {study.study_name!r} was created with other settings: {'; '.join(found)}. "
            f"Resume it with the same ones, or start another --study"
        )


def check_worker_fits(study: optuna.Study, storage_url: str) -> None:
    """Refuse a worker whose libraries differ from the study's, or that cannot share its storage."""
    record = StudyRecord.read(study)
    recorded, mine = record.versions, study_versions()
    for lib, version in recorded.items():
        if mine.get(lib) != version:
            raise TunerError(
                f"this worker runs {lib} {mine.get(lib, '(not installed)')}, study {study.study_name!r} "
                f"was created with {lib} {version}: install {lib}=={version} on this machine (one "
                f"environment, one image, for every worker of a study)"
            )
    host, here = record.host, socket.gethostname()
    if host and host != here:
        raise TunerError(
            f"study {study.study_name!r} is stored in a local file ({local_file_of(storage_url)}) "
            f"created on host {host}, and this is {here}: SQLite and journal files cannot be shared "
            f"between machines; create the study on a database server (--storage postgresql://...)"
        )


def load_study(
    study_name: str, storage: Storage, sampler_seed: int | None = None, *, heartbeat: bool = True
) -> optuna.Study:
    """Join ``study_name`` with the sampler, pruner and heartbeat its recorded settings name.

    ``storage`` is a URL or a storage this process opened already (opened once per search).
    """
    opened = get_storage(storage)
    if study_name not in optuna.get_all_study_names(opened):
        shown = redact(storage) if isinstance(storage, str) else "this storage"
        raise TunerError(f"no study named {study_name!r} in {shown}; `tuner study list` shows those there")
    settings: dict[str, Any] = settings_of(
        optuna.load_study(study_name=study_name, storage=opened).user_attrs
    )
    if heartbeat and isinstance(storage, str) and isinstance(opened, optuna.storages.RDBStorage):
        beat = (settings.get("heartbeat_interval", 60), settings.get("grace_period", 180), retry_stale_trial)
        opened.engine.dispose()  # else its connections stay open until a garbage collection
        opened = get_storage(storage, beat)
    study = optuna.load_study(study_name=study_name, storage=opened)
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


def sampler_seed(seed: int, study: optuna.Study, *, unique: bool = False) -> int:
    """The seed of this process's samplers: ``seed`` itself for a study with no trials yet
    (with ``--n-jobs 1`` a search repeats exactly), else mixed with the trials already in
    the study and this process's identity, so a resumed or joined study never replays
    the proposals of the processes before it. ``unique``: mixed always (a cluster worker,
    whose replicas may all start on an empty study)."""
    trials = len(study.get_trials(deepcopy=False))
    if trials == 0 and not unique:
        return seed
    mixed = hashlib.sha256(f"{seed}:{trials}:{worker_id()}".encode()).digest()
    return int.from_bytes(mixed[:4], "big") % 2**31
