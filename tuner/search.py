"""One search, end to end: config -> data -> space -> engine -> best model -> MLflow.

This is the Python API behind ``tuner search``::

    from tuner.search import SearchConfig, run_search
    result = run_search(SearchConfig(space="search_spaces/mlp_classification.yaml", data="digits"))
    result.best_params, result.best_value, result.test_score, result.model_uri
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tuner.choices import ENGINES, PRUNERS, SAMPLERS
from tuner.errors import TunerError
from tuner.interrupts import failure_reason
from tuner.tracking import (
    DEFAULT_STORE,
    STATE_TAG,
    RunTarget,
    client_for,
    close_run,
    get_or_create_experiment,
    log_params,
    resolve_tracking_uri,
)

LIBRARIES = ("tensorflow", "keras", "scikeras", "scikit-learn", "optuna", "mlflow", "numpy", "pandas")


@dataclass
class SearchConfig:
    """Everything a search needs; the CLI's flags map onto these fields one to one."""

    space: str
    data: str = "digits"
    engine: str = "optuna"
    name: str | None = None  # MLflow experiment; default "<space>-<data>"
    study: str | None = None  # Optuna study; default "<name>-<timestamp>"
    resume: bool = False
    target: str | None = None
    task: str | None = None
    metric: str | None = None
    trials: int | None = 20
    timeout: float | None = None
    cv: int = 3
    n_jobs: int = 1
    sampler: str = "tpe"
    pruner: str = "hyperband"
    storage: str | None = None
    epochs: int = 100
    patience: int = 10
    seed: int = 42
    tracking_uri: str | None = None
    show_progress: bool = True

    def validate(self) -> None:
        checks = [
            (self.engine in ENGINES, f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}"),
            (
                self.sampler in SAMPLERS,
                f"unknown sampler {self.sampler!r}; choose one of: {', '.join(SAMPLERS)}",
            ),
            (self.pruner in PRUNERS, f"unknown pruner {self.pruner!r}; choose one of: {', '.join(PRUNERS)}"),
            (self.trials is None or self.trials >= 1, f"--trials must be at least 1, got {self.trials}"),
            (self.timeout is None or self.timeout > 0, f"--timeout must be positive, got {self.timeout}"),
            (self.trials is not None or self.timeout is not None, "give --trials, --timeout or both"),
            (self.cv >= 2, f"--cv must be at least 2, got {self.cv}"),
            (self.n_jobs >= 1, f"--n-jobs must be at least 1, got {self.n_jobs}"),
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.patience >= 1, f"--patience must be at least 1, got {self.patience}"),
        ]
        if self.engine == "random":
            checks += [
                (not self.resume, "--resume works with --engine optuna only (random search keeps no study)"),
                (self.timeout is None, "--timeout works with --engine optuna only; use --trials"),
                (self.trials is not None, "--engine random needs --trials"),
            ]
        if self.resume:
            checks.append((self.study is not None, "--resume needs --study NAME, the study to continue"))
        for ok, message in checks:
            if not ok:
                raise TunerError(message)


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


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _open_search_run(uri: str, experiment_id: str, run_name: str, existing: str | None) -> str:
    client = client_for(uri)
    if existing:
        client.update_run(existing, status="RUNNING")
        return existing
    tags = {"tuner.kind": "search", STATE_TAG: "running"}
    return client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id


def _describe_search(config: SearchConfig, space: Any, ds: Any, metric: Any, run_id: str, uri: str) -> None:
    """Log the run config, dataset, space file and library versions on the search run."""
    client = client_for(uri)
    params = {
        "engine": config.engine,
        "space": space.name,
        "data": config.data,
        "task": ds.task,
        "metric": metric.name,
        "direction": metric.direction,
        "trials": config.trials,
        "timeout": config.timeout,
        "epochs": config.epochs,
        "patience": config.patience,
        "seed": config.seed,
        "n_jobs": config.n_jobs,
        "n_train": len(ds.y_train),
        "n_valid": len(ds.y_valid),
        "n_test": len(ds.y_test),
        "sample_shape": "x".join(map(str, ds.sample_shape)),
        "data_fingerprint": ds.fingerprint,
    }
    if config.engine == "optuna":
        params.update(
            sampler=config.sampler, pruner=config.pruner, storage=config.storage, study=config.study
        )
    else:
        params.update(cv=config.cv)
    log_params(uri, run_id, params)
    client.log_batch(run_id, tags=[_tag(f"version.{k}", v) for k, v in library_versions().items()])
    client.log_artifact(run_id, str(space.path), artifact_path="space")


