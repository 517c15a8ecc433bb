"""The random engine: scikit-learn's ``RandomizedSearchCV`` over the trial unit.

Preprocessing sits in a ``Pipeline`` with the estimator, so it is fitted on each
training fold only. Each candidate gets an MLflow run (its parameters and CV
scores); each of its folds is a nested run (curves, weights, state) opened by the
trial unit. Every fold early-stops on a slice of its own training rows, never on
the fold it is scored on.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import KFold, ParameterSampler, RandomizedSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from tuner.config import SearchConfig
from tuner.engines.base import Engine
from tuner.errors import TunerError, first_line
from tuner.processes.gpus import share_gpus, usable_cores
from tuner.search.context import Inputs, SearchContext
from tuner.search.outcomes import EngineResult, TrialRecord
from tuner.tracking.runs import (
    COMPLETE,
    FAILED,
    KIND_TAG,
    REASON_TAG,
    SEARCH_TAG,
    STATE_TAG,
    RunTarget,
    close_run,
    log_metrics,
    recorded_run,
)
from tuner.tracking.store import client_for

STEP = "keras"  # the estimator's step name in the Pipeline
RUN_TARGET_PARAM = f"{STEP}__run_target"
POLL_SECONDS = 1.0


class RandomEngine(Engine):
    """Its fits run in this process, or in joblib's processes with ``--n-jobs``; a candidate's
    score is a CV mean already, so the finish re-checks nothing."""

    unit = "fits"
    rechecks = False

    def __init__(self, config: SearchConfig):
        super().__init__(config)
        self._result: EngineResult | None = None

    @property
    def workers(self) -> int:
        return self.config.n_jobs or usable_cores()

    def settings(self) -> dict[str, int]:
        return {"cv": self.config.cv}

    def total(self) -> int | None:
        return self.config.trials * self.config.cv if self.config.trials else None

    def check(self, load: Callable[[], Inputs]) -> Inputs:
        """What random search cannot do (no study to resume, no timeout), then the folds against the data."""
        if self.config.resume:
            raise TunerError("--resume works with --engine optuna only (random search keeps no study)")
        if self.config.timeout is not None:
            raise TunerError("--timeout works with --engine optuna only; use --trials")
        if self.config.trials is None:
            raise TunerError("--engine random needs --trials")
        inputs = load()
        inputs.dataset.check_folds(self.config.cv, "--cv")
        return inputs

    def run(self, ctx: SearchContext, pool: Any = None) -> int:
        self._result = run_random(ctx)
        return len(self._result.trials)

    def outcome(self, ctx: SearchContext) -> EngineResult:
        assert self._result is not None, "run() first"
        return self._result


@dataclass(frozen=True)
class CandidateScore:
    """A candidate's CV outcome, read from ``cv_results_``."""

    state: str
    value: float | None
    metrics: dict[str, float]
    reason: str


def score_candidate(results: dict[str, Any], index: int, cv: int, greater_is_better: bool) -> CandidateScore:
    sign = 1.0 if greater_is_better else -1.0
    folds = [sign * results[f"split{k}_test_score"][index] for k in range(cv)]
    mean = sign * results["mean_test_score"][index]
    metrics = {f"fold_{k}_score": v for k, v in enumerate(folds) if np.isfinite(v)}
    metrics["fit_time_s"] = float(results["mean_fit_time"][index]) * cv
    if not np.isfinite(mean):
        failed = sum(not np.isfinite(v) for v in folds)
        return CandidateScore(
            FAILED, None, metrics, f"{failed} of {cv} folds failed; see the fold runs for why"
        )
    metrics.update(val_score=float(mean), val_score_std=float(results["std_test_score"][index]))
    return CandidateScore(COMPLETE, float(mean), metrics, "")


