"""The Optuna engine: a (possibly shared, persistent) study; one trial unit per trial.

Each trial fits on the train split, reports the validation metric every epoch to the
pruner, and returns the validation score. Trials that raise are recorded as failed
and the study goes on; a search where every trial failed stops with the first error.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna

from tuner.engines.base import EngineResult, SearchContext, TrialRecord
from tuner.errors import TunerError
from tuner.interrupts import failure_reason, stop_requested

STATE_NAMES = {
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.FAIL: "failed",
}
JOURNAL_SUFFIXES = (".journal", ".log")
# The progress display tells the story; a failed trial keeps its reason and traceback in MLflow.
optuna.logging.set_verbosity(optuna.logging.ERROR)
PARENT_RUN_ATTR = "mlflow_parent_run_id"
RUN_ATTR = "mlflow_run_id"


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
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TunerError(
            f"cannot open Optuna storage {url!r}: {first}. Give an RDB URL "
            f"(sqlite:///file.db, postgresql://user@host/db) or a path ending in .journal"
        ) from None


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401 - GPSampler needs it
        except ImportError:
            raise TunerError("sampler 'gp' needs PyTorch: pip install torch (or pick tpe)") from None
        return optuna.samplers.GPSampler(seed=seed)
    raise TunerError(f"unknown sampler {name!r}; choose one of: tpe, random, cmaes, gp, qmc")


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, epochs // 20), max_resource=epochs)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // 20))
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, epochs // 20))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise TunerError(f"unknown pruner {name!r}; choose one of: hyperband, median, successive-halving, none")


def create_or_load_study(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    direction: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    resume: bool,
) -> optuna.Study:
    """A new study, or with ``resume`` the existing one; clear errors either way."""
    exists = study_name in {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if exists and not resume:
        raise TunerError(
            f"a study named {study_name!r} already exists in this storage; add --resume to add "
            f"trials to it, or pick another --study name"
        )
    if resume and not exists:
        raise TunerError(
            f"no study named {study_name!r} to resume in this storage; drop --resume to start it"
        )
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=resume,
    )
    if study.direction.name.lower() != direction:
        raise TunerError(
            f"study {study_name!r} was created to {study.direction.name.lower()} its metric; "
            f"resume it with the same --metric"
        )
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
        reason=trial.user_attrs.get("fail_reason", ""),
    )


def optimize(ctx: SearchContext, study: optuna.Study) -> None:
    """Run ``ctx.trials`` more trials (and/or until ``ctx.timeout``) on ``study``, in this process."""
    common = ctx.estimator_kwargs()
    ds = ctx.dataset
    from tuner.estimator import estimator_params, make_estimator

    def objective(trial: optuna.Trial) -> float:
        values = ctx.space.suggest(trial)
        target = ctx.trial_target(
            f"trial-{trial.number}", **{"optuna.study": study.study_name, "optuna.trial": str(trial.number)}
        )
        estimator = make_estimator(
            **common,
            **estimator_params(values),
            random_state=ctx.seed + trial.number,
            run_target=target,
            pruning_trial=trial,
        )
        try:
            estimator.fit(ctx.X_train, ds.y_train, validation_data=(ctx.X_valid, ds.y_valid))
        except optuna.TrialPruned:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            trial.set_user_attr("fail_reason", failure_reason(exc)[:1000])
            raise
        finally:
            if getattr(estimator, "run_id_", None):
                trial.set_user_attr(RUN_ATTR, estimator.run_id_)
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
            n_trials=ctx.trials,
            timeout=ctx.timeout,
            catch=(Exception,),
            callbacks=[on_trial_end],
            gc_after_trial=False,  # the trial unit already collects
        )


def best_value(study: optuna.Study) -> float | None:
    try:
        return study.best_value
    except ValueError:  # no complete trial yet
        return None


def collect(study: optuna.Study) -> EngineResult:
    """Every finished trial of ``study`` and the best one; an error if none completed."""
    trials = [_record(t) for t in study.get_trials(deepcopy=False)]
    finished = [t for t in trials if t.state in ("complete", "pruned", "failed")]
    if not any(t.state == "complete" for t in finished):
        failed = [t for t in finished if t.state == "failed"]
        why = f"; first error: {failed[0].reason}" if failed and failed[0].reason else ""
        raise TunerError(f"no trial of study {study.study_name!r} completed ({len(finished)} ended){why}")
    return EngineResult(trials=finished, best=_record(study.best_trial), info={"study": study.study_name})


def link_parent_run(study: optuna.Study) -> str | None:
    """The MLflow parent run of an earlier session of this study, if any."""
    value: Any = study.user_attrs.get(PARENT_RUN_ATTR)
    return str(value) if value else None