def _tag(key: str, value: Any) -> Any:
    from mlflow.entities import RunTag

    return RunTag(key, str(value))


def _log_best_model(model: Any, X_example: Any, run_id: str, uri: str) -> str:
    """Log the fitted pipeline as an MLflow sklearn model on the search run; return its URI."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    signature = infer_signature(X_example, model.predict(X_example))
    requirements = [f"{lib}=={ver}" for lib, ver in library_versions().items() if lib != "python"]
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name="best_model",
            serialization_format="cloudpickle",
            signature=signature,
            pip_requirements=[*requirements, "tuner"],
        )
    return info.model_uri


def load_inputs(config: SearchConfig) -> tuple[Any, Any, Any]:
    """The search space, dataset and metric of ``config``, checked against each other."""
    from tuner.data import load_dataset
    from tuner.metrics import get_metric
    from tuner.space import load_space

    space = load_space(config.space)
    ds = load_dataset(config.data, config.target, config.task, config.seed)
    metric = get_metric(config.metric, ds.task)
    if ds.task != "regression" and "loss" in {*space.params, *space.fixed}:
        raise TunerError(f"{space.path}: params.loss: only regression takes a loss; this is a {ds.task} task")
    return space, ds, metric


def build_context(
    config: SearchConfig, search_run: RunTarget, progress: Any, inputs: tuple[Any, Any, Any] | None = None
) -> tuple[Any, Any]:
    """The engines' context (preprocessing fitted on the train split only) and the fitted preprocessor."""
    from tuner.engines.base import SearchContext

    space, ds, metric = inputs or load_inputs(config)
    preprocessor = ds.make_preprocessor()
    if preprocessor is not None:
        preprocessor.fit(ds.X_train)
    prep = preprocessor.transform if preprocessor is not None else (lambda X: X)
    ctx = SearchContext(
        space=space,
        dataset=ds,
        metric=metric,
        search_run=search_run,
        X_train=prep(ds.X_train),
        X_valid=prep(ds.X_valid),
        progress=progress,
        trials=config.trials,
        timeout=config.timeout,
        epochs=config.epochs,
        patience=config.patience,
        seed=config.seed,
        n_jobs=config.n_jobs,
        cv=config.cv,
    )
    return ctx, preprocessor


def run_search(config: SearchConfig) -> SearchResult:
    """Run one search and return its result; raise TunerError for the user's mistakes."""
    config.validate()
    space, ds, metric = load_inputs(config)

    started = time.perf_counter()
    uri = resolve_tracking_uri(config.tracking_uri)
    name = config.name or f"{space.name}-{ds.name}"
    try:
        experiment_id = get_or_create_experiment(uri, name)
    except Exception as exc:  # noqa: BLE001 - an unreachable tracking server is the user's to fix
        raise TunerError(
            f"cannot reach the MLflow tracking store {uri!r}: {str(exc).splitlines()[0]}"
        ) from None

    study = None
    if config.engine == "optuna":
        from tuner.engines.optuna_search import (
            PARENT_RUN_ATTR,
            create_or_load_study,
            default_storage_url,
            link_parent_run,
            make_pruner,
            make_sampler,
            open_storage,
        )

        config.storage = config.storage or default_storage_url(DEFAULT_STORE.resolve())
        config.study = config.study or f"{name}-{_timestamp()}"
        study = create_or_load_study(
            open_storage(config.storage),
            config.study,
            metric.direction,
            make_sampler(config.sampler, config.seed),
            make_pruner(config.pruner, config.epochs),
            config.resume,
        )
        existing = link_parent_run(study) if config.resume else None
        run_id = _open_search_run(uri, experiment_id, config.study, existing)
        study.set_user_attr(PARENT_RUN_ATTR, run_id)
    else:
        existing = None
        run_id = _open_search_run(uri, experiment_id, f"random-{_timestamp()}", None)

    try:
        if existing is None:
            _describe_search(config, space, ds, metric, run_id, uri)
        result = _search_and_refit(config, space, ds, metric, study, name, uri, experiment_id, run_id)
    except BaseException as exc:
        close_run(uri, run_id, "failed", failure_reason(exc))
        raise
    result.duration_s = time.perf_counter() - started
    return result


