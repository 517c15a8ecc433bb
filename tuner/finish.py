"""The end of every search, whatever the engine: refit the best, score it once, log it.

The best parameters are refitted, scored once on the held-out test split (which no
trial saw), logged as an MLflow model on the search run, and summed up in a
:class:`SearchResult`, also saved as the run's ``search_result.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tuner.context import SearchContext
from tuner.engines.base import EngineResult
from tuner.search_run import library_versions
from tuner.tracking import COMPLETE, FAILED, PRUNED, Run, log_sklearn_model, log_tags


@dataclass
class SearchResult:
    name: str
    engine: str
    metric: str
    direction: str
    best_params: dict[str, Any]
    best_value: float
    test_score: float
    trials: list[Any]
    search_run_id: str
    model_run_id: str  # the run of the returned model (best parameters, refitted)
    model_uri: str
    tracking_uri: str
    experiment_id: str
    duration_s: float
    study: str | None = None
    storage: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def refit_best(ctx: SearchContext, outcome: EngineResult) -> Any:
    """The best parameters trained again on the train split, early-stopping on validation."""
    from tuner.estimator import estimator_params, make_estimator

    search_run = ctx.search_run
    final = make_estimator(
        **ctx.estimator_kwargs(),
        **estimator_params(outcome.best.params),
        random_state=ctx.config.seed,
        run_target=search_run.child("best-model", "best", search_run.search_run_id),
    )
    final.fit(ctx.X_train, ctx.dataset.y_train, validation_data=(ctx.X_valid, ctx.dataset.y_valid))
    final.run_target = None  # the pickled model should not point at this store
    return final


def finish(ctx: SearchContext, outcome: EngineResult, search_run: Run) -> SearchResult:
    """Refit, test, log the model and the result on ``search_run`` (closed by its owner)."""
    from sklearn.pipeline import Pipeline

    ds, metric = ctx.dataset, ctx.metric
    final = refit_best(ctx, outcome)
    test_score = metric.compute(ds.y_test, final.predict(ctx.transform(ds.X_test)))
    model = (
        Pipeline([("prep", ctx.preprocessor), ("keras", final)]) if ctx.preprocessor is not None else final
    )
    requirements = [f"{lib}=={ver}" for lib, ver in library_versions().items() if lib != "python"]
    model_uri = log_sklearn_model(
        search_run.tracking_uri, search_run.run_id, model, ds.X_test[:5], [*requirements, "tuner"]
    )
    counts = {s: sum(t.state == s for t in outcome.trials) for s in (COMPLETE, PRUNED, FAILED)}
    best_params = {**ctx.space.fixed, **outcome.best.params}
    result = SearchResult(
        name=ctx.name,
        engine=ctx.config.engine,
        metric=metric.name,
        direction=metric.direction,
        best_params=best_params,
        best_value=float(outcome.best.value),  # type: ignore[arg-type]
        test_score=float(test_score),
        trials=outcome.trials,
        search_run_id=search_run.run_id,
        model_run_id=final.run_id_,
        model_uri=model_uri,
        tracking_uri=search_run.tracking_uri,
        experiment_id=ctx.search_run.experiment_id,
        duration_s=0.0,
        study=outcome.study,
        storage=outcome.storage,
        counts=counts,
    )
    tags = {f"best.{k}": v for k, v in best_params.items()}
    tags.update({"best.trial": outcome.best.number, "best.trial_run_id": outcome.best.run_id or ""})
    tags.update({"best.model_uri": model_uri, "best.model_run_id": final.run_id_})
    log_tags(search_run.tracking_uri, search_run.run_id, tags)
    search_run.log_text(json.dumps(result.to_dict(), indent=2, default=str), "search_result.json")
    search_run.metrics.update(
        best_val_score=result.best_value,
        refit_val_score=final.val_score_,
        **{f"test_{metric.name}": result.test_score},
        **{f"n_{k}": float(v) for k, v in counts.items()},
    )
    return result
