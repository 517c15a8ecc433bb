"""The Optuna engine: a (possibly shared, persistent) study; one trial unit per trial.

A search is three steps, each of which a cluster job can run on its own:
**create** (:meth:`OptunaEngine.start`: the study and the parent run, with what a
worker needs recorded in the study), **work** (:func:`tuner.engines.workers.work`:
any number of processes that need only the study's name and storage, each running
:func:`optimize`), and **finish** (:func:`tuner.finish.finish`, the same for every
engine). Each trial fits on the train split, reports the validation metric every
epoch to the pruner, and returns the validation score. Trials that raise are
recorded as failed and the study goes on.
"""

from __future__ import annotations

import warnings

import optuna

from tuner.context import Inputs, SearchContext
from tuner.engines.base import Engine, EngineResult
from tuner.engines.study import (
    BEST_EPOCH_ATTR,
    PARENT_RUN_ATTR,
    REASON_ATTR,
    RUN_ATTR,
    best_value,
    collect,
    create_or_load_study,
    default_storage_url,
    load_study,
    open_storage,
    record_for_workers,
)
from tuner.interrupts import failure_reason, stop_requested
from tuner.search_run import children_of, open_search_run, timestamp
from tuner.tracking import DEFAULT_STORE, RunTarget, reopen_run


class OptunaEngine(Engine):
    def __init__(self, config):
        super().__init__(config)
        self.storage_url = config.storage or default_storage_url(DEFAULT_STORE.resolve())
        self.study_name = config.study

    def settings(self) -> dict[str, str | None]:
        return {
            "sampler": self.config.sampler,
            "pruner": self.config.pruner,
            "storage": self.storage_url,
            "study": self.study_name,
        }

    def start(self, experiment: RunTarget, inputs: Inputs) -> RunTarget:
        """Create (or, resuming, load) the study and its parent run; record what workers need."""
        self.study_name = self.study_name or f"{experiment.run_name}-{timestamp()}"
        storage = open_storage(self.storage_url)
        study = create_or_load_study(storage, self.study_name, inputs.metric.direction, self.config)
        parent = study.user_attrs.get(PARENT_RUN_ATTR) if self.config.resume else None
        if parent:
            reopen_run(experiment.tracking_uri, parent)
            target = children_of(experiment, parent)
        else:
            target = open_search_run(self.config, inputs, experiment, self.settings(), self.study_name)
        record_for_workers(study, self.config, inputs.space, inputs.dataset.fingerprint, target)
        return target

    def run(self, ctx: SearchContext) -> EngineResult:
        from tuner.engines.workers import run_in_workers

        assert self.study_name is not None, "start() names the study"
        run_in_workers(ctx, self.study_name, self.storage_url)
        result = collect(load_study(self.study_name, self.storage_url))
        result.storage = self.storage_url
        return result


def optimize(ctx: SearchContext, study: optuna.Study, n_trials: int | None, timeout: float | None) -> None:
    """Run ``n_trials`` more trials (and/or until ``timeout`` seconds) of ``study`` in this process."""
    from tuner.estimator import estimator_params, make_estimator

    common = ctx.estimator_kwargs()
    ds = ctx.dataset

    def objective(trial: optuna.Trial) -> float:
        values = ctx.space.suggest(trial)
        tags = {"optuna.study": study.study_name, "optuna.trial": str(trial.number)}
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
        except (Exception, KeyboardInterrupt) as exc:
            trial.set_user_attr(REASON_ATTR, failure_reason(exc)[:1000])
            raise
        finally:
            if getattr(estimator, "run_id_", None):
                trial.set_user_attr(RUN_ATTR, estimator.run_id_)
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
            catch=(Exception,),
            callbacks=[on_trial_end],
            gc_after_trial=False,  # the trial unit already collects
        )
