"""The score a search optimises, computed the same way everywhere.

Each metric has a Keras name (watched every epoch by EarlyStopping and the pruner,
as ``val_<name>``) and a NumPy function (the final validation, CV and test scores),
so the per-epoch curve and the final score measure the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error

from tuner.errors import TunerError

T = TypeVar("T")


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # Our own, not sklearn's accuracy_score: that one counts a multilabel row right only
    # when every label is; we report per-label accuracy, as Keras' BinaryAccuracy does.
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(mean_squared_error(y_true, np.reshape(y_pred, np.shape(y_true))))


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(mean_absolute_error(y_true, np.reshape(y_pred, np.shape(y_true))))


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

    def best(self, items: Iterable[T], key: Callable[[T], Any] = lambda v: v) -> T | None:
        """The best of ``items`` by this metric's direction (``key`` gives each one's value)."""
        pick = max if self.greater_is_better else min
        return pick(items, key=key, default=None)

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
