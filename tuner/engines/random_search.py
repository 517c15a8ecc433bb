"""The random engine: scikit-learn's ``RandomizedSearchCV`` over the trial unit.

Preprocessing sits in a ``Pipeline`` with the estimator, so it is fitted on each
training fold only. Each candidate gets an MLflow run (its parameters and CV
scores); each of its folds is a nested run (curves, weights, state) opened by the
trial unit. Every fold early-stops on a slice of its own training rows, never on
the fold it is scored on.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import KFold, ParameterSampler, RandomizedSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from tuner.engines.base import EngineResult, SearchContext, TrialRecord
from tuner.errors import TunerError
from tuner.interrupts import failure_reason
from tuner.tracking import KIND_TAG, REASON_TAG, SEARCH_TAG, STATE_TAG, RunTarget, client_for, close_run

STEP = "keras"  # the estimator's step name in the Pipeline
RUN_TARGET_PARAM = f"{STEP}__run_target"
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class CandidateRuns:
    """Opens a candidate's MLflow run; returns where its folds log (plain data: it pickles)."""

    search_run: RunTarget

    def open(self, index: int, params: dict[str, Any]) -> RunTarget:
        target = self.search_run.child(f"candidate-{index}", "candidate", self.search_run.parent_run_id)
        return target.child("fold", "fold", target.open(_plain(params)))


class LoggedRandomizedSearchCV(RandomizedSearchCV):
    """``RandomizedSearchCV`` that opens an MLflow run per candidate before its folds run.

    The candidate's fold :class:`RunTarget` travels with its parameters, so every fold
    fit, in this process or in a joblib worker, logs under the right candidate.
    Set ``candidate_runs`` before calling ``fit``; ``fold_targets_`` lists them after.
    The search object itself is sent to the workers, so it holds only picklable data.
    """

    candidate_runs: CandidateRuns | None = None

    def _run_search(self, evaluate_candidates: Any) -> None:
        assert self.candidate_runs is not None, "set candidate_runs before fit"
        sampled = list(
            ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state)
        )
        self.fold_targets_ = [self.candidate_runs.open(i, params) for i, params in enumerate(sampled)]
        evaluate_candidates(
            [
                {**params, RUN_TARGET_PARAM: target}
                for params, target in zip(sampled, self.fold_targets_, strict=True)
            ]
        )


def _plain(params: dict[str, Any]) -> dict[str, Any]:
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


def _watch_folds(ctx: SearchContext, stop: threading.Event) -> None:
    """Drive the progress display from finished fold runs (they may end in other processes)."""
    while not stop.wait(POLL_SECONDS):
        runs = [r for r in _fold_runs(ctx.search_run) if r.info.status != "RUNNING"]
        scores = [r.data.metrics["val_score"] for r in runs if "val_score" in r.data.metrics]
        best = (max if ctx.metric.greater_is_better else min)(scores, default=None)
        states = {"failed": sum(r.data.tags.get(STATE_TAG) == "failed" for r in runs)}
        ctx.progress.update(len(runs), best, states)