class LoggedRandomizedSearchCV(RandomizedSearchCV):
    """``RandomizedSearchCV`` with an MLflow run per candidate, open while its folds run.

    The candidate's fold :class:`RunTarget` travels with its parameters, so every fold
    fit, in this process or in a joblib worker, logs under the right candidate. Set
    ``search_run`` before calling ``fit``; ``candidate_run_ids_`` lists the runs after.
    The search object is sent to joblib's workers, so it holds only picklable data.
    """

    search_run: RunTarget | None = None
    greater_is_better: bool = True

    def _run_search(self, evaluate_candidates: Any) -> None:
        assert self.search_run is not None, "set search_run before fit"
        sampled = list(
            ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state)
        )
        with contextlib.ExitStack() as stack:
            runs = []
            for i, params in enumerate(sampled):
                target = self.search_run.child(f"candidate-{i}", "candidate", self.search_run.search_run_id)
                runs.append(stack.enter_context(recorded_run(target, _search_names(params))))
            self.candidate_run_ids_ = [run.run_id for run in runs]
            candidates = [
                {**params, RUN_TARGET_PARAM: self.search_run.child(f"candidate-{i}", "fold", run.run_id)}
                for i, (params, run) in enumerate(zip(sampled, runs, strict=True))
            ]
            results = evaluate_candidates(candidates)
            for i, run in enumerate(runs):
                score = score_candidate(results, i, self.cv.get_n_splits(), self.greater_is_better)
                run.metrics.update(score.metrics)
                if score.state == FAILED:
                    run.fail(score.reason)


def _search_names(params: dict[str, Any]) -> dict[str, Any]:
    """``keras__model__n_hidden`` -> ``n_hidden``, NumPy scalars -> Python values."""
    out = {}
    for key, value in params.items():
        if key == RUN_TARGET_PARAM:
            continue
        name = key.split("__")[-1]
        out[name] = value.item() if isinstance(value, np.generic) else value
    return out


def _fold_runs(target: RunTarget) -> list[Any]:
    client = client_for(target.tracking_uri)
    query = f"tags.`{SEARCH_TAG}` = '{target.search_run_id}' AND tags.`{KIND_TAG}` = 'fold'"
    return client.search_runs([target.experiment_id], filter_string=query, max_results=5000)


def _show_folds(ctx: SearchContext) -> None:
    """Update the progress display from finished fold runs (they may end in other processes)."""
    runs = [r for r in _fold_runs(ctx.search_run) if r.info.status != "RUNNING"]
    scores = [r.data.metrics["val_score"] for r in runs if "val_score" in r.data.metrics]
    states = {FAILED: sum(r.data.tags.get(STATE_TAG) == FAILED for r in runs)}
    ctx.progress.update(len(runs), ctx.metric.best(scores), states)


def _no_candidate_completed(ctx: SearchContext, what: str) -> TunerError:
    """One line for a search with no usable candidate: what failed, the first failure's
    reason (from the earliest failed fold run), and what to do about it."""
    runs = sorted(_fold_runs(ctx.search_run), key=lambda r: r.info.start_time or 0)
    reasons = [
        first_line(r.data.tags.get(REASON_TAG, "")) for r in runs if r.data.tags.get(STATE_TAG) == FAILED
    ]
    first = next((reason for reason in reasons if reason), "")
    if "diverged" in first:
        fix = "lower the learning rate (or its range) in the search space"
    else:
        fix = "fix what it names in the search space or the data"
    cause = f"first failure: {first}" if first else "no fit raised an error, but no score was a number"
    return TunerError(
        f"no candidate completed: {what}; {cause}. To fix: {fix} (each fold run in MLflow keeps its error)"
    )


def _best_epochs(ctx: SearchContext) -> dict[str, int]:
    """Per candidate run, the mean best epoch of its folds: how long its refit trains."""
    by_candidate: dict[str, list[float]] = {}
    for run in _fold_runs(ctx.search_run):
        if "best_epoch" in run.data.metrics:
            parent = run.data.tags["mlflow.parentRunId"]
            by_candidate.setdefault(parent, []).append(run.data.metrics["best_epoch"])
    return {run_id: max(1, round(float(np.mean(values)))) for run_id, values in by_candidate.items()}


