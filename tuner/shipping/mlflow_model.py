"""The returned model in MLflow: logged as a pyfunc "from code", found again by URI.

The logged model is the model folder (:mod:`tuner.shipping.export`) as the artifact ``model``,
behind the code file :mod:`tuner.serving.model_code` with the folder reader as its
only ``code_paths``: loading it unpickles nothing and needs no tuner, and its
requirements are public packages only (``tuner`` on the public index is an unrelated
project, so it is never one).

MLflow's fluent ``log_model`` logs into the active run, which only ``tuner.tracking.runs``
may start; :func:`log_model` instead creates the LoggedModel in the run's experiment
and hands its id and the run id to ``mlflow.models.Model.log``, so no run is activated.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.errors import TunerError, first_line
from tuner.redact import redact
from tuner.shipping.export import LoadedModel, load_model_folder

MODEL_NAME = "best_model"
MODEL_TYPE = "tuner-keras"
ARTIFACT = "model"  # the model folder's name among the pyfunc's artifacts
SERVING = Path(__file__).resolve().parents[1] / "serving"  # tuner/serving/
CODE_FILE = SERVING / "model_code.py"
LOADER_FILE = SERVING / "model_folder.py"
REQUIREMENTS = ("tensorflow", "keras", "scikit-learn", "skops", "pandas", "numpy")
# Downloads print a progress bar per model by default; a command prints its own summary.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


def model_requirements() -> list[str]:
    """The packages the logged model needs, pinned to the installed versions (MLflow adds itself)."""
    from importlib import metadata

    pinned = []
    for lib in REQUIREMENTS:
        try:
            pinned.append(f"{lib}=={metadata.version(lib)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned


def warm_up_logging() -> None:
    """Pay ahead what logging a model first costs in a process: skops' import and MLflow's
    index of installed packages, built once per process to check the pinned requirements
    (docs/performance.md). Never fatal: a warm-up that fails leaves the costs where they were.
    """
    try:
        import skops.io  # noqa: F401

        from tuner._compat.mlflow import check_requirements

        check_requirements(model_requirements())
    except Exception:  # noqa: BLE001, S110 - only a head start: log_model pays what is left
        pass


def example_frame(X: Any) -> pd.DataFrame:
    """Raw rows as the model's input frame: a table as it is, arrays flattened to columns x0, x1, ..."""
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    values = np.asarray(X)
    flat = values.reshape(len(values), -1)
    return pd.DataFrame(flat, columns=[f"x{i}" for i in range(flat.shape[1])])


def log_model(tracking_uri: str, run_id: str, folder: str | Path, input_example: Any) -> str:
    """Log the model folder as an MLflow pyfunc model of run ``run_id``; return its ``models:/`` URI.

    ``input_example``: a few raw rows (a frame for tables, an array otherwise); the
    signature is inferred from them and the model's predictions for them.
    """
    import mlflow
    from mlflow.models import Model, infer_signature

    from tuner.tracking.store import client_for

    example = example_frame(input_example)
    with warnings.catch_warnings():  # "integer columns cannot hold missing values": the outputs never do
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(example, load_model_folder(folder).predict_frame(example))
    client = client_for(tracking_uri)
    run = client.get_run(run_id)
    logged = client.create_logged_model(
        run.info.experiment_id,
        name=MODEL_NAME,
        source_run_id=run_id,
        params={k: str(v) for k, v in run.data.params.items()},
        model_type=MODEL_TYPE,
    )
    mlflow.set_tracking_uri(tracking_uri)  # Model.log writes through MLflow's default client
    info = Model.log(
        artifact_path=None,
        name=MODEL_NAME,
        flavor=mlflow.pyfunc,
        run_id=run_id,
        model_id=logged.model_id,
        python_model=str(CODE_FILE),
        artifacts={ARTIFACT: str(folder)},
        code_paths=[str(LOADER_FILE)],
        signature=signature,
        input_example=example,
        pip_requirements=model_requirements(),
    )
    return info.model_uri


