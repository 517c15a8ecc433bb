"""Where runs go: the tracking store's URI, its client, and the experiments in it.

The local store (no ``MLFLOW_TRACKING_URI``) is a SQLite database plus artifact folders
inside ``mlruns/``. MLflow is imported only when a store is first opened, so that the
commands that never talk to one (``tuner study status``) answer fast.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.errors import TunerError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_STORE = Path("mlruns")

# MLflow narrates schema migrations and model saving at INFO/WARNING; a search prints
# its own summary. Real problems still surface as exceptions. MLflow sets its loggers'
# level from MLFLOW_LOGGING_LEVEL when it is imported, which may be after this module.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
logging.getLogger("mlflow").setLevel(logging.ERROR)

# With a tracking server, MLflow writes "View run ... at: URL" to stdout as a run ends,
# which would corrupt `--output json`; our summary says where everything is.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

# A tracking server that goes away mid-search: MLflow's client retries each request with
# back-off, by default for minutes. Ours: 5 retries, sleeping 0, 2, 4, 8 and 16 s (plus up
# to 1 s of jitter each), so a store that stays away stops the search within a minute (the
# study keeps every finished trial for --resume). MLflow's own variables override these.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
for _name, _value in HTTP_RETRY_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
EXPERIMENT_TAGS = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else the local store in ``./mlruns``.

    The local store is a SQLite database plus artifact folders, all inside
    ``mlruns/`` (MLflow's plain file store is deprecated); its folder is made when a
    client first opens it (:func:`client_for`), not here, so a refused search writes nothing.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{DEFAULT_STORE.resolve() / 'mlflow.db'}"


def local_artifact_root(tracking_uri: str) -> Path | None:
    """For a local SQLite store, the folder beside its database that holds artifacts."""
    if not tracking_uri.startswith("sqlite:///"):
        return None  # a tracking server decides where its artifacts go
    return Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"


def default_artifact_location(tracking_uri: str, experiment_name: str) -> str | None:
    """Keep a local store's artifacts inside ``mlruns/``, one folder per experiment."""
    root = local_artifact_root(tracking_uri)
    if root is None:
        return None
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in experiment_name)
    return (root / safe).as_uri()


@functools.lru_cache(maxsize=4)
def client_for(tracking_uri: str) -> MlflowClient:
    """One client per store per process (clients are cheap, but connecting is not).

    A local store's folder is made here, as it is first opened.
    """
    root = local_artifact_root(tracking_uri)
    if root is not None:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TunerError(f"cannot create the MLflow store {root.parent} ({exc.strerror})") from None
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def get_or_create_experiment(tracking_uri: str, name: str) -> str:
    """The experiment ``name``, made (or marked) to open on its training runs in MLflow's UI.

    MLflow 3 picks an experiment's first view from its ``mlflow.experimentKind`` tag
    (3.17's UI reads it only once the browser's "Model training" switch is off).
    Processes that start together (a scheduler's pods) may race to create the same
    experiment (the loser finds the winner's) or, on a new local store, to create its
    tables: MLflow's migrations are not safe to run twice at once, so a lock file beside
    the database lets one process at a time open it the first time.
    """
    with _store_lock(tracking_uri):
        attempt = 1
        while True:
            try:
                return _get_or_create_experiment(client_for(tracking_uri), tracking_uri, name)
            except Exception as exc:
                if attempt == CREATE_RACE_ATTEMPTS or "RESOURCE_ALREADY_EXISTS" not in str(exc):
                    raise
                time.sleep(attempt)
                attempt += 1


CREATE_RACE_ATTEMPTS = 4


@contextlib.contextmanager
def _store_lock(tracking_uri: str) -> Iterator[None]:
    """An exclusive lock on a local SQLite store while it is opened; nothing for other stores."""
    root = local_artifact_root(tracking_uri)
    if root is None:
        yield
        return
    import fcntl

    try:
        root.parent.mkdir(parents=True, exist_ok=True)  # the store's folder, as client_for makes it
    except OSError as exc:
        raise TunerError(f"cannot create the MLflow store {root.parent} ({exc.strerror})") from None
    with open(root.parent / ".tuner.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _get_or_create_experiment(client: MlflowClient, tracking_uri: str, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = default_artifact_location(tracking_uri, name)
        return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # made by an older tuner
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id


LOCAL_UI = "http://127.0.0.1:5000"  # where `tuner ui` serves a local store by default


def ui_address(tracking_uri: str) -> str:
    """Where a store's UI is: a tracking server's own address (no user or password in it), else
    where `tuner ui` serves a local store."""
    if tracking_uri.startswith(("http://", "https://")):
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(tracking_uri)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return LOCAL_UI


def runs_link(ui_base: str, experiment_id: str) -> str:
    """The MLflow UI's page of an experiment's training runs (not its GenAI overview)."""
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
