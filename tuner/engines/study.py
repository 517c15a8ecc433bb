"""An Optuna study as the shared record of a search: created once, joined by workers.

The create step records in the study everything a worker needs (the settings, the
space's YAML, the data's fingerprint, where the parent run is), so a worker needs
nothing but the study's name and storage. :func:`collect` reads the trials back.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import optuna

from tuner.config import SearchConfig
from tuner.engines.base import EngineResult, TrialRecord
from tuner.engines.optuna_factories import PRUNERS, SAMPLERS
from tuner.errors import TunerError
from tuner.space import SearchSpace, parse_space
from tuner.tracking import COMPLETE, FAILED, PRUNED, RunTarget

STATE_NAMES = {
    optuna.trial.TrialState.COMPLETE: COMPLETE,
    optuna.trial.TrialState.PRUNED: PRUNED,
    optuna.trial.TrialState.FAIL: FAILED,
}
JOURNAL_SUFFIXES = (".journal", ".log")
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


def default_storage_url(store_dir: Path) -> str:
    """A journal file inside ``mlruns/``: safe for several local processes at once."""
    return str(store_dir / "optuna.journal")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """A journal file (path ending .journal/.log) or any RDB URL (sqlite, postgresql, mysql).

    RDB storages get a heartbeat: a trial whose worker died is marked failed after
    the grace period and re-queued (up to three times) with the same parameters.
    """
    if url.endswith(JOURNAL_SUFFIXES) and "://" not in url:
        path = Path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat arguments
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=60,
                grace_period=180,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
    except Exception as exc:  # noqa: BLE001 - a bad URL or unreachable database is the user's to fix
        first = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise TunerError(
            f"cannot open Optuna storage {url!r}: {first}. Give an RDB URL "
            f"(sqlite:///file.db, postgresql://user@host/db) or a path ending in .journal"
        ) from None


def create_or_load_study(
    storage: optuna.storages.BaseStorage, study_name: str, direction: str, config: SearchConfig
) -> optuna.Study:
    """A new study, or with ``config.resume`` the existing one; clear errors either way."""
    exists = study_name in optuna.get_all_study_names(storage)
    if exists and not config.resume:
        raise TunerError(
            f"a study named {study_name!r} already exists in this storage; add --resume to add "
            f"trials to it, or pick another --study name"
        )
    if config.resume and not exists:
        raise TunerError(
            f"no study named {study_name!r} to resume in this storage; drop --resume to start it"
        )
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction=direction,
        load_if_exists=config.resume,
    )
    if study.direction.name.lower() != direction:
        raise TunerError(
            f"study {study_name!r} was created to {study.direction.name.lower()} its metric; "
            f"resume it with the same --metric"
        )
    return study


def record_for_workers(
    study: optuna.Study, config: SearchConfig, space: SearchSpace, fingerprint: str, search_run: RunTarget
) -> None:
    """Write into the study what a worker needs besides its name and storage."""
    settings = {
        **config.to_dict(),
        "storage": None,
        "show_progress": False,
    }  # a worker has its own storage URL
    study.set_user_attr(CONFIG_ATTR, settings)
    study.set_user_attr(SPACE_ATTR, {"name": space.name, "text": space.text})
    study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
    study.set_user_attr(TRACKING_ATTR, [search_run.tracking_uri, search_run.experiment_id])
    study.set_user_attr(PARENT_RUN_ATTR, search_run.search_run_id)


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker reads back from the study."""

    config: SearchConfig
    space: SearchSpace
    fingerprint: str
    search_run: RunTarget


def read_worker_setup(study: optuna.Study) -> WorkerSetup:
    attrs = study.user_attrs
    if CONFIG_ATTR not in attrs:
        raise TunerError(f"study {study.study_name!r} was not created by tuner: it records no settings")
    known = {f.name for f in fields(SearchConfig)}
    config = SearchConfig(**{k: v for k, v in attrs[CONFIG_ATTR].items() if k in known})
    space = parse_space(attrs[SPACE_ATTR]["text"], Path(f"{attrs[SPACE_ATTR]['name']}.yaml"))
    uri, experiment_id = attrs[TRACKING_ATTR]
    run_id = attrs[PARENT_RUN_ATTR]
    search_run = RunTarget(uri, experiment_id, run_id, "", "search", run_id)
    return WorkerSetup(config, space, attrs[FINGERPRINT_ATTR], search_run)


def load_study(study_name: str, storage_url: str, sampler_seed: int | None = None) -> optuna.Study:
    """Join ``study_name`` with the sampler and pruner its recorded settings name."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
    settings: dict[str, Any] = study.user_attrs.get(CONFIG_ATTR, {})
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
        reason=trial.user_attrs.get(REASON_ATTR, ""),
        best_epoch=trial.user_attrs.get(BEST_EPOCH_ATTR),
        timing=trial.user_attrs.get(TIMING_ATTR, {}),
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
