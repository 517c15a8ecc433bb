"""MLflow plumbing: where runs go, and how a run is opened and closed.

Everything here uses ``MlflowClient`` with explicit run ids, never the fluent
``mlflow.start_run`` stack: that stack is per thread and not thread-safe, and our
trials run in threads (Optuna ``n_jobs``) and processes (joblib) alike.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

DEFAULT_STORE = Path("mlruns")

# MLflow narrates schema migrations and model saving at INFO/WARNING; a search prints
# its own summary. Real problems still surface as exceptions.
logging.getLogger("mlflow").setLevel(logging.ERROR)

# tuner's states and how they show in MLflow's own status column.
STATES = {
    "complete": RunStatus.to_string(RunStatus.FINISHED),
    "pruned": RunStatus.to_string(RunStatus.KILLED),
    "failed": RunStatus.to_string(RunStatus.FAILED),
}
STATE_TAG = "tuner.state"
REASON_TAG = "tuner.reason"
KIND_TAG = "tuner.kind"  # search | trial | candidate | fold | best
SEARCH_TAG = "tuner.search_run_id"  # every run of a search points at its parent


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else the local store in ``./mlruns``.

    The local store is a SQLite database plus artifact folders, all inside
    ``mlruns/`` (MLflow's plain file store is deprecated).
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    store = DEFAULT_STORE.resolve()
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


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
    """One client per store per process (clients are cheap, but connecting is not)."""
    return MlflowClient(tracking_uri=tracking_uri)


def get_or_create_experiment(tracking_uri: str, name: str) -> str:
    client = client_for(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=default_artifact_location(tracking_uri, name))


@dataclass(frozen=True)
class RunTarget:
    """Where a fit logs its run: store, experiment, parent run, name and tags.

    Plain strings only, so it pickles into joblib workers and deep-copies under
    ``sklearn.clone``.
    """

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    run_name: str
    kind: str = "trial"
    search_run_id: str = ""
    tags: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def child(self, run_name: str, kind: str, parent_run_id: str, **tags: str) -> RunTarget:
        return RunTarget(
            self.tracking_uri,
            self.experiment_id,
            parent_run_id,
            run_name,
            kind,
            self.search_run_id,
            tuple(sorted(tags.items())),
        )

    def open(self, params: dict[str, Any]) -> str:
        """Create the run with its parameters; return its id."""
        client = client_for(self.tracking_uri)
        tags = {
            "mlflow.parentRunId": self.parent_run_id,
            KIND_TAG: self.kind,
            SEARCH_TAG: self.search_run_id or self.parent_run_id,
            STATE_TAG: "running",
            **dict(self.tags),
        }
        run = client.create_run(self.experiment_id, run_name=self.run_name, tags=tags)
        log_params(self.tracking_uri, run.info.run_id, params)
        return run.info.run_id


def log_params(tracking_uri: str, run_id: str, params: dict[str, Any]) -> None:
    if params:
        client_for(tracking_uri).log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])


def log_metrics(tracking_uri: str, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    """All ``metrics`` in one call (one round trip per epoch, not one per metric)."""
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
    if batch:
        client_for(tracking_uri).log_batch(run_id, metrics=batch)


def close_run(
    tracking_uri: str,
    run_id: str,
    state: str,
    reason: str = "",
    metrics: dict[str, float] | None = None,
) -> None:
    """Record final metrics and the run's state (complete / pruned / failed, and why)."""
    client = client_for(tracking_uri)
    now = int(time.time() * 1000)
    tags = [RunTag(STATE_TAG, state)] + ([RunTag(REASON_TAG, reason[:5000])] if reason else [])
    batch = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
    client.log_batch(run_id, metrics=batch, tags=tags)
    client.set_terminated(run_id, status=STATES[state])