def store_client(tracking_uri: str) -> Any:
    """The store's client for reading; TunerError (one line) when there is no such store to read."""
    from tuner.tracking.store import client_for, local_artifact_root

    if (
        local_artifact_root(tracking_uri) is not None
        and not Path(tracking_uri.removeprefix("sqlite:///")).exists()
    ):
        raise TunerError(
            f"no MLflow store at {redact(tracking_uri)} (give --tracking-uri or $MLFLOW_TRACKING_URI)"
        )
    try:
        return client_for(tracking_uri)
    except Exception as exc:  # noqa: BLE001 - an unusable store is the user's to fix
        raise TunerError(f"cannot open the MLflow store {redact(tracking_uri)} ({first_line(exc)})") from None


def logged_model_id(tracking_uri: str, uri: str) -> str:
    """The LoggedModel id behind ``models:/m-...``, ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    from mlflow.exceptions import MlflowException

    target = uri.removeprefix("models:/")
    if target.startswith("m-") and "/" not in target and "@" not in target:
        return target
    match = _REGISTERED.match(uri)
    if not match:
        raise TunerError(
            f"{uri}: give models:/m-<id> (a logged model), models:/NAME@ALIAS or models:/NAME/VERSION "
            f"(a registered one), or an exported folder"
        )
    client, name = store_client(tracking_uri), match["name"]
    try:
        client.get_registered_model(name)
    except MlflowException:
        raise TunerError(f"{uri}: no registered model {name!r} in {redact(tracking_uri)}") from None
    try:
        if match["alias"]:
            version = client.get_model_version_by_alias(name, match["alias"])
        else:
            version = client.get_model_version(name, match["version"])
    except MlflowException:
        what = f"alias {match['alias']!r}" if match["alias"] else f"version {match['version']}"
        raise TunerError(f"{uri}: registered model {name!r} has no {what}") from None
    model_id = getattr(version, "model_id", None) or version.source.removeprefix("models:/")
    return model_id


def fetch_model(tracking_uri: str, uri: str, dst: Path) -> Path:
    """Download the model ``uri`` into ``dst``; return its model folder."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    model_id = logged_model_id(tracking_uri, uri)
    client = store_client(tracking_uri)
    try:
        logged = client.get_logged_model(model_id)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=logged.artifact_location, dst_path=str(dst), tracking_uri=tracking_uri
        )
    except MlflowException as exc:
        raise TunerError(f"{uri}: no such model in {redact(tracking_uri)} ({first_line(exc)})") from None
    return model_folder_of(Path(local), uri)


def model_folder_of(mlflow_model: Path, name: str) -> Path:
    """The model folder inside a downloaded MLflow model (its pyfunc artifact ``model``)."""
    from mlflow.models import Model

    pyfunc = Model.load(str(mlflow_model)).flavors.get("python_function", {})
    artifact = (pyfunc.get("artifacts") or {}).get(ARTIFACT)
    if not artifact:
        raise TunerError(
            f"{name}: logged in an older, pickled format that tuner no longer loads; "
            f"run the search again to log it as a model folder"
        )
    return mlflow_model / artifact["path"]


def load_model(tracking_uri: str, model: str) -> LoadedModel:
    """Load ``model``: an exported folder, a local MLflow model, or a ``models:/`` URI."""
    path = Path(model)
    if path.is_dir():
        return load_model_folder(model_folder_of(path, model) if (path / "MLmodel").is_file() else path)
    if not model.startswith("models:/"):
        raise TunerError(
            f"{model}: no such folder; give an exported model folder or a models:/ URI "
            f"(models:/m-<id>, models:/NAME@champion, models:/NAME/3)"
        )
    with tempfile.TemporaryDirectory(prefix="tuner-model-") as tmp:
        return load_model_folder(fetch_model(tracking_uri, model, Path(tmp)))