def _search_and_refit(
    config: SearchConfig,
    space: Any,
    ds: Any,
    metric: Any,
    study: Any,
    name: str,
    uri: str,
    experiment_id: str,
    run_id: str,
) -> SearchResult:
    from sklearn.pipeline import Pipeline

    from tuner.progress import SearchProgress

    search_run = RunTarget(uri, experiment_id, run_id, "", "search", run_id)
    total = config.trials * config.cv if config.engine == "random" and config.trials else config.trials
    label = "fits" if config.engine == "random" else "trials"
    with SearchProgress(label, total, metric.name, enabled=config.show_progress) as progress:
        ctx, preprocessor = build_context(config, search_run, progress, (space, ds, metric))
        if config.engine == "optuna":
            from tuner.engines.workers import run_in_workers

            outcome = run_in_workers(ctx, study, config)
        else:
            from tuner.engines.random_search import run_random

            outcome = run_random(ctx)

    from tuner.estimator import estimator_params, make_estimator  # TensorFlow: only now, in this process

    # The returned model: the best parameters refitted on the train split, early
    # stopping on the validation split, scored once on the held-out test split.
    best_values = {**space.fixed, **outcome.best.params}
    final = make_estimator(
        **ctx.estimator_kwargs(),
        **estimator_params(outcome.best.params),
        random_state=config.seed,
        run_target=search_run.child("best-model", "best", run_id),
    )
    final.fit(ctx.X_train, ds.y_train, validation_data=(ctx.X_valid, ds.y_valid))
    X_test = preprocessor.transform(ds.X_test) if preprocessor is not None else ds.X_test
    test_score = metric.compute(ds.y_test, final.predict(X_test))
    final.run_target = None  # the pickled model should not point at this store
    model = Pipeline([("prep", preprocessor), ("keras", final)]) if preprocessor is not None else final
    model_uri = _log_best_model(model, ds.X_test[:5], run_id, uri)

    counts = {s: sum(t.state == s for t in outcome.trials) for s in ("complete", "pruned", "failed")}
    result = SearchResult(
        name=name,
        engine=config.engine,
        metric=metric.name,
        direction=metric.direction,
        best_params=best_values,
        best_value=float(outcome.best.value),  # type: ignore[arg-type]
        test_score=float(test_score),
        trials=outcome.trials,
        search_run_id=run_id,
        model_run_id=final.run_id_,
        model_uri=model_uri,
        tracking_uri=uri,
        experiment_id=experiment_id,
        duration_s=0.0,
        study=config.study if config.engine == "optuna" else None,
        storage=config.storage if config.engine == "optuna" else None,
        counts=counts,
    )
    client = client_for(uri)
    client.log_batch(
        run_id,
        tags=[_tag(f"best.{k}", v) for k, v in best_values.items()]
        + [
            _tag("best.trial", outcome.best.number),
            _tag("best.trial_run_id", outcome.best.run_id or ""),
            _tag("best.model_uri", model_uri),
            _tag("best.model_run_id", final.run_id_),
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "search_result.json"
        path.write_text(json.dumps(result.to_dict(), indent=2, default=str))
        client.log_artifact(run_id, str(path))
    close_run(
        uri,
        run_id,
        "complete",
        metrics={
            "best_val_score": result.best_value,
            "refit_val_score": final.val_score_,
            f"test_{metric.name}": result.test_score,
            **{f"n_{k}": float(v) for k, v in counts.items()},
        },
    )
    return result
