"""What a target and its features must be before a search trains on them.

A search that trains on a missing target, an infinite feature or a one-class target
would fail deep inside Keras or NumPy, or "succeed" at learning nothing, once its
runs are open. These checks refuse such data on load with a :class:`TunerError` that
names the value and the fix. The task (``--task``, or :func:`infer_task`'s guess)
decides what a target must be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.errors import TunerError

CLASS_TASKS = ("binary", "multiclass")


def infer_task(y: np.ndarray) -> str:
    """Guess the task from the target: the CLI's ``--task`` overrides it."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        values = np.unique(y)
        return "multilabel" if set(values.tolist()) <= {0, 1} else "regression"
    y = y.ravel()
    n_unique = len(pd.unique(y))
    if not np.issubdtype(y.dtype, np.number):
        return "binary" if n_unique == 2 else "multiclass"
    if y.dtype.kind == "f" and not np.all(np.mod(y[~np.isnan(y)], 1) == 0):
        return "regression"
    if n_unique == 2:
        return "binary"
    return "multiclass" if n_unique <= 50 else "regression"


def check_task(name: str, task: str, y: np.ndarray, forced: bool) -> np.ndarray:
    """Refuse a target the task cannot learn; return it as the task trains on it.

    A one-class target would "train" (every prediction right, nothing learnt), a third
    class under ``--task binary`` would be squeezed into one sigmoid unit, and a text
    target under ``--task regression`` fails deep inside NumPy: each ends here instead.
    ``forced``: the task was given (``--task``), not inferred.
    """
    flag = f"--task {task}" if forced else f"the inferred task ({task})"
    if task in CLASS_TASKS:
        _check_classes(name, task, flag, y)
        return y
    if task == "multilabel":
        _check_labels(name, y)
        return y
    return _numeric_target(name, flag, y)


def _check_classes(name: str, task: str, flag: str, y: np.ndarray) -> None:
    if y.ndim == 2 and y.shape[1] > 1:
        raise TunerError(
            f"{name}: {flag} takes one target column, not {y.shape[1]}; give one --target, "
            f"or --task multilabel"
        )
    classes = pd.unique(y.ravel())
    if len(classes) < 2:
        raise TunerError(
            f"{name}: the target has one class ({_python_value(classes[0])!r}) in every row; a classifier needs "
            f"at least two: check --target and the rows of the file"
        )
    if task == "binary" and len(classes) > 2:
        shown = ", ".join(repr(_python_value(c)) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
        raise TunerError(
            f"{name}: --task binary needs exactly 2 classes; the target has {len(classes)} "
            f"({shown}): use --task multiclass"
        )


def _check_labels(name: str, y: np.ndarray) -> None:
    if y.ndim != 2 or y.shape[1] < 2:
        raise TunerError(
            f"{name}: --task multilabel needs two or more 0/1 target columns (--target a,b); "
            f"for one target column use --task binary or multiclass"
        )
    values = set(pd.unique(y.ravel()).tolist())
    if not values <= {0, 1}:
        raise TunerError(
            f"{name}: multilabel targets must be 0 or 1; found "
            f"{', '.join(sorted(repr(_python_value(v)) for v in values - {0, 1})[:5])}: use --task regression"
        )


def _numeric_target(name: str, flag: str, y: np.ndarray) -> np.ndarray:
    """A regression target as float32 numbers, refused when it holds text or one value only."""
    try:
        numbers = np.asarray(y, dtype="float32")
    except (TypeError, ValueError):
        example = next((v for v in y.ravel() if not _is_number(v)), y.ravel()[0])
        raise TunerError(
            f"{name}: {flag} needs a numeric target, but it holds {_python_value(example)!r}; drop --task "
            f"regression to classify it, or pick a numeric --target"
        ) from None
    if numbers.size and np.all(numbers == numbers.flat[0]):
        raise TunerError(
            f"{name}: the target is {numbers.flat[0]:g} in every row; there is nothing to predict: "
            f"check --target and the rows of the file"
        )
    return numbers


def check_values(path: Path, X: Any, y: np.ndarray, target: str) -> None:
    """Refuse missing targets and infinite features: training would turn them into NaN losses.

    Missing *features* are fine in tables: :meth:`tuner.data.dataset.Dataset.make_preprocessor`
    imputes them (median, or most frequent for categories) on the training rows. Arrays
    with more than two axes (images) are not preprocessed, so there they are refused too.
    ``target`` is the target's name as messages show it.
    """
    missing = pd.isna(y)
    if missing.all():
        raise TunerError(f"{path}: the target {target} has no values (all missing); pick another --target")
    if missing.any():
        raise TunerError(
            f"{path}: the target {target} has {int(missing.sum())} missing value(s); drop those rows first"
        )
    if np.asarray(y).dtype.kind == "f" and np.isinf(y).any():
        raise TunerError(f"{path}: the target {target} has infinite values; drop or fix those rows first")
    if isinstance(X, pd.DataFrame):
        numeric = X.select_dtypes("number")
        bad = [
            str(c) for c in numeric.columns if np.isinf(numeric[c].to_numpy("float64", na_value=np.nan)).any()
        ]
        where = f"column(s) {', '.join(bad)}"
    else:
        bad = _infinite_array_columns(path, np.asarray(X))
        where = f"'X' column(s) {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}"
    if bad:
        raise TunerError(
            f"{path}: infinite values in {where}; replace them (with a finite value, or leave the "
            f"cell empty to have it imputed) or drop those rows"
        )


def _infinite_array_columns(path: Path, values: np.ndarray) -> list[str]:
    """The columns (flattened features) of an array with an infinite value; NaN refused past two axes."""
    if values.dtype.kind != "f":  # integers are always finite
        return []
    if values.ndim > 2 and np.isnan(values).any():
        raise TunerError(
            f"{path}: 'X' has {int(np.isnan(values).sum())} missing (NaN) value(s); arrays of "
            f"more than two axes are used as they are, so fill or drop them first"
        )
    flat = values.reshape(len(values), -1)
    return [str(i) for i in np.flatnonzero(np.isinf(flat).any(axis=0))]


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _python_value(value: Any) -> Any:
    """NumPy scalars as Python values, so messages read 1, not np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value
