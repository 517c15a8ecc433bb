"""The end of every search, whatever the engine: re-check the best, refit, score once, log.

With a few hundred validation rows, the trial that is best on validation is often
not the best on new rows. So before the refit, the top few complete trials are
re-checked by K-fold cross-validation over train + validation rows, each trained
for its own best number of epochs, and the best mean wins (:func:`recheck_fold`,
:func:`choose`). The winner is refitted on train + validation for that many epochs
(every row the user gave, but the test split), scored once on the test split (which
no trial saw), logged as an MLflow model, and summed up in a :class:`SearchResult`.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tuner.redact import redact
from tuner.search.context import SearchContext
from tuner.search.outcomes import EngineResult, SearchResult, TrialRecord
from tuner.tracking.runs import COMPLETE, DESCRIPTION_TAG, FAILED, PRUNED, Run, log_tags

if TYPE_CHECKING:
    from tuner.trial.metrics import Metric


@dataclass
class Candidate:
    """A complete trial re-checked on K folds of train + validation."""

    number: int
    params: dict[str, Any]
    epochs: int  # its best epoch in the search: how long the refit trains
    value: float  # its validation score in the search
    scores: list[float] = field(default_factory=list)  # one per fold
    losses: list[float] = field(default_factory=list)  # the held-out loss, one per fold

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else self.value

    @property
    def mean_loss(self) -> float | None:
        return float(np.mean(self.losses)) if self.losses else None

    @property
    def std(self) -> float:
        return float(np.std(self.scores)) if self.scores else 0.0


@dataclass
class FinalModel:
    """The returned model, as the finish step leaves it in MLflow."""

    candidate: Candidate
    candidates: list[Candidate]
    model_uri: str
    model_run_id: str
    test_score: float | None
    trained_on: str  # which rows trained it
    seconds: dict[str, float]
    registration: dict[str, Any] | None = None  # the model registry's answer, with --register


def candidates(outcome: EngineResult, metric: Metric, k: int) -> list[Candidate]:
    """The ``k`` best complete trials (at least the best), best first."""
    complete = [t for t in outcome.trials if t.state == COMPLETE and t.value is not None]
    sign = -1.0 if metric.greater_is_better else 1.0
    ranked = sorted(complete, key=lambda t: sign * t.value) or [outcome.best]  # type: ignore[operator]
    return [_candidate(t) for t in ranked[: max(1, k)]]


def _candidate(trial: TrialRecord) -> Candidate:
    return Candidate(trial.number, trial.params, max(1, int(trial.best_epoch or 1)), float(trial.value or 0))


def _train_and_valid(ctx: SearchContext) -> tuple[Any, np.ndarray]:
    return ctx.X_train_valid, np.concatenate([ctx.dataset.y_train, ctx.dataset.y_valid])


def _fold_rows(ctx: SearchContext, X: Any, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    classify = ctx.dataset.task in ("binary", "multiclass")
    splitter = (StratifiedKFold if classify else KFold)(
        ctx.config.recheck_folds, shuffle=True, random_state=0
    )
    return list(splitter.split(X, y))


def recheck_fold(ctx: SearchContext, candidate: Candidate, fold: int) -> tuple[float, float]:
    """The candidate trained on the other folds for its best epochs: its score and loss on ``fold``."""
    from tuner.trial.estimator import estimator_params, make_estimator

    X, y = _train_and_valid(ctx)
    train, held_out = _fold_rows(ctx, X, y)[fold]
    search_run = ctx.search_run
    estimator = make_estimator(
        **{**ctx.estimator_kwargs(), "epochs": candidate.epochs, "patience": None, "epoch_validation": False},
        reuse="keep",  # the candidate's next fold and its refit reuse the traced model
        **estimator_params(candidate.params),
        random_state=ctx.config.seed + 1000 * fold + candidate.number,
        run_target=search_run.child(
            f"recheck-{candidate.number}-fold-{fold}", "recheck", search_run.search_run_id
        ),
    )
    estimator.fit(X[train], y[train], validation_data=(X[held_out], y[held_out]))
    return float(estimator.val_score_), estimator.val_loss_


class Fits(Protocol):
    """Where the finish step's fits run: this process, or an engine's warm workers."""

    def recheck(self, tasks: list[tuple[Candidate, int]]) -> list[tuple[float, float]]:
        """The score and loss of each (candidate, fold), in order."""
        ...

    def refit(self, chosen: Candidate, checked: list[Candidate]) -> FinalModel: ...


class InProcessFits:
    """The finish step's fits, one after another in this process."""

    def __init__(self, ctx: SearchContext):
        self.ctx = ctx

    def recheck(self, tasks: list[tuple[Candidate, int]]) -> list[tuple[float, float]]:
        return [recheck_fold(self.ctx, candidate, fold) for candidate, fold in tasks]

    def refit(self, chosen: Candidate, checked: list[Candidate]) -> FinalModel:
        return refit_and_log(self.ctx, chosen, checked)


def choose(metric: Metric, checked: list[Candidate]) -> Candidate:
    return metric.best(checked, key=lambda c: c.mean)  # type: ignore[return-value]


