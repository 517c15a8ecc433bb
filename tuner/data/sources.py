"""Where ``--data`` comes from: a bundled dataset, an online one, or a CSV / Parquet / NPZ file.

Each source gives the raw features and target, ``(X, y)``, before any task check or
split. Reading a user's file is where most input mistakes show up (an empty file,
binary data under ``.csv``, Latin-1 text, a missing column, arrays of the wrong
shape), so each reader turns them into one :class:`TunerError` that says what the
file really is and how to fix it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.data.checks import check_values
from tuner.errors import TunerError, first_line

BUNDLED = ("digits", "digits-images", "breast_cancer", "wine", "iris", "diabetes")
ONLINE = ("mnist", "fashion_mnist", "california_housing")
FILE_TYPES = (".csv", ".parquet", ".npz")


def is_data_file(data: str) -> bool:
    """Whether ``data`` names a file by its type (it may not exist)."""
    return Path(data).suffix.lower() in FILE_TYPES


def read_data(data: str, target: str | None) -> tuple[Any, np.ndarray]:
    """The features and target of ``data``: a bundled or online dataset's name, or a file's path.

    ``target`` names the target column(s) of a table (comma-separated for several), or
    the target's array in an ``.npz`` (``y`` by default).
    """
    if data in BUNDLED:
        return _bundled(data)
    if data in ONLINE:
        return _online(data)
    path = Path(data)
    if is_data_file(data):
        if not path.is_file():
            raise TunerError(f"data file not found: {path}")
        return _read_file(path, target)
    if path.suffix and path.is_file():
        raise TunerError(
            f"{path}: unknown file type {path.suffix!r}; give a {'/'.join(FILE_TYPES)} file "
            f"(a CSV under another name: rename it to {path.stem}.csv)"
        )
    raise TunerError(
        f"unknown dataset {data!r}: give a bundled one ({', '.join(BUNDLED)}), an online one "
        f"({', '.join(ONLINE)}) or a path to a {'/'.join(FILE_TYPES)} file"
    )


def _bundled(name: str) -> tuple[Any, np.ndarray]:
    from sklearn import datasets

    if name == "digits-images":  # the same digits as 8x8 images in [0, 1], for a convolutional network
        digits = datasets.load_digits()
        return (digits.images / 16.0).astype("float32"), digits.target
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
        from tuner.processes.tensorflow_env import keras

        (X_a, y_a), (X_b, y_b) = getattr(keras.datasets, name).load_data()
    except Exception as exc:  # noqa: BLE001 - any download failure reads the same to a user
        reason = first_line(exc)
        raise TunerError(
            f"could not download dataset {name!r} ({reason}); it needs internet access. "
            f"Offline, use a bundled dataset ({', '.join(BUNDLED)}) or --data FILE"
        ) from None
    X = np.concatenate([X_a, X_b]).astype("float32") / 255.0
    return X, np.concatenate([y_a, y_b])


def _read_file(path: Path, target: str | None) -> tuple[Any, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        X, y = _read_npz(path, target)
        check_values(path, X, y, repr(target or "y"))
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
    check_values(path, X, y, repr(target))
    return X, y


def _read_table(path: Path, suffix: str) -> pd.DataFrame:
    """A CSV or Parquet file as a frame, or a TunerError saying what the file really is."""
    if path.stat().st_size == 0:
        raise TunerError(f"{path}: the file is empty; give a table with a header row and data rows")
    frame = _read_csv(path) if suffix == ".csv" else _read_parquet(path)
    if frame.empty:
        raise TunerError(
            f"{path}: a header ({', '.join(map(str, frame.columns))}) but no data rows; give a file with rows"
        )
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    with path.open("rb") as f:
        head = f.read(8192)
    if b"\x00" in head:  # pandas would parse some binary files as a one-column table
        raise TunerError(
            f"{path}: not a CSV text file (it holds binary data); export the table as "
            f"comma-separated text, or name the file for what it is ({', '.join(FILE_TYPES)})"
        )
    try:
        return pd.read_csv(path)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except Exception as exc:  # noqa: BLE001 - parser errors are the user's file
        raise TunerError(
            f"{path}: could not read csv file: {first_line(exc)}; give comma-separated text "
            f"with one header row"
        ) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a corrupt or mislabelled file is the user's
        raise TunerError(
            f"{path}: not a readable Parquet file ({first_line(exc)}); write it with "
            f"pandas' DataFrame.to_parquet, or give a .csv file"
        ) from None


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
    _check_arrays(path, X, y, y_key)
    return X, y


def _check_arrays(path: Path, X: np.ndarray, y: np.ndarray, y_key: str) -> None:
    """An npz's arrays must be a table of numbers, one target value per row."""
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
