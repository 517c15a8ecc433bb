"""The MLflow pyfunc of a tuner model, logged "from code": loading it unpickles nothing.

MLflow runs this file to load the model (``mlflow.pyfunc.load_model``, ``mlflow models
predict`` and ``serve``); ``load_context`` reads the model folder logged as the
artifact ``model`` and ``predict`` returns a frame of predictions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

# No import from tuner here: the model loads where tuner is not installed. The folder
# reader ships beside this file (the model's code_paths) and is loaded by its path.
LOADER_FILE = "model_folder.py"


def _loader() -> ModuleType:
    """The folder reader: beside this file in tuner's source, in ``code/`` inside a logged model."""
    here = Path(__file__).resolve().parent
    path = next((p for p in (here / LOADER_FILE, here / "code" / LOADER_FILE) if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"{LOADER_FILE} is missing beside {here} and in {here / 'code'}")
    name = "tuner_model_folder_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


class TunerModel(PythonModel):
    """A tuner model folder behind MLflow's pyfunc interface."""

    def load_context(self, context: Any) -> None:
        self.model = _loader().load_folder(context.artifacts["model"])

    # A DataFrame hint: MLflow infers no schema from it (the logged signature is the schema).
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        try:
            return self.model.predict_frame(model_input)
        except _loader().ModelInputError as exc:  # the caller's rows: a 400 from a server, not a 500
            raise MlflowException.invalid_parameter_value(str(exc)) from None


mlflow.models.set_model(TunerModel())
