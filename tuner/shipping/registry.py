"""Registered models and their champion: a new version takes the alias only by scoring better.

Each registration adds a version. The first version of a name becomes ``champion``;
later, the champion is scored on the new search's own test rows, the same rows as the
new version, and the new version takes ``champion`` only when it scores better by the
search's metric (the old one keeps ``previous_champion``). Otherwise the alias stays
and :attr:`Registration.message` says why. Both scores and the rows they were measured
on are tags of the new version. Aliases only: MLflow's stages are deprecated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tuner.errors import TunerError, first_line
from tuner.redact import redact
from tuner.trial.metrics import Metric, get_metric

CHAMPION = "champion"
PREVIOUS = "previous_champion"
TAG = "tuner."
# What MLflow answers for a registered model or alias that does not exist (yet).
ABSENT = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


@dataclass
class Registration:
    name: str
    version: str
    model_uri: str  # what was registered (models:/m-...)
    task: str
    champion: str  # the version that holds ``champion`` now
    took_champion: bool
    previous_champion: str | None
    metric: str
    score: float | None  # the new version's, on this search's test rows
    champion_score: float | None  # the champion's before, on the same rows
    test_rows: int
    message: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "uri": self.uri}


def _registry_error(tracking_uri: str, exc: BaseException) -> TunerError:
    return TunerError(
        f"{redact(tracking_uri)} offers no model registry to register in ({first_line(exc)}); "
        f"use a database store (sqlite:///..., postgresql://...) or a tracking server"
    )


def _champion(tracking_uri: str, name: str) -> Any:
    """The version of ``name`` that holds ``champion``, or None; TunerError when there is no registry."""
    from mlflow.exceptions import MlflowException

    from tuner.tracking.store import client_for

    try:
        client = client_for(tracking_uri)
    except Exception as exc:  # noqa: BLE001 - a store without a registry fails in its own ways
        raise _registry_error(tracking_uri, exc) from None
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ABSENT:  # no such registered model yet, or no champion
            return None
        raise _registry_error(tracking_uri, exc) from None


def _new_version(tracking_uri: str, model_uri: str, name: str) -> str:
    """Register ``model_uri`` as a new version of ``name`` (made first if need be); return its number."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from tuner.shipping.mlflow_model import logged_model_id
    from tuner.tracking.store import client_for

    client = client_for(tracking_uri)
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise _registry_error(tracking_uri, exc) from None
    model_id = logged_model_id(tracking_uri, model_uri)
    source_run = client.get_logged_model(model_id).source_run_id
    # A database store looks the logged model up through MLflow's default client (a TODO in
    # MLflow 3.17's SqlAlchemyStore.create_model_version), not through this one.
    mlflow.set_tracking_uri(tracking_uri)
    version = client.create_model_version(
        name, source=f"models:/{model_id}", run_id=source_run, model_id=model_id
    )
    return str(version.version)


def _predictions(frame: pd.DataFrame) -> np.ndarray:
    """The predicted labels or values of a prediction frame, shaped as the targets are."""
    columns = [c for c in frame.columns if c == "prediction" or str(c).startswith("prediction_")]
    values = frame[columns].to_numpy()
    return values[:, 0] if len(columns) == 1 else values


def _score(model: Any, X: pd.DataFrame, y: np.ndarray, metric: Metric, task: str) -> float:
    """``model``'s score on the rows; TunerError when they do not fit it (columns, or another task)."""
    if model.task != task:
        raise TunerError(f"it is a {model.task} model and this search's is {task}")
    return float(metric.compute(y, _predictions(model.predict_frame(X))))


def _better(metric: Metric, score: float, than: float) -> bool:
    return score > than if metric.greater_is_better else score < than


def _challenge(
    tracking_uri: str, result: Registration, champion: str, X: pd.DataFrame, y: np.ndarray
) -> None:
    """Let the new version take ``champion`` from version ``champion`` if it scores better on the same rows."""
    from tuner.shipping.mlflow_model import load_model

    new, old, metric = result.version, champion, get_metric(result.metric, result.task)
    result.took_champion, result.champion = False, old
    if result.score is None:
        result.message = (
            f"version {new} registered; champion stays version {old}: this search has no test split "
            f"(--test-size 0) to compare them on"
        )
        return
    try:
        result.champion_score = _score(
            load_model(tracking_uri, f"models:/{result.name}/{old}"), X, y, metric, result.task
        )
    except TunerError as exc:
        result.message = (
            f"version {new} registered; champion stays version {old}: it cannot be scored on this "
            f"search's test rows ({exc})"
        )
        return
    versus = f"{result.score:.6g} against {result.champion_score:.6g}"
    if _better(metric, result.score, result.champion_score):
        result.took_champion, result.champion, result.previous_champion = True, new, old
        result.message = (
            f"version {new} is the new champion: {metric.name} {versus} for version {old} on the same "
            f"{result.test_rows} test rows"
        )
    else:
        result.message = (
            f"version {new} registered; champion stays version {old}: {metric.name} {versus} for the "
            f"champion on the same {result.test_rows} test rows"
        )


def _record(tracking_uri: str, result: Registration, fingerprints: dict[str, str]) -> None:
    """Move the aliases as decided; tag the new version with both scores and the rows behind them."""
    from tuner.tracking.store import client_for

    client = client_for(tracking_uri)
    if result.took_champion:
        client.set_registered_model_alias(result.name, CHAMPION, result.version)
        if result.previous_champion:
            client.set_registered_model_alias(result.name, PREVIOUS, result.previous_champion)
    tags = {
        "metric": result.metric,
        "test_rows": result.test_rows,
        "decision": result.message,
        **fingerprints,
    }
    if result.score is not None:
        tags[f"test_{result.metric}"] = result.score
    if result.champion_score is not None:
        tags[f"champion_test_{result.metric}"] = result.champion_score
        tags["compared_with_version"] = result.previous_champion or result.champion
    for key, value in tags.items():
        client.set_model_version_tag(result.name, result.version, TAG + key, str(value))


def _rows_fingerprint(X: Any, y: np.ndarray) -> str:
    import joblib

    return joblib.hash((X, y))[:16]


def register(
    tracking_uri: str,
    model_uri: str,
    name: str,
    X_test_raw: Any,
    y_test: np.ndarray,
    metric: str | Metric,
) -> Registration:
    """Register ``model_uri`` under ``name``; it becomes champion if first, or if it beats the champion.

    ``X_test_raw``/``y_test``: the search's test rows, before preprocessing (none with
    ``--test-size 0``); both models are scored on them with ``metric``. Nothing is
    registered when the new model itself cannot be loaded or scored on them.
    """
    from tuner.shipping.mlflow_model import example_frame, load_model

    current = _champion(tracking_uri, name)
    model = load_model(tracking_uri, model_uri)
    metric = metric if isinstance(metric, Metric) else get_metric(metric, model.task)
    X, y = example_frame(X_test_raw), np.asarray(y_test)
    score = _score(model, X, y, metric, model.task) if len(y) else None
    version = _new_version(tracking_uri, model_uri, name)
    result = Registration(
        name, version, model_uri, model.task, version, True, None, metric.name, score, None, len(y), ""
    )
    if current is None:
        result.message = f"version {version} is the first of {name!r}: it is the champion"
    else:
        _challenge(tracking_uri, result, str(current.version), X, y)
    fingerprints = {"test_rows_fingerprint": _rows_fingerprint(X, y)}
    fingerprints["data_fingerprint"] = (model.meta.get("data") or {}).get("fingerprint", "")
    _record(tracking_uri, result, fingerprints)
    return result
