"""The score a search optimises, computed the same way everywhere.

Each metric has a Keras name (watched every epoch by EarlyStopping and the pruner,
as ``val_<name>``) and a NumPy function (the final validation, CV and test scores),
so the per-epoch curve and the final score measure the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tuner.errors import TunerError


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # Per-label accuracy for multilabel targets, as Keras' BinaryAccuracy reports it.
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    diff = np.asarray(y_true, dtype=float).reshape(len(y_true), -1) - np.asarray(y_pred, dtype=float).reshape(
        len(y_pred), -1
    )
    return float(np.mean(diff**2))


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    diff = np.asarray(y_true, dtype=float).reshape(len(y_true), -1) - np.asarray(y_pred, dtype=float).reshape(
        len(y_pred), -1
    )
    return float(np.mean(np.abs(diff)))


@dataclass(frozen=True)
class Metric:
    name: str
    greater_is_better: bool
    compute: Callable[[np.ndarray, np.ndarray], float]
    tasks: tuple[str, ...]

    @property
    def direction(self) -> str:
        return "maximize" if self.greater_is_better else "minimize"

    @property
    def monitor(self) -> str:
        """The Keras log key watched every epoch."""
        return f"val_{self.name}"

    def sklearn_scorer(self) -> Callable:
        from sklearn.metrics import make_scorer

        return make_scorer(self.compute, greater_is_better=self.greater_is_better)


METRICS = {
    "accuracy": Metric("accuracy", True, _accuracy, ("binary", "multiclass", "multilabel")),
    "mse": Metric("mse", False, _mse, ("regression",)),
    "mae": Metric("mae", False, _mae, ("regression",)),
}
DEFAULT_METRIC = {
    "regression": "mse",
    "binary": "accuracy",
    "multiclass": "accuracy",
    "multilabel": "accuracy",
}


def get_metric(name: str | None, task: str) -> Metric:
    """The metric called ``name``, or the task's default when ``name`` is None."""
    name = name or DEFAULT_METRIC[task]
    if name not in METRICS:
        raise TunerError(f"unknown metric {name!r}; choose one of: {', '.join(METRICS)}")
    metric = METRICS[name]
    if task not in metric.tasks:
        allowed = [m for m, spec in METRICS.items() if task in spec.tasks]
        raise TunerError(f"metric {name!r} does not apply to a {task} task; use one of: {', '.join(allowed)}")
    return metric
