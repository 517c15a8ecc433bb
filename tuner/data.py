"""Datasets: load once, infer the task, split train/valid/test with a seed.

``--data`` takes a dataset bundled with scikit-learn (works offline), an online one
(downloaded by Keras or scikit-learn on first use), or a CSV / Parquet / NPZ file.
The test split is held out here and only ever used to score the returned model.
Preprocessing is *declared* here (:meth:`Dataset.make_preprocessor`) but fitted by
the caller on training rows only.
"""

from __future__ import annotations

import functools
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.choices import TASKS
from tuner.errors import TunerError, first_line

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
        reason = first_line(exc)
        raise TunerError(
            f"could not download dataset {name!r} ({reason}); it needs internet access. "
            f"Offline, use a bundled dataset ({', '.join(BUNDLED)}) or --data FILE"
        ) from None
    X = np.concatenate([X_a, X_b]).astype("float32") / 255.0
    return X, np.concatenate([y_a, y_b])


def _not_utf8(path: Path) -> TunerError:
    """Where a CSV stops being UTF-8 (pandas only says which byte of which chunk)."""
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return TunerError(
                    f"{path}: not UTF-8 text (byte 0x{line[exc.start]:02x} on line {number}); save it as "
                    f"UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > utf8-{path.name}"
                )
    return TunerError(f"{path}: not UTF-8 text; save it as UTF-8")


def _read_table(path: Path, suffix: str) -> pd.DataFrame:
    """A CSV or Parquet file as a frame, or a TunerError saying what the file really is."""
    if path.stat().st_size == 0:
        raise TunerError(f"{path}: the file is empty; give a table with a header row and data rows")
    if suffix == ".csv":
        with path.open("rb") as f:
            head = f.read(8192)
        if b"\x00" in head:  # pandas would parse some binary files as a one-column table
            raise TunerError(
                f"{path}: not a CSV text file (it holds binary data); export the table as "
                f"comma-separated text, or name the file for what it is ({', '.join(FILE_TYPES)})"
            )
        try:
            frame = pd.read_csv(path)
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        except Exception as exc:  # noqa: BLE001 - parser errors are the user's file
            raise TunerError(
                f"{path}: could not read csv file: {first_line(exc)}; give comma-separated text "
                f"with one header row"
            ) from None
    else:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - a corrupt or mislabelled file is the user's
            raise TunerError(
                f"{path}: not a readable Parquet file ({first_line(exc)}); write it with "
                f"pandas' DataFrame.to_parquet, or give a .csv file"
            ) from None
    if frame.empty:
        raise TunerError(
            f"{path}: a header ({', '.join(map(str, frame.columns))}) but no data rows; give a file with rows"
        )
    return frame


def _read_npz(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    save = f"numpy.savez({path.name!r}, X=features, y=target)"
    if not zipfile.is_zipfile(path):  # np.load would try to unpickle it, or return a lone array
        raise TunerError(f"{path}: not an .npz archive; save the arrays with {save}")
    x_key, y_key = "X", target or "y"
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in (x_key, y_key) if k not in arrays.files]
            if missing:
                raise TunerError(
                    f"{path}: no array named {', '.join(missing)}; it holds: "
                    f"{', '.join(arrays.files) or 'nothing'} (features go in 'X', the target in 'y' or "
                    f"--target)"
                )
            X, y = arrays[x_key], arrays[y_key]
    except TunerError:
        raise
    except Exception as exc:  # noqa: BLE001 - object arrays, a damaged archive: the user's file
        raise TunerError(
            f"{path}: could not read npz file: {first_line(exc)}; save numeric arrays with {save}"
        ) from None
    if X.ndim < 2:
        raise TunerError(
            f"{path}: 'X' has shape {X.shape}; it needs one row per sample and its features as columns "
            f"(shape (rows, features)); for one feature use X.reshape(-1, 1)"
        )
    if len(X) != len(y):
        raise TunerError(
            f"{path}: 'X' has {len(X)} rows but {y_key!r} has {len(y)}; they need one target value "
            f"per row of features"
        )
    if X.dtype.kind not in "biuf":
        raise TunerError(
            f"{path}: 'X' holds {X.dtype} values; features in an .npz must be numbers "
            f"(use a CSV or Parquet file for text columns)"
        )
    return X, y


