"""Read a tuner model folder and predict with it: no pickle, and no tuner needed.

A model folder holds ``model.keras`` (Keras' own format, loaded in safe mode and not
compiled), ``preprocessing.skops`` (the fitted scikit-learn preprocessing, loaded by
skops with an explicit list of trusted types; absent when the model has none) and
``model.json`` (inputs, task, classes, target scaling). Loading it runs no code from
the folder, unlike the cloudpickled pipeline it replaces, but one case: a network with
layers of the user's own (classes registered with Keras) carries the file that defines
them in ``code/``, which ``model.json`` lists and which runs before Keras loads the model.

This file imports nothing from ``tuner`` (only NumPy, pandas and, on load, Keras and
skops): it ships inside every logged MLflow model and runs where tuner is not installed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KERAS_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.skops"
META_FILE = "model.json"
CODE_FOLDER = "code"  # the user's layer classes, for a network that has some
FORMAT = "tuner-model-folder"
FORMAT_VERSION = 2  # what this loader reads: 2 adds the network's code (code/, custom_code)
PLAIN_FORMAT_VERSION = 1  # a folder of Keras' own layers stays readable by every loader
PREDICT_CHUNK = 8192  # rows per direct model call
# The types skops may rebuild beyond its own safe defaults. tuner's preprocessing (imputers,
# scalers and one-hot encoding in a ColumnTransformer or a Pipeline) needs only these; the
# tests compute the untrusted types of every preprocessor tuner makes and check them here.
TRUSTED_TYPES = ["numpy.dtype"]
_MISSING_CLASS = re.compile(r"Could not locate class '([^']+)'")  # Keras' words for an unknown class


def predict(model: Any, X: np.ndarray, chunk: int = PREDICT_CHUNK) -> np.ndarray:
    """A Keras model's outputs for ``X`` by direct calls, ``chunk`` rows at a time.

    ``model.predict`` builds an input pipeline and traces a predict step on every new
    model, which for a small model costs far more than the arithmetic. Written here, where
    a model is served without tuner installed, and used by tuner's trials too
    (the trial unit calls this one): one chunked predict.
    """
    import keras

    if len(X) == 0:
        return np.zeros((0, *model.output_shape[1:]), dtype="float32")
    parts = [
        keras.ops.convert_to_numpy(model(X[i : i + chunk], training=False)) for i in range(0, len(X), chunk)
    ]
    return np.concatenate(parts)


class ModelInputError(ValueError):
    """Rows that do not fit the model: missing columns, text where numbers belong."""


class ModelFolderError(ValueError):
    """A folder that is not a model folder this loader can read."""


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META_FILE
    if not path.is_file():
        raise ModelFolderError(f"{folder}: no {META_FILE}; not a model folder made by tuner export")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ModelFolderError(f"{path}: not a tuner model description (format {meta.get('format')!r})")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFolderError(
            f"{path}: format version {meta['format_version']} is newer than this loader's "
            f"({FORMAT_VERSION}); load it with the tuner version that made it ({meta.get('tuner_version')})"
        )
    return meta


def _load_preprocessor(path: Path) -> Any:
    import skops.io

    untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ModelFolderError(
            f"{path}: holds types this loader does not trust ({', '.join(untrusted)}); "
            f"it was not written by tuner, or was changed since"
        )
    return skops.io.load(path, trusted=TRUSTED_TYPES)


def _run_code(folder: Path, meta: dict[str, Any]) -> None:
    """Run the folder's code files, each once per process: Keras finds a custom layer class
    by the name its ``@keras.saving.register_keras_serializable()`` registered, so that must run first."""
    for relative in meta.get("custom_code") or []:
        path = folder / relative
        if not path.is_file():
            raise ModelFolderError(
                f"{folder}: {KERAS_FILE} needs layer class {', '.join(meta.get('custom_classes') or ['?'])} "
                f"from {relative}, which is missing: put the network's file back there (loading runs its code)"
            )
        _run_file(path)


def _run_file(path: Path) -> None:
    """Run ``path`` as a module of its own, named after its content (the same file runs once)."""
    source = path.read_bytes()
    name = f"tuner_model_code_{path.stem}_{hashlib.sha256(source).hexdigest()[:12]}"
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - the code the folder declares
    except Exception as exc:  # noqa: BLE001 - the user's file, where it loads: one line saying so
        del sys.modules[name]
        message = str(exc).strip().splitlines()
        raise ModelFolderError(
            f"{path}: running the model's code raised {type(exc).__name__}: {message[0] if message else ''}"
        ) from None


def _load_keras(folder: Path, meta: dict[str, Any]) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    _run_code(folder, meta)
    try:
        return keras.saving.load_model(folder / KERAS_FILE, compile=False, safe_mode=True)
    except TypeError as exc:  # a layer class nobody registered in this process
        missing = _MISSING_CLASS.search(str(exc))
        if missing is None:
            raise
        code = ", ".join(meta.get("custom_code") or [])
        fix = (
            f"which {code} does not register: decorate it there with @keras.saving.register_keras_serializable()"
            if code
            else "whose code the folder does not carry: run the file that registers it before loading"
        )
        raise ModelFolderError(f"{folder / KERAS_FILE}: needs layer class {missing[1]!r}, {fix}") from None


def _names(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values)


class FolderModel:
    """A model folder, loaded: ``predict_frame`` takes raw rows and returns a frame of predictions."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.folder = folder
        self.meta = _read_meta(folder)
        prep = folder / PREPROCESSING_FILE
        self.preprocessor = _load_preprocessor(prep) if prep.is_file() else None
        self.keras_model = _load_keras(folder, self.meta)

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def input_columns(self) -> list[str] | None:
        """The columns a table model reads, in order; None for array models (read by position)."""
        spec = self.meta["input"]
        return [c["name"] for c in spec["columns"]] if spec["kind"] == "table" else None

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for the rows of ``frame`` (same order); target columns in it are ignored."""
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        X = self._table(frame) if self.meta["input"]["kind"] == "table" else self._array(frame)
        shape = (len(frame), *self.keras_model.input_shape[1:])
        if len(frame) == 0:  # checked, but nothing to transform (scikit-learn refuses empty input)
            return self._outputs(self._raw(np.zeros(shape, dtype="float32")))
        if self.preprocessor is not None:
            X = self.preprocessor.transform(X)
        return self._outputs(self._raw(np.asarray(X, dtype="float32").reshape(shape)))

    def _table(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns = self.meta["input"]["columns"]
        missing = [c["name"] for c in columns if c["name"] not in frame.columns]
        if missing:
            raise ModelInputError(
                f"missing column(s) {_names(missing)}: the model reads {len(columns)} column(s), "
                f"{_names([c['name'] for c in columns][:20])}{' ...' if len(columns) > 20 else ''}"
            )
        return pd.DataFrame(
            {c["name"]: _column(frame[c["name"]], c) for c in columns}, index=range(len(frame))
        )

    def _array(self, frame: pd.DataFrame) -> np.ndarray:
        targets = set(self.meta.get("targets") or [])
        frame = frame[[c for c in frame.columns if str(c) not in targets]]
        shape = self.meta["input"]["sample_shape"]
        width = math.prod(shape)
        if frame.shape[1] != width:
            raise ModelInputError(
                f"the model reads {width} feature column(s) (samples of shape {'x'.join(map(str, shape))}, "
                f"flattened); the data has {frame.shape[1]}"
            )
        text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if text:
            raise ModelInputError(f"column(s) {_names(text[:10])} hold text where the model expects numbers")
        return frame.to_numpy(dtype="float64")

    def _raw(self, X: np.ndarray) -> np.ndarray:
        """The Keras model's outputs, by direct calls (no input pipeline, no traced predict step)."""
        return predict(self.keras_model, X)

    def _outputs(self, raw: np.ndarray) -> pd.DataFrame:
        """Raw outputs as the estimator reads them: labels and probabilities, or targets in their units."""
        task, meta = self.task, self.meta
        if task == "regression":
            scaling = meta["target_scaling"]
            values = raw * np.asarray(scaling["scale"], "float64") + np.asarray(scaling["mean"], "float64")
            return _per_target("prediction", meta["targets"], values)
        if task == "multilabel":
            labels = meta["labels"]
            out = _per_target("prediction", labels, np.around(raw).astype(int))
            return out.join(_per_target("proba", labels, raw, always_suffix=True))
        classes = np.asarray(meta["classes"])
        proba = np.column_stack([1 - raw[:, 0], raw[:, 0]]) if task == "binary" else raw
        out = pd.DataFrame({"prediction": classes[np.argmax(proba, axis=1)]})
        for i, label in enumerate(meta["classes"]):
            out[f"proba_{label}"] = proba[:, i]
        return out


