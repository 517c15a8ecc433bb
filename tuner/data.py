"""Datasets: load once, infer the task, split train/valid/test with a seed.

``--data`` takes a dataset bundled with scikit-learn (works offline), an online one
(downloaded by Keras or scikit-learn on first use), or a CSV / Parquet / NPZ file.
The test split is held out here and only ever used to score the returned model.
Preprocessing is *declared* here (:meth:`Dataset.make_preprocessor`) but fitted by
the caller on training rows only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.choices import TASKS
from tuner.errors import TunerError

BUNDLED = ("digits", "breast_cancer", "wine", "iris", "diabetes")
ONLINE = ("mnist", "fashion_mnist", "california_housing")
FILE_TYPES = (".csv", ".parquet", ".npz")
TEST_FRACTION = 0.2
VALID_FRACTION = 0.2  # of the whole dataset


@dataclass
class Dataset:
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

    @property
    def n_samples(self) -> int:
        return len(self.y_train) + len(self.y_valid) + len(self.y_test)

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


def _sklearn_bundled(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn import datasets

    loader: Callable = getattr(datasets, f"load_{name}")
    X, y = loader(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def _online(name: str) -> tuple[Any, np.ndarray]:
    import warnings

    try:
        if name == "california_housing":
            from sklearn.datasets import fetch_california_housing

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Retry downloading..." before the real error
                X, y = fetch_california_housing(return_X_y=True, as_frame=True)
            return X, y.to_numpy()
        from tuner.tf_env import keras

        (X_a, y_a), (X_b, y_b) = getattr(keras.datasets, name).load_data()
    except Exception as exc:  # noqa: BLE001 - any download failure reads the same to a user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TunerError(
            f"could not download dataset {name!r} ({reason}); it needs internet access. "
            f"Offline, use a bundled dataset ({', '.join(BUNDLED)}) or --data FILE"
        ) from None
    X = np.concatenate([X_a, X_b]).astype("float32") / 255.0
    return X, np.concatenate([y_a, y_b])


def _file(path: Path, target: str | None) -> tuple[Any, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            x_key, y_key = "X", target or "y"
            missing = [k for k in (x_key, y_key) if k not in arrays.files]
            if missing:
                raise TunerError(
                    f"{path}: no array named {', '.join(missing)}; it holds: "
                    f"{', '.join(arrays.files)} (features go in 'X', the target in 'y' or --target)"
                )
            return arrays[x_key], arrays[y_key]
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - parser errors are the user's file
        raise TunerError(f"{path}: could not read {suffix[1:]} file: {str(exc).splitlines()[0]}") from None
    if not target:
        raise TunerError(
            f"{path}: say which column to predict with --target COLUMN (columns: {', '.join(map(str, frame.columns))})"
        )
    columns = [c.strip() for c in target.split(",")]
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise TunerError(
            f"{path}: target column {', '.join(map(repr, absent))} not found; columns are: "
            f"{', '.join(map(str, frame.columns))}"
        )
    y = frame[columns].to_numpy() if len(columns) > 1 else frame[columns[0]].to_numpy()
    if pd.isna(y).any():
        raise TunerError(f"{path}: the target {target!r} has missing values; drop those rows first")
    return frame.drop(columns=columns), y


def _raw(data: str, target: str | None) -> tuple[Any, np.ndarray]:
    if data in BUNDLED:
        return _sklearn_bundled(data)
    if data in ONLINE:
        return _online(data)
    path = Path(data)
    if path.suffix.lower() in FILE_TYPES:
        if not path.is_file():
            raise TunerError(f"data file not found: {path}")
        return _file(path, target)
    raise TunerError(
        f"unknown dataset {data!r}: give a bundled one ({', '.join(BUNDLED)}), an online one "
        f"({', '.join(ONLINE)}) or a path to a {'/'.join(FILE_TYPES)} file"
    )


def _fingerprint(X: Any, y: np.ndarray) -> str:
    import joblib

    return joblib.hash((X, y))[:16]


@functools.lru_cache(maxsize=8)
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
    """
    from sklearn.model_selection import train_test_split

    X, y = _raw(data, target)
    if len(y) < 10:
        raise TunerError(f"{data}: only {len(y)} rows; a search needs at least 10")
    if task is not None and task not in TASKS:
        raise TunerError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    task = task or infer_task(y)
    if task == "regression":
        y = np.asarray(y, dtype="float32")
    stratify = y if task in ("binary", "multiclass") else None
    if stratify is not None and pd.Series(y).value_counts().min() < 3:
        stratify = None  # a class too rare to appear in all three splits
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
    categorical: tuple[str, ...] = ()
    if isinstance(X, pd.DataFrame):
        categorical = tuple(c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]))
    return Dataset(
        name=Path(data).stem if Path(data).suffix.lower() in FILE_TYPES else data,
        task=task,
        X_train=X_train,
        y_train=np.asarray(y_train),
        X_valid=X_valid,
        y_valid=np.asarray(y_valid),
        X_test=X_test,
        y_test=np.asarray(y_test),
        fingerprint=_fingerprint(X, y),
        categorical_columns=categorical,
    )