def _close_open_folds(ctx: SearchContext) -> None:
    """Close, as failed, fold runs whose joblib worker was stopped mid-fit (they outlive it)."""
    from tuner.interrupts import INTERRUPTED

    for run in _fold_runs(ctx.search_run):
        if run.info.status == "RUNNING":
            close_run(ctx.search_run.tracking_uri, run.info.run_id, FAILED, INTERRUPTED)


def _make_search(ctx: SearchContext) -> tuple[LoggedRandomizedSearchCV, np.ndarray]:
    """The search over a (preprocessing +) trial-unit pipeline, and each train row's fold."""
    from tuner.trial.estimator import estimator_params, make_estimator

    ds, config = ctx.dataset, ctx.config
    estimator = make_estimator(**ctx.estimator_kwargs(), random_state=config.seed)
    preprocessor = ds.make_preprocessor()
    pipeline = Pipeline([*([("prep", preprocessor)] if preprocessor else []), (STEP, estimator)])
    classify = ds.task in ("binary", "multiclass")
    splitter = (StratifiedKFold if classify else KFold)(
        n_splits=config.cv, shuffle=True, random_state=config.seed
    )
    fold_ids = np.empty(len(ds.y_train), dtype=int)
    for k, (_, held_out) in enumerate(splitter.split(ds.X_train, ds.y_train)):
        fold_ids[held_out] = k
    drawn = ctx.space.to_distributions()  # a list of grids when parameters are conditional
    grids = [estimator_params(grid) for grid in (drawn if isinstance(drawn, list) else [drawn])]
    search = LoggedRandomizedSearchCV(
        pipeline,
        param_distributions=[{f"{STEP}__{k}": v for k, v in grid.items()} for grid in grids],
        n_iter=config.trials,
        scoring=ctx.metric.sklearn_scorer(),
        cv=splitter,
        n_jobs=config.n_jobs or usable_cores(),
        refit=False,
        random_state=config.seed,
        error_score=np.nan,
    )
    search.search_run = ctx.search_run
    search.greater_is_better = ctx.metric.greater_is_better
    return search, fold_ids


def run_random(ctx: SearchContext) -> EngineResult:
    """``trials`` candidates, each scored by ``cv``-fold cross-validation on the train split."""
    search, fold_ids = _make_search(ctx)
    try:
        with (
            ctx.progress.watch(lambda: _show_folds(ctx), POLL_SECONDS),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", category=FitFailedWarning)
            warnings.filterwarnings("ignore", message=".*test scores are non-finite.*")
            with share_gpus():  # joblib's worker processes take one GPU each, round robin
                search.fit(ctx.dataset.X_train, ctx.dataset.y_train, **{f"{STEP}__fold_ids": fold_ids})
    except ValueError as exc:
        if "fits failed" not in str(exc):
            raise
        fits = ctx.config.trials * ctx.config.cv
        raise _no_candidate_completed(ctx, f"all {fits} fits failed") from None
    except BaseException:  # Ctrl-C, SIGTERM: the candidate runs are closed; close their folds too
        _close_open_folds(ctx)
        raise
    epochs = _best_epochs(ctx)
    for run_id, epoch in epochs.items():  # on the candidate too: the trials view shows it in a column
        log_metrics(ctx.search_run.tracking_uri, run_id, {"best_epoch": epoch})
    trials = []
    for index, run_id in enumerate(search.candidate_run_ids_):
        score = score_candidate(search.cv_results_, index, ctx.config.cv, ctx.metric.greater_is_better)
        params = _search_names(search.cv_results_["params"][index])
        trials.append(
            TrialRecord(
                index,
                score.state,
                score.value,
                params,
                run_id,
                score.metrics["fit_time_s"],
                score.reason,
                best_epoch=epochs.get(run_id),
            )
        )
    complete = [t for t in trials if t.state == COMPLETE]
    if not complete:
        raise _no_candidate_completed(ctx, f"each of the {len(trials)} candidates had a failed fold")
    best = ctx.metric.best(complete, key=lambda t: t.value)
    ctx.progress.update(len(trials) * ctx.config.cv, best.value)
    return EngineResult(trials=trials, best=best)