def refit_and_log(ctx: SearchContext, chosen: Candidate, checked: list[Candidate]) -> FinalModel:
    """Train ``chosen`` on train + validation, score it on the test split, log it as a model
    (Keras' own format, skops and JSON: nothing pickled), and register it when asked."""
    from tuner.shipping.export import save_model_folder
    from tuner.shipping.mlflow_model import log_model
    from tuner.trial.estimator import estimator_params, make_estimator

    ds, search_run, started = ctx.dataset, ctx.search_run, time.perf_counter()
    X, y = _train_and_valid(ctx)
    final = make_estimator(
        **{**ctx.estimator_kwargs(), "epochs": chosen.epochs, "patience": None, "validation_fraction": 0.0},
        **estimator_params(chosen.params),
        random_state=ctx.config.seed,
        reuse="take",  # a fold's traced model, where this worker re-checked the winner
        run_target=search_run.child("best-model", "best", search_run.search_run_id),
    )
    final.fit(X, y)
    test_score = (
        ctx.metric.compute(ds.y_test, final.predict(ctx.transform(ds.X_test))) if len(ds.y_test) else None
    )
    refitted = time.perf_counter()
    example = ds.X_test[:5] if len(ds.y_test) else ds.X_valid[:5]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"  # MLflow keeps it as the model's artifacts/model
        save_model_folder(
            final, ctx.preprocessor, ds, folder, target=ctx.config.target, network_file=ctx.network.file
        )
        model_uri = log_model(search_run.tracking_uri, search_run.search_run_id, folder, example)
    logged = time.perf_counter()
    seconds = {"refit": refitted - started, "model_logging": logged - refitted}
    registration = None
    if ctx.config.register:
        from tuner.shipping.registry import register

        registered = register(
            search_run.tracking_uri, model_uri, ctx.config.register, ds.X_test, ds.y_test, ctx.metric, ds
        )
        registration, seconds["registry"] = registered.to_dict(), time.perf_counter() - logged
    trained_on = f"train+valid ({len(y)} rows, {chosen.epochs} epochs)"
    return FinalModel(
        chosen, checked, model_uri, final.run_id_, test_score, trained_on, seconds, registration
    )


def summarize(
    ctx: SearchContext,
    outcome: EngineResult,
    final: FinalModel,
    search_run: Run,
    phases: dict[str, float],
    workers: int,
) -> SearchResult:
    """The result, also recorded on ``search_run`` (closed by its owner): tags, metrics, JSON."""
    metric, chosen = ctx.metric, final.candidate
    counts = {s: sum(t.state == s for t in outcome.trials) for s in (COMPLETE, PRUNED, FAILED)}
    best_params = {**ctx.space.fixed, **chosen.params}
    result = SearchResult(
        name=ctx.name,
        engine=ctx.config.engine,
        metric=metric.name,
        direction=metric.direction,
        best_params=best_params,
        best_value=chosen.value,
        test_score=final.test_score,
        trials=outcome.trials,
        search_run_id=search_run.run_id,
        model_run_id=final.model_run_id,
        model_uri=final.model_uri,
        tracking_uri=redact(search_run.tracking_uri),  # printed and saved: never a password
        experiment_id=ctx.search_run.experiment_id,
        duration_s=phases["total"],
        study=outcome.study,
        storage=outcome.storage,
        counts=counts,
        best_trial=chosen.number,
        candidates=[
            {**asdict(c), "mean": c.mean, "std": c.std, "mean_loss": c.mean_loss} for c in final.candidates
        ],
        trained_on=final.trained_on,
        registration=final.registration,
        phases=phases,
        workers=workers,
    )
    record_result(result, final, search_run)
    return result


def describe_result(result: SearchResult) -> str:
    """The parent run's description once finished: what was searched, then the winner, in two lines."""
    counts = ", ".join(f"{n} {state}" for state, n in result.counts.items())
    unit = "candidates" if result.engine == "random" else "trials"
    test = "no test split" if result.test_score is None else f"test {result.metric} {result.test_score:.4g}"
    params = ", ".join(f"{k}={_short(v)}" for k, v in result.best_params.items())
    return (
        f"{result.engine} search '{result.name}': {len(result.trials)} {unit} ({counts}), "
        f"{result.duration_s:.0f} s.\n"
        f"Winner: trial {result.best_trial} (val {result.metric} {result.best_value:.4g}), {test}; {params}"
    )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def record_result(result: SearchResult, final: FinalModel, search_run: Run) -> None:
    best = next(t for t in result.trials if t.number == result.best_trial)
    tags = {f"best.{k}": v for k, v in result.best_params.items()}
    tags.update({"best.trial": best.number, "best.trial_run_id": best.run_id or ""})
    tags.update({"best.model_uri": result.model_uri, "best.model_run_id": result.model_run_id})
    tags["model.trained_on"] = result.trained_on
    tags[DESCRIPTION_TAG] = describe_result(result)
    log_tags(search_run.tracking_uri, search_run.run_id, tags)
    search_run.log_text(json.dumps(result.to_dict(), indent=2, default=str), "search_result.json")
    for c in final.candidates:
        search_run.metrics.update(
            {f"recheck.trial_{c.number}.mean": c.mean, f"recheck.trial_{c.number}.std": c.std}
        )
        if c.mean_loss is not None:
            search_run.metrics[f"recheck.trial_{c.number}.loss"] = c.mean_loss
    search_run.metrics.update(
        best_val_score=result.best_value,
        **({f"test_{result.metric}": result.test_score} if result.test_score is not None else {}),
        **{f"n_{k}": float(v) for k, v in result.counts.items()},
    )