def _file(path: Path, target: str | None) -> tuple[Any, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        X, y = _read_npz(path, target)
        _check_values(path, X, y, repr(target or "y"))
        return X, y
    frame = _read_table(path, suffix)
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
    X = frame.drop(columns=columns)
    if X.shape[1] == 0:
        raise TunerError(
            f"{path}: no feature columns besides the target {target!r}; give a file with the "
            f"columns to predict from"
        )
    _check_values(path, X, y, repr(target))
    return X, y


def _check_values(path: Path, X: Any, y: np.ndarray, target: str) -> None:
    """Refuse missing targets and infinite features: training would turn them into NaN losses.

    Missing *features* are fine in tables: :meth:`Dataset.make_preprocessor` imputes them
    (median, or most frequent for categories) on the training rows. Arrays with more than
    two axes (images) are not preprocessed, so there they are refused too.
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
        values = np.asarray(X)
        bad = []
        if values.dtype.kind == "f":  # integers are always finite
            if values.ndim > 2 and np.isnan(values).any():
                raise TunerError(
                    f"{path}: 'X' has {int(np.isnan(values).sum())} missing (NaN) value(s); arrays of "
                    f"more than two axes are used as they are, so fill or drop them first"
                )
            flat = values.reshape(len(values), -1)
            bad = [str(i) for i in np.flatnonzero(np.isinf(flat).any(axis=0))]
        where = f"'X' column(s) {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}"
    if bad:
        raise TunerError(
            f"{path}: infinite values in {where}; replace them (with a finite value, or leave the "
            f"cell empty to have it imputed) or drop those rows"
        )


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
    if path.suffix and path.is_file():
        raise TunerError(
            f"{path}: unknown file type {path.suffix!r}; give a {'/'.join(FILE_TYPES)} file "
            f"(a CSV under another name: rename it to {path.stem}.csv)"
        )
    raise TunerError(
        f"unknown dataset {data!r}: give a bundled one ({', '.join(BUNDLED)}), an online one "
        f"({', '.join(ONLINE)}) or a path to a {'/'.join(FILE_TYPES)} file"
    )


def _fingerprint(X: Any, y: np.ndarray) -> str:
    import joblib

    return joblib.hash((X, y))[:16]


def _check_task(name: str, task: str, y: np.ndarray, forced: bool) -> np.ndarray:
    """Refuse a target the task cannot learn; return it as the task trains on it.

    A one-class target would "train" (every prediction right, nothing learnt), a third
    class under ``--task binary`` would be squeezed into one sigmoid unit, and a text
    target under ``--task regression`` fails deep inside NumPy: each ends here instead.
    """
    flag = f"--task {task}" if forced else f"the inferred task ({task})"
    if task in ("binary", "multiclass"):
        if y.ndim == 2 and y.shape[1] > 1:
            raise TunerError(
                f"{name}: {flag} takes one target column, not {y.shape[1]}; give one --target, "
                f"or --task multilabel"
            )
        classes = pd.unique(y.ravel())
        if len(classes) < 2:
            raise TunerError(
                f"{name}: the target has one class ({_plain(classes[0])!r}) in every row; a classifier needs "
                f"at least two: check --target and the rows of the file"
            )
        if task == "binary" and len(classes) > 2:
            shown = ", ".join(repr(_plain(c)) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
            raise TunerError(
                f"{name}: --task binary needs exactly 2 classes; the target has {len(classes)} "
                f"({shown}): use --task multiclass"
            )
        return y
    if task == "multilabel":
        if y.ndim != 2 or y.shape[1] < 2:
            raise TunerError(
                f"{name}: --task multilabel needs two or more 0/1 target columns (--target a,b); "
                f"for one target column use --task binary or multiclass"
            )
        values = set(pd.unique(y.ravel()).tolist())
        if not values <= {0, 1}:
            raise TunerError(
                f"{name}: multilabel targets must be 0 or 1; found "
                f"{', '.join(sorted(repr(_plain(v)) for v in values - {0, 1})[:5])}: use --task regression"
            )
        return y
    try:
        numbers = np.asarray(y, dtype="float32")
    except (TypeError, ValueError):
        example = next((v for v in y.ravel() if not _is_number(v)), y.ravel()[0])
        raise TunerError(
            f"{name}: {flag} needs a numeric target, but it holds {_plain(example)!r}; drop --task "
            f"regression to classify it, or pick a numeric --target"
        ) from None
    if numbers.size and np.all(numbers == numbers.flat[0]):
        raise TunerError(
            f"{name}: the target is {numbers.flat[0]:g} in every row; there is nothing to predict: "
            f"check --target and the rows of the file"
        )
    return numbers


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _split_sizes(n: int, test_size: float) -> tuple[int, int, int]:
    """(train, valid, test) rows as :func:`load_dataset`'s two ``train_test_split`` calls make them."""
    n_test = math.ceil(test_size * n) if test_size > 0 else 0
    n_valid = math.ceil(VALID_FRACTION / (1 - test_size) * (n - n_test))
    return n - n_test - n_valid, n_valid, n_test


def _holds_classes(n: int, n_classes: int, test_size: float) -> bool:
    train, valid, test = _split_sizes(n, test_size)
    return min(train, valid) >= n_classes and (test_size == 0 or test >= n_classes)


def _too_few_to_split(name: str, n: int, n_classes: int, test_size: float, why: str = "") -> TunerError:
    """A stratified split needs every class in every part; say how many rows would do."""
    need = next((m for m in range(n, 100 * n) if _holds_classes(m, n_classes, test_size)), None)
    sizes = "/".join(map(str, _split_sizes(n, test_size)))
    return TunerError(
        f"{name}: {n} rows are too few to split into train/validation/test rows ({sizes}) that each "
        f"hold all {n_classes} classes{why}; give "
        + (f"at least {need} rows" if need else "more rows")
        + (", or --test-size 0 (no test split)" if test_size else "")
    )


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, so messages read 1, not np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value


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
    if path.suffix.lower() not in FILE_TYPES or not path.is_file():
        return None
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=8)
def _load_dataset(
    data: str, target: str | None, task: str | None, seed: int, test_size: float, stamp: Any
) -> Dataset:
    from sklearn.model_selection import train_test_split

    X, y = _raw(data, target)
    if len(y) < 10:
        raise TunerError(f"{data}: only {len(y)} rows; a search needs at least 10")
    if task is not None and task not in TASKS:
        raise TunerError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    forced = task is not None
    task = task or infer_task(y)
    y = _check_task(data, task, np.asarray(y), forced)
    stratify = y if task in ("binary", "multiclass") else None
    if stratify is not None and pd.Series(y).value_counts().min() < 3:
        stratify = None  # a class too rare to appear in all three splits
    n_classes = len(pd.unique(y)) if stratify is not None else 0
    if stratify is not None and not _holds_classes(len(y), n_classes, test_size):
        raise _too_few_to_split(data, len(y), n_classes, test_size)
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
        raise _too_few_to_split(data, len(y), n_classes, test_size, f" ({exc})") from None
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
