"""Registered models and their champion: a new version takes the alias only by scoring better.

Each registration adds a version. The first version of a name becomes ``champion``;
later, both are scored on the rows neither trained on: the new search's test rows that
the champion's own split held out too (each version records its data's fingerprint and
its split's seed and size, from which its test rows are rebuilt). The new version takes
``champion`` only when it scores better there by the search's metric (the old one keeps
``previous_champion``); with fewer than :data:`MIN_COMPARED_ROWS` such rows, other data,
or a champion that records no split, the alias stays. :attr:`Registration.message` says
why, and the scores and the rows behind them are tags of the new version. Aliases only:
MLflow's stages are deprecated.
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
# Fewer rows unseen by both models than this, and one row decides more than a few points.
MIN_COMPARED_ROWS = 30


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
    champion_score: float | None  # the champion's, on the rows neither trained on
    test_rows: int
    message: str
    compared_rows: int = 0  # this search's test rows that the champion did not train on either
    compared_score: float | None = None  # the new version's score on those rows

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


def _unseen_by_both(tracking_uri: str, name: str, champion: str, split: Any) -> tuple[np.ndarray | None, str]:
    """A mask over this search's test rows: those the champion's split held out too; or None, and why."""
    from tuner.tracking.store import client_for

    tags = client_for(tracking_uri).get_model_version(name, champion).tags
    if split is None:
        return None, "this registration does not know the split of its rows"
    fingerprint, seed, size = (tags.get(TAG + k) for k in ("data_fingerprint", "split_seed", "test_size"))
    if fingerprint != split.fingerprint:
        return None, (
            f"it was trained on other data (fingerprint {fingerprint or 'not recorded'}, this search's "
            f"{split.fingerprint}), so no test row is known to be unseen by both"
        )
    if seed is None or size is None:
        return None, "it records no split, so its training rows are unknown"
    return np.isin(split.test_index, split.test_index_for(int(seed), float(size))), ""


def _challenge(
    tracking_uri: str,
    result: Registration,
    champion: str,
    X: pd.DataFrame,
    y: np.ndarray,
    new: Any,
    split: Any,
) -> None:
    """Let the new version take ``champion`` from version ``champion`` if it scores better on the
    rows neither trained on."""
    from tuner.shipping.mlflow_model import load_model

    version, old, metric = result.version, champion, get_metric(result.metric, result.task)
    result.took_champion, result.champion = False, old
    stays = f"version {version} registered; champion stays version {old}"
    if result.score is None:
        result.message = f"{stays}: this search has no test split (--test-size 0) to compare them on"
        return
    unseen, why = _unseen_by_both(tracking_uri, result.name, old, split)
    if unseen is None:
        result.message = f"{stays}: {why}"
        return
    result.compared_rows = int(unseen.sum())
    if result.compared_rows < MIN_COMPARED_ROWS:
        result.message = (
            f"{stays}: only {result.compared_rows} of this search's {result.test_rows} test rows were held "
            f"out from the champion too (at least {MIN_COMPARED_ROWS} are needed to compare fairly); "
            f"search with the champion's --seed and --test-size to compare on all of them"
        )
        return
    X, y = X.iloc[np.flatnonzero(unseen)], y[unseen]
    try:
        champion_model = load_model(tracking_uri, f"models:/{result.name}/{old}")
        result.champion_score = _score(champion_model, X, y, metric, result.task)
    except TunerError as exc:
        result.message = f"{stays}: it cannot be scored on this search's test rows ({exc})"
        return
    result.compared_score = _score(new, X, y, metric, result.task)
    versus = f"{result.compared_score:.6g} against {result.champion_score:.6g}"
    rows = f"on the {result.compared_rows} test rows neither trained on"
    if _better(metric, result.compared_score, result.champion_score):
        result.took_champion, result.champion, result.previous_champion = True, version, old
        result.message = (
            f"version {version} is the new champion: {metric.name} {versus} for version {old} {rows}"
        )
    else:
        result.message = f"{stays}: {metric.name} {versus} for the champion {rows}"


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
        "compared_rows": result.compared_rows,
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
    split: Any = None,
) -> Registration:
    """Register ``model_uri`` under ``name``; it becomes champion if first, or if it beats the champion.

    ``X_test_raw``/``y_test``: the search's test rows, before preprocessing (none with
    ``--test-size 0``); ``split``: the search's :class:`~tuner.data.dataset.Dataset`, whose
    seed, test size and fingerprint the version records, and which tells the rows the
    champion did not train on either; both models are scored on those with ``metric``.
    Nothing is registered when the new model itself cannot be loaded or scored on them.
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
        _challenge(tracking_uri, result, str(current.version), X, y, model, split)
    fingerprints = {"test_rows_fingerprint": _rows_fingerprint(X, y)}
    fingerprints["data_fingerprint"] = (model.meta.get("data") or {}).get("fingerprint", "")
    if split is not None:  # so that a later version can tell which rows this one trained on
        fingerprints.update(split_seed=split.seed, test_size=split.test_size)
    _record(tracking_uri, result, fingerprints)
    return result
