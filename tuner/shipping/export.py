"""The returned model as a folder that loads without pickle: Keras' format, skops and JSON.

The cloudpickled scikit-learn pipeline it replaces ran code on load and needed tuner's
own classes wherever it loaded. The folder needs neither: ``model.keras`` (the fitted
network), ``preprocessing.skops`` (the fitted preprocessing, tables and 2-D arrays
only) and ``model.json`` (inputs, task, classes, target scaling, versions). A network
with layers of the user's own also carries its file in ``code/``, which loading runs
(Keras' safe mode stays on: a registered class loads, a ``Lambda`` does not). The finish
step writes it and logs it inside an MLflow model (:mod:`tuner.shipping.mlflow_model`); ``tuner
export`` copies it out; ``tuner predict`` reads it. Writing needs tuner's estimator;
reading is :mod:`tuner.serving.model_folder`, which imports nothing from tuner.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.errors import TunerError, first_line
from tuner.serving.model_folder import (
    CODE_FOLDER,
    FORMAT,
    FORMAT_VERSION,
    KERAS_FILE,
    META_FILE,
    PLAIN_FORMAT_VERSION,
    PREPROCESSING_FILE,
    FolderModel,
    ModelFolderError,
    ModelInputError,
)

LIBRARIES = ("tensorflow", "keras", "scikit-learn", "skops", "numpy", "pandas")


def target_names(target: str | Sequence[str] | None, y: np.ndarray, default: str = "target") -> list[str]:
    """The target column(s) by name: ``--target a,b`` as given; unnamed, ``default`` or ``default_<i>``.

    Unnamed targets are scikit-learn's bundled datasets' (``target``) and an .npz file's (``y``).
    """
    width = 1 if np.ndim(y) < 2 else np.shape(y)[1]
    names = [t.strip() for t in target.split(",")] if isinstance(target, str) else list(target or [])
    if len(names) == width:
        return [str(n) for n in names]
    base = names[0] if len(names) == 1 else default
    return [base] if width == 1 else [f"{base}_{i}" for i in range(width)]


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a model folder needs to load (and Python's)."""
    from tuner.versions import library_versions as installed

    return installed(LIBRARIES)


def _input_spec(dataset: Any) -> dict[str, Any]:
    """What the model reads: named, typed columns (tables) or samples of a shape (arrays)."""
    X = dataset.X_train
    if isinstance(X, pd.DataFrame):
        categorical = set(dataset.categorical_columns)
        columns = [
            {"name": str(c), "dtype": str(X[c].dtype), "kind": "category" if c in categorical else "number"}
            for c in X.columns
        ]
        return {"kind": "table", "columns": columns, "sample_shape": [len(columns)]}
    return {"kind": "array", "sample_shape": list(dataset.sample_shape), "dtype": str(np.asarray(X).dtype)}


def _python_values(values: Any) -> list[Any]:
    return np.asarray(values).tolist()


def describe(estimator: Any, dataset: Any, target: str | Sequence[str] | None = None) -> dict[str, Any]:
    """The contents of ``model.json`` for a fitted estimator trained on ``dataset``."""
    from tuner.distribution import installed_version

    task, spec = dataset.task, _input_spec(dataset)
    target = target if target is not None else getattr(dataset, "target", None)
    names = target_names(target, dataset.y_train, "target" if spec["kind"] == "table" else "y")
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": PLAIN_FORMAT_VERSION,
        "tuner_version": installed_version(),
        "task": task,
        "input": spec,
        "targets": names,
        "data": {"name": dataset.name, "fingerprint": dataset.fingerprint},
    }
    if task == "regression":  # the estimator trains on standardized targets and scales predictions back
        encoder = estimator.target_encoder_
        meta["target_scaling"] = {
            "mean": _python_values(np.atleast_1d(encoder.mean_)),
            "scale": _python_values(np.atleast_1d(encoder.scale_)),
        }
    elif task == "multilabel":
        meta["labels"] = names
    else:
        meta["classes"] = _python_values(estimator.classes_)
    meta["libraries"] = library_versions()
    return meta


def save_model_folder(
    estimator: Any,
    preprocessor: Any,
    dataset: Any,
    folder: str | Path,
    *,
    target: str | Sequence[str] | None = None,
    network_file: str | None = None,
) -> None:
    """Write the model folder of a fitted estimator (and its fitted preprocessing, or None).

    ``dataset`` is the :class:`tuner.data.dataset.Dataset` it was trained on (its columns, task
    and target shape); ``target`` names the target column(s) as ``--target`` does;
    ``network_file`` is the build function's file, copied in when the model has layers of its own.
    """
    import skops.io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = describe(estimator, dataset, target)
    meta.update(_copy_code(estimator.model_, network_file, folder))
    if meta.get("custom_code"):  # a loader from before code travelled says "newer format", not Keras' error
        meta["format_version"] = FORMAT_VERSION
    estimator.model_.save(folder / KERAS_FILE)  # loaded uncompiled: the optimizer's state is never read
    if preprocessor is not None:
        skops.io.dump(preprocessor, folder / PREPROCESSING_FILE, compression=zipfile.ZIP_DEFLATED)
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def _copy_code(model: Any, network_file: str | None, folder: Path) -> dict[str, list[str]]:
    """The network's file, in ``code/``, for a model with layer classes that are not Keras' own:
    Keras loads them only once the file that registers them has run. Keras' own layers need no code."""
    from tuner.networks.contract import custom_layers

    classes = custom_layers(model)
    if not classes:
        return {}
    if not network_file:  # a function object: nothing to copy; the loader names the class it lacks
        return {"custom_classes": classes}
    relative = f"{CODE_FOLDER}/{Path(network_file).name}"
    (folder / CODE_FOLDER).mkdir(exist_ok=True)
    shutil.copyfile(network_file, folder / relative)
    return {"custom_code": [relative], "custom_classes": classes}


class LoadedModel:
    """A loaded model folder; its mistakes about input rows are :class:`TunerError` s."""

    def __init__(self, model: FolderModel):
        self._model = model

    @property
    def meta(self) -> dict[str, Any]:
        return self._model.meta

    @property
    def task(self) -> str:
        return self._model.task

    @property
    def input_columns(self) -> list[str] | None:
        return self._model.input_columns

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for ``frame``'s rows; TunerError (one line) for missing or mistyped columns."""
        try:
            return self._model.predict_frame(frame)
        except ModelInputError as exc:
            raise TunerError(str(exc)) from None


def load_model_folder(folder: str | Path) -> LoadedModel:
    """Load a model folder (``tuner export``'s, or the artifact inside a logged model)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TunerError(f"{folder}: no such model folder")
    import tuner.processes.tensorflow_env  # noqa: F401 - Keras, imported quietly (TensorFlow's start-up chatter goes to fd 2)

    try:
        return LoadedModel(FolderModel(folder))
    except ModelFolderError as exc:
        raise TunerError(str(exc)) from None
    except (OSError, ValueError) as exc:  # a damaged or truncated file
        raise TunerError(f"{folder}: could not load the model ({first_line(exc)})") from None