def run_random(ctx: SearchContext) -> EngineResult:
    """``ctx.trials`` candidates, each scored by ``ctx.cv``-fold cross-validation on the train split."""
    from tuner.estimator import make_estimator

    ds, metric = ctx.dataset, ctx.metric
    estimator = make_estimator(**ctx.estimator_kwargs(), random_state=ctx.seed)
    preprocessor = ds.make_preprocessor()
    pipeline = Pipeline([*([("prep", preprocessor)] if preprocessor else []), (STEP, estimator)])
    classify = ds.task in ("binary", "multiclass")
    splitter = (StratifiedKFold if classify else KFold)(n_splits=ctx.cv, shuffle=True, random_state=ctx.seed)
    fold_ids = np.empty(len(ds.y_train), dtype=int)
    for k, (_, held_out) in enumerate(splitter.split(ds.X_train, ds.y_train)):
        fold_ids[held_out] = k

    search = LoggedRandomizedSearchCV(
        pipeline,
        param_distributions={f"{STEP}__{k}": v for k, v in _estimator_distributions(ctx).items()},
        n_iter=ctx.trials or 10,
        scoring=metric.sklearn_scorer(),
        cv=splitter,
        n_jobs=ctx.n_jobs,
        refit=False,
        random_state=ctx.seed,
        error_score=np.nan,
    )
    search.candidate_runs = CandidateRuns(ctx.search_run)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_folds, args=(ctx, stop), daemon=True)
    watcher.start()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FitFailedWarning)
            warnings.filterwarnings("ignore", message=".*test scores are non-finite.*")
            search.fit(ds.X_train, ds.y_train, **{f"{STEP}__fold_ids": fold_ids})
    except ValueError as exc:
        if "fits failed" not in str(exc):
            raise
        reasons = [r.data.tags.get(REASON_TAG, "") for r in _fold_runs(ctx.search_run)]
        first = next((r for r in reasons if r), "see the fold runs in MLflow")
        _close_candidates(ctx, _candidate_run_ids(search), None)
        raise TunerError(f"all {len(reasons)} fits failed; first error: {first}") from None
    except BaseException as exc:  # Ctrl-C, SIGTERM: no run is left open
        _close_unfinished(ctx, _candidate_run_ids(search), failure_reason(exc))
        raise
    finally:
        stop.set()
        watcher.join()
    trials = _close_candidates(ctx, _candidate_run_ids(search), search.cv_results_)
    complete = [t for t in trials if t.state == "complete"]
    best = max(complete, key=lambda t: t.value if metric.greater_is_better else -t.value)  # type: ignore[operator]
    ctx.progress.update(len(trials) * ctx.cv, best.value)
    return EngineResult(trials=trials, best=best, info={"cv": ctx.cv})


def _candidate_run_ids(search: LoggedRandomizedSearchCV) -> dict[int, str]:
    return {i: target.parent_run_id for i, target in enumerate(getattr(search, "fold_targets_", []))}


def _close_unfinished(ctx: SearchContext, candidates: dict[int, str], reason: str) -> None:
    """Close the candidate runs, and fold runs whose worker was stopped mid-fit, as failed."""
    uri = ctx.search_run.tracking_uri
    open_folds = [r.info.run_id for r in _fold_runs(ctx.search_run) if r.info.status == "RUNNING"]
    for run_id in [*open_folds, *candidates.values()]:
        close_run(uri, run_id, "failed", reason)


def _estimator_distributions(ctx: SearchContext) -> dict[str, Any]:
    from tuner.estimator import estimator_params

    return estimator_params(ctx.space.to_distributions())


def _close_candidates(
    ctx: SearchContext, runs: dict[int, str], results: dict[str, Any] | None
) -> list[TrialRecord]:
    """Give each candidate run its CV scores and state; return them as trial records."""
    sign = 1.0 if ctx.metric.greater_is_better else -1.0
    uri = ctx.search_run.tracking_uri
    trials = []
    for index, run_id in sorted(runs.items()):
        if results is None:
            close_run(uri, run_id, "failed", "every fold failed")
            continue
        folds = [sign * results[f"split{k}_test_score"][index] for k in range(ctx.cv)]
        mean = sign * results["mean_test_score"][index]
        ok = bool(np.isfinite(mean))
        metrics = {f"fold_{k}_score": v for k, v in enumerate(folds) if np.isfinite(v)}
        if ok:
            metrics.update(val_score=mean, val_score_std=float(results["std_test_score"][index]))
        metrics["fit_time_s"] = float(results["mean_fit_time"][index]) * ctx.cv
        failed = sum(not np.isfinite(v) for v in folds)
        reason = "" if ok else f"{failed} of {ctx.cv} folds failed; see the fold runs for why"
        close_run(uri, run_id, "complete" if ok else "failed", reason, metrics)
        trials.append(
            TrialRecord(
                number=index,
                state="complete" if ok else "failed",
                value=float(mean) if ok else None,
                params=_plain(results["params"][index]),
                run_id=run_id,
                duration_s=metrics["fit_time_s"],
                reason=reason,
            )
        )
    return trials
