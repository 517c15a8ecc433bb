"""``tuner predict``: a model and a table of rows in, a file of predictions out.

The model is an exported folder or a ``models:/`` URI (a logged model, or a registered
one by alias or version); either way it is read as a model folder, so predicting here
unpickles nothing and checks its input the same way (missing columns, text where
numbers belong). The output is written whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pandas as pd

from tuner.errors import TunerError, first_line

TABLE_TYPES = (".csv", ".parquet")


def read_rows(data: str | Path) -> pd.DataFrame:
    """The rows of a CSV or Parquet file; TunerError (one line) when it cannot be read as one."""
    path = Path(data)
    suffix = path.suffix.lower()
    if suffix not in TABLE_TYPES:
        raise TunerError(f"{path}: give a {' or '.join(TABLE_TYPES)} file of rows to predict")
    if not path.is_file():
        raise TunerError(f"{path}: no such file")
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a malformed file is the user's to fix
        raise TunerError(f"{path}: could not read it as {suffix[1:]} ({first_line(exc)})") from None


def _check_out(out: Path) -> None:
    if out.suffix.lower() not in TABLE_TYPES:
        raise TunerError(f"--out {out}: name a {' or '.join(TABLE_TYPES)} file for the predictions")
    if out.is_dir():
        raise TunerError(f"--out {out}: is a folder; name a file for the predictions")
    if not out.parent.is_dir():
        raise TunerError(f"--out {out}: folder {out.parent} does not exist")


def write_rows(frame: pd.DataFrame, out: Path) -> None:
    """Write ``frame`` to ``out`` (CSV or Parquet) in one step: a failed write leaves no file."""
    handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        if out.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def predict_file(model: str, data: str, out: str, tracking_uri: str | None = None) -> Path:
    """Predict the rows of ``data`` with ``model``; write them to ``out``; return its path.

    ``model``: an exported folder, ``models:/m-...``, ``models:/NAME@ALIAS`` or
    ``models:/NAME/VERSION``. Nothing is written on error.
    """
    from tuner.shipping.mlflow_model import load_model
    from tuner.tracking.store import resolve_tracking_uri

    out_path = Path(out)
    _check_out(out_path)
    rows = read_rows(data)
    predictions = load_model(resolve_tracking_uri(tracking_uri), model).predict_frame(rows)
    write_rows(predictions, out_path)
    return out_path