def _per_target(
    prefix: str, names: list[str], values: np.ndarray, *, always_suffix: bool = False
) -> pd.DataFrame:
    """One column per output: ``prefix`` alone for a single output, else ``prefix_<name>``."""
    values = values.reshape(len(values), -1)
    if len(names) == 1 and not always_suffix:
        return pd.DataFrame({prefix: values[:, 0]})
    return pd.DataFrame({f"{prefix}_{name}": values[:, i] for i, name in enumerate(names)})


def _column(values: pd.Series, spec: dict[str, Any]) -> pd.Series:
    """One input column as the preprocessing was fitted on it, or ModelInputError naming it."""
    values = values.reset_index(drop=True)
    if spec["kind"] == "category":  # categories are text; numbers read from a CSV become their text
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return values.astype(object).where(values.isna(), values.astype(str))
        return values
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna() & values.notna()]
    if len(bad):
        raise ModelInputError(
            f"column {spec['name']!r} holds text ({bad.iloc[0]!r} in data row {int(bad.index[0]) + 1}) "
            f"where the model expects numbers ({spec['dtype']})"
        )
    return numbers


def load_folder(folder: str | Path) -> FolderModel:
    """Load a model folder written by ``tuner export`` (or found inside a logged MLflow model)."""
    return FolderModel(folder)
