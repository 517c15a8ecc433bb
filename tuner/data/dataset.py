"""Datasets: the :class:`Dataset` a search runs on, loaded once per process by :func:`load_dataset`.

``--data`` takes a dataset bundled with scikit-learn (works offline), an online one
(downloaded by Keras or scikit-learn on first use), or a CSV / Parquet / NPZ file.
The test split is held out here and only ever used to score the returned model.
Preprocessing is *declared* here (:meth:`Dataset.make_preprocessor`) but fitted by
the caller on training rows only.

This module holds the entry points the rest of tuner imports; the steps live apart:
reading a source in :mod:`tuner.data.sources`, checking values and the task in
:mod:`tuner.data.checks`, splitting in :mod:`tuner.data.splits`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.choices import TASKS
from tuner.data.checks import check_task, infer_task
from tuner.data.sources import BUNDLED, FILE_TYPES, ONLINE, is_data_file, read_data
from tuner.data.splits import TEST_FRACTION, VALID_FRACTION, split_rows
from tuner.errors import TunerError

__all__ = [
    "BUNDLED",
    "FILE_TYPES",
    "ONLINE",
    "TEST_FRACTION",
    "VALID_FRACTION",
    "Dataset",
    "infer_task",
    "load_dataset",
]

MIN_ROWS = 10  # a search needs at least this many rows


@dataclass
class Dataset:
    """One dataset, split once: train and validation rows for the search, test rows for the result."""

    name: str
    task: str
    X_train: Any
    y_train: np.ndarray
    X_valid: Any
    y_valid: np.ndarray
    X_test: Any
    y_test: np.ndarray
    fingerprint: str
    categorical_columns: tuple[str, ...] = ()
    seed: int = 42  # the split's, with test_size: another model's split can be rebuilt from them
    test_size: float = TEST_FRACTION
    targets: np.ndarray | None = None  # every row's target, in the data's order
    test_index: np.ndarray | None = None  # the test rows' places in the data

    def test_index_for(self, seed: int, test_size: float) -> np.ndarray:
        """The places of the test rows that a split of this data with ``seed`` and ``test_size`` makes."""
        assert self.targets is not None, "a dataset made by load_dataset"
        rows = np.arange(len(self.targets))
        return split_rows(self.name, rows, self.targets, self.task, seed, test_size).X_test

    def check_folds(self, folds: int, flag: str, *, with_valid: bool = False) -> None:
        """Refuse ``folds`` cross-validation folds that the training rows cannot fill.

        ``with_valid`` counts the validation rows too (the re-check's folds span both).
        scikit-learn's (Stratified)KFold would refuse them only once the search run is
        open and its trials have run; :meth:`tuner.config.SearchConfig.validate` asks first.
        """
        y = np.concatenate([self.y_train, self.y_valid]) if with_valid else self.y_train
        rows = "train and validation rows hold" if with_valid else "train split holds"
        if self.task in ("binary", "multiclass"):  # StratifiedKFold: at most the largest class
            most = int(pd.Series(y).value_counts().max())
            if folds > most:
                raise TunerError(
                    f"{flag} {folds}: the {rows} at most {most} rows of any one class "
                    f"({len(y)} in all), too few for {folds} folds; lower {flag} to {most} or less, "
                    f"or give more rows"
                )
        elif folds > len(y):
            raise TunerError(
                f"{flag} {folds}: the {rows} only {len(y)} rows, too few for {folds} folds; "
                f"lower {flag} to {len(y)} or less, or give more rows"
            )

    @property
    def n_samples(self) -> int:
        return len(self.y_train) + len(self.y_valid) + len(self.y_test)

    @property
    def n_outputs(self) -> int:
        """What a network's output counts: classes (multiclass), labels, targets; binary has one."""
        if self.task == "multiclass":
            return len(np.unique(self.y_train))
        y = np.asarray(self.y_train)
        return y.shape[1] if y.ndim == 2 and self.task != "binary" else 1

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.X_train)[1:])

    def make_preprocessor(self) -> Any:
        """An unfitted transformer for tabular data, or None for images (scaled on load).

        Numeric columns: median imputation + standard scaling. Categorical columns:
        most-frequent imputation + one-hot (unknown categories ignored).
        """
        if len(self.sample_shape) != 1:
            return None
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        if not isinstance(self.X_train, pd.DataFrame):
            return numeric
        categorical = list(self.categorical_columns)
        numeric_cols = [c for c in self.X_train.columns if c not in categorical]
        one_hot = make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        return ColumnTransformer(
            [("numeric", numeric, numeric_cols), ("categorical", one_hot, categorical)],
            sparse_threshold=0.0,
        )


def load_dataset(
    data: str,
    target: str | None = None,
    task: str | None = None,
    seed: int = 42,
    test_size: float = TEST_FRACTION,
) -> Dataset:
    """Load ``data`` once per process and split it train/valid/test with ``seed``.

    The test split is ``test_size`` of the rows (none when 0), validation 20 % of
    all rows, training the rest: 60/20/20 by default. Classification splits are
    stratified, so every split holds every class.

    A file is loaded again when it changed, or when the same relative path names
    another file (another working directory): the cache knows the file, not its name.
    """
    return _load_dataset(data, target, task, seed, test_size, _file_stamp(data))


def _file_stamp(data: str) -> tuple[str, int, int] | None:
    path = Path(data)
    if not is_data_file(data) or not path.is_file():
        return None
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=8)
def _load_dataset(
    data: str, target: str | None, task: str | None, seed: int, test_size: float, stamp: Any
) -> Dataset:
    X, y = read_data(data, target)
    if len(y) < MIN_ROWS:
        raise TunerError(f"{data}: only {len(y)} rows; a search needs at least {MIN_ROWS}")
    if task is not None and task not in TASKS:
        raise TunerError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    forced = task is not None
    task = task or infer_task(y)
    y = check_task(data, task, np.asarray(y), forced)
    split = split_rows(data, X, y, task, seed, test_size)
    # The same split of the rows' places (train_test_split's draw depends on the count, the labels
    # and the seed alone): which rows were held out, to compare with a model split another way.
    test_index = split_rows(data, np.arange(len(y)), y, task, seed, test_size).X_test
    categorical: tuple[str, ...] = ()
    if isinstance(X, pd.DataFrame):
        categorical = tuple(c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]))
    return Dataset(
        name=Path(data).stem if is_data_file(data) else data,
        task=task,
        X_train=split.X_train,
        y_train=split.y_train,
        X_valid=split.X_valid,
        y_valid=split.y_valid,
        X_test=split.X_test,
        y_test=split.y_test,
        fingerprint=_fingerprint(X, y),
        categorical_columns=categorical,
        seed=seed,
        test_size=test_size,
        targets=y,
        test_index=test_index,
    )


def _fingerprint(X: Any, y: np.ndarray) -> str:
    import joblib

    return joblib.hash((X, y))[:16]
