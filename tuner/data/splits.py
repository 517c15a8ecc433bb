"""Rows into train, validation and test splits: how many go where, and stratified when classes allow.

Kept apart from loading so that the rules (the sizes of the three parts, when a split is
stratified, and the error that says how many rows would do) read in one place and are
tested directly, without a file (``tests/data/test_splits.py``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tuner.data.checks import CLASS_TASKS
from tuner.errors import TunerError

TEST_FRACTION = 0.2
VALID_FRACTION = 0.2  # of the whole dataset
MIN_CLASS_ROWS = 3  # a class with fewer rows cannot appear in all three splits: not stratified


class Split(NamedTuple):
    """The rows of one dataset, in three parts (the test part empty when ``test_size`` is 0)."""

    X_train: Any
    X_valid: Any
    X_test: Any
    y_train: np.ndarray
    y_valid: np.ndarray
    y_test: np.ndarray


def split_sizes(n: int, test_size: float) -> tuple[int, int, int]:
    """(train, valid, test) rows as :func:`split_rows`' two ``train_test_split`` calls make them."""
    n_test = math.ceil(test_size * n) if test_size > 0 else 0
    n_valid = math.ceil(VALID_FRACTION / (1 - test_size) * (n - n_test))
    return n - n_test - n_valid, n_valid, n_test


def holds_classes(n: int, n_classes: int, test_size: float) -> bool:
    """Whether ``n`` rows split into parts that each have room for one row of every class."""
    train, valid, test = split_sizes(n, test_size)
    return min(train, valid) >= n_classes and (test_size == 0 or test >= n_classes)


def too_few_to_split(name: str, n: int, n_classes: int, test_size: float, why: str = "") -> TunerError:
    """A stratified split needs every class in every part; say how many rows would do."""
    need = next((m for m in range(n, 100 * n) if holds_classes(m, n_classes, test_size)), None)
    sizes = "/".join(map(str, split_sizes(n, test_size)))
    return TunerError(
        f"{name}: {n} rows are too few to split into train/validation/test rows ({sizes}) that each "
        f"hold all {n_classes} classes{why}; give "
        + (f"at least {need} rows" if need else "more rows")
        + (", or --test-size 0 (no test split)" if test_size else "")
    )


def stratify_by(y: np.ndarray, task: str) -> np.ndarray | None:
    """The labels to stratify the split on: a classification target, unless a class is too rare."""
    if task not in CLASS_TASKS:
        return None
    if pd.Series(y).value_counts().min() < MIN_CLASS_ROWS:
        return None  # a class too rare to appear in all three splits
    return y


def split_rows(name: str, X: Any, y: np.ndarray, task: str, seed: int, test_size: float) -> Split:
    """Split the rows with ``seed``: ``test_size`` of them for test (none when 0), 20 % of all
    rows for validation, the rest for training. Classification is stratified (see
    :func:`stratify_by`), so every part holds every class; ``name`` names the data in errors.
    """
    from sklearn.model_selection import train_test_split

    stratify = stratify_by(y, task)
    n_classes = len(pd.unique(y)) if stratify is not None else 0
    if stratify is not None and not holds_classes(len(y), n_classes, test_size):
        raise too_few_to_split(name, len(y), n_classes, test_size)
    try:
        if test_size > 0:
            X_rest, X_test, y_rest, y_test = train_test_split(
                X, y, test_size=test_size, random_state=seed, stratify=stratify
            )
        else:
            X_rest, X_test, y_rest, y_test = X, X[:0], y, y[:0]
        valid_share = VALID_FRACTION / (1 - test_size)
        X_train, X_valid, y_train, y_valid = train_test_split(
            X_rest,
            y_rest,
            test_size=valid_share,
            random_state=seed,
            stratify=y_rest if stratify is not None else None,
        )
    except ValueError as exc:  # a rare class that rounding left too thin for the second split
        if stratify is None:
            raise
        raise too_few_to_split(name, len(y), n_classes, test_size, f" ({exc})") from None
    return Split(X_train, X_valid, X_test, np.asarray(y_train), np.asarray(y_valid), np.asarray(y_test))
