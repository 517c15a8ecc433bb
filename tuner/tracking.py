"""MLflow plumbing: where runs go, and the one state machine every run goes through.

A run is opened and closed here only. :func:`recorded_run` opens a run (or adopts
one already open) and always closes it: ``complete`` when its block ends, ``pruned``
or ``failed`` (with the reason, and for an error its traceback) when the block
raises. Runs that outlive their process (a study's parent run, the run of a trial
whose worker died) are closed through :func:`close_run`.

Everything uses ``MlflowClient`` with explicit run ids, never the fluent
``mlflow.start_run`` stack: that stack is per thread and not thread-safe, and our
trials run in threads and processes alike.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.errors import TrialFailed, TunerError, first_line
from tuner.failures import is_unreachable
from tuner.interrupts import failure_reason
from tuner.redact import redact, scrub

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

# tuner's states, and how each shows in MLflow's own status column.
RUNNING, COMPLETE, PRUNED, FAILED = "running", "complete", "pruned", "failed"
# MLflow's RunStatus names, spelled out: this module imports MLflow only when it talks to a
# store, so that `tuner study status` and `list` answer in about a second (tests/test_internals.py).
MLFLOW_RUNNING = "RUNNING"
MLFLOW_STATUS = {COMPLETE: "FINISHED", PRUNED: "KILLED", FAILED: "FAILED"}
STATE_TAG = "tuner.state"
REASON_TAG = "tuner.reason"
KIND_TAG = "tuner.kind"  # search | trial | candidate | fold | best
SEARCH_TAG = "tuner.search_run_id"  # every run of a search points at its parent
ENGINE_TAG = "tuner.engine"  # on every run of a search, so filtering on it keeps the trials
DATASET_TAG = "tuner.dataset"
DESCRIPTION_TAG = "mlflow.note.content"  # the run's description in MLflow's UI
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
EXPERIMENT_TAGS = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
WORKER_ATTR = "tuner.worker"  # the process that ran a fit: a run's tag, an Optuna trial's attribute


def worker_id(pid: int | None = None) -> str:
    """``host:pid:start`` of this process (or of ``pid`` on this host): how runs, trials and the
    worker registry name a worker.

    The process's start time (centiseconds, hex) keeps the id unique where pids repeat: in
    containers every replica, and every restart, is process 1.
    """
    import psutil

    pid = os.getpid() if pid is None else pid
    try:
        started = int(psutil.Process(pid).create_time() * 100)
    except psutil.Error:  # it ended already: the id is only shown
        return f"{socket.gethostname()}:{pid}"
    return f"{socket.gethostname()}:{pid}:{started:x}"


def parse_worker_id(worker: str) -> tuple[str, int | None, str | None]:
    """Host, pid and start of a worker id; ``host:pid`` ids (before the start was added) have no start."""
    host, _, rest = worker.partition(":")
    pid, _, started = rest.partition(":")
    return host, int(pid) if pid.isdigit() else None, started or None


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


def runs_link(ui_base: str, experiment_id: str) -> str:
    """The MLflow UI's page of an experiment's training runs (not its GenAI overview)."""
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def open_experiment(tracking_uri: str | None, name: str) -> RunTarget:
    """The experiment ``name`` in the resolved store, as the target of a search's parent run."""
    uri = resolve_tracking_uri(tracking_uri)
    try:
        experiment_id = get_or_create_experiment(uri, name)
    except Exception as exc:  # noqa: BLE001 - an unreachable tracking store is the user's to fix
        raise TunerError(
            f"cannot reach the MLflow tracking store {redact(uri)!r}: {scrub(first_line(exc), uri)}"
        ) from None
    return RunTarget(uri, experiment_id, None, name, "search")


@dataclass(frozen=True)
class RunTarget:
    """Where a fit logs its run: store, experiment, parent run, name and tags.

    Plain strings only, so it pickles into worker processes and deep-copies under
    ``sklearn.clone``.
    """

    tracking_uri: str
    experiment_id: str
    parent_run_id: str | None
    run_name: str
    kind: str = "trial"
    search_run_id: str = ""
    tags: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def child(self, run_name: str, kind: str, parent_run_id: str, **tags: str) -> RunTarget:
        """A run under ``parent_run_id``, with this target's tags (the search's identity) and ``tags``."""
        return RunTarget(
            self.tracking_uri,
            self.experiment_id,
            parent_run_id,
            run_name,
            kind,
            self.search_run_id or parent_run_id,
            tuple(sorted({**dict(self.tags), **tags}.items())),
        )

    def with_tags(self, **tags: str) -> RunTarget:
        return replace(self, tags=tuple(sorted({**dict(self.tags), **tags}.items())))

    def open(self, params: dict[str, Any] | None = None) -> str:
        """Create the run with its parameters; return its id."""
        client = client_for(self.tracking_uri)
        tags = {KIND_TAG: self.kind, STATE_TAG: RUNNING, **dict(self.tags)}
        if self.parent_run_id:
            tags.update({"mlflow.parentRunId": self.parent_run_id, SEARCH_TAG: self.search_run_id})
        run = client.create_run(self.experiment_id, run_name=self.run_name, tags=tags)
        log_params(self.tracking_uri, run.info.run_id, params or {})
        return run.info.run_id


@dataclass
class Run:
    """An open run: its id, the final metrics to record, and its outcome so far."""

    tracking_uri: str
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    state: str = COMPLETE
    reason: str = ""

    def log_epoch(self, metrics: dict[str, float], step: int) -> None:
        """All of an epoch's metrics in one batched call (one round trip, not one per metric).

        Synchronous on purpose: MLflow's asynchronous logging batched these writes
        behind a delay that cost about a second per trial when the run closed.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        if batch:
            client_for(self.tracking_uri).log_batch(self.run_id, metrics=batch)

    def fail(self, reason: str) -> None:
        """End as failed when the block ends, without raising (e.g. every CV fold failed)."""
        self.state, self.reason = FAILED, reason

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        client = client_for(self.tracking_uri)
        try:
            client.log_artifact(self.run_id, str(path), artifact_path=artifact_path)
        except OSError as exc:  # a full disk or a read-only folder: say where, not just why
            where = client.get_run(self.run_id).info.artifact_uri
            raise OSError(
                exc.errno, f"{exc.strerror or exc}: could not write {path.name} to {where}"
            ) from exc

    def log_text(self, text: str, name: str) -> None:
        client_for(self.tracking_uri).log_text(self.run_id, text, name)


@contextlib.contextmanager
def recorded_run(
    target: RunTarget,
    params: dict[str, Any] | None = None,
    *,
    run_id: str | None = None,
    pruned: tuple[type[BaseException], ...] = (),
) -> Iterator[Run]:
    """Open a run (or adopt the open run ``run_id``) and always close it.

    The block ending closes it as ``run.state`` (complete unless :meth:`Run.fail`);
    an exception in ``pruned`` closes it as pruned with the exception's message; any
    other as failed with the reason (``interrupted (Ctrl-C or SIGTERM)`` for those),
    and an error that is not an outcome of training also leaves ``traceback.txt``.
    """
    run = Run(target.tracking_uri, run_id or target.open(params))
    try:
        yield run
    except pruned as exc:
        close_run(run.tracking_uri, run.run_id, PRUNED, str(exc), run.metrics)
        raise
    except BaseException as exc:
        if is_unreachable(exc):  # closing would wait out the retries again, and fail
            raise
        if isinstance(exc, Exception) and not isinstance(exc, TrialFailed):
            with contextlib.suppress(Exception):  # the traceback is a courtesy; closing the run is not
                run.log_text(traceback.format_exc(), "traceback.txt")
        close_run(
            run.tracking_uri, run.run_id, FAILED, scrub(failure_reason(exc), run.tracking_uri), run.metrics
        )
        raise
    close_run(run.tracking_uri, run.run_id, run.state, run.reason, run.metrics)


def reopen_run(tracking_uri: str, run_id: str) -> None:
    """Mark a closed run as running again (a resumed study's parent run)."""
    client = client_for(tracking_uri)
    client.update_run(run_id, status=MLFLOW_RUNNING)
    client.set_tag(run_id, STATE_TAG, RUNNING)


def close_run(
    tracking_uri: str,
    run_id: str,
    state: str,
    reason: str = "",
    metrics: dict[str, float] | None = None,
) -> None:
    """Record final metrics and the run's state (complete / pruned / failed, and why)."""
    from mlflow.entities import Metric, RunTag

    client = client_for(tracking_uri)
    now = int(time.time() * 1000)
    tags = [RunTag(STATE_TAG, state)] + ([RunTag(REASON_TAG, reason[:5000])] if reason else [])
    batch = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
    client.log_batch(run_id, metrics=batch, tags=tags)
    client.set_terminated(run_id, status=MLFLOW_STATUS[state])


def close_trial_runs(tracking_uri: str, experiment_id: str, study: str, trial: int, reason: str) -> list[str]:
    """Close as failed the runs of Optuna trial ``trial`` still open: their process is gone."""
    client = client_for(tracking_uri)
    query = (
        f"tags.`optuna.study` = '{study}' and tags.`optuna.trial` = '{trial}' "
        f"and attributes.status = '{MLFLOW_RUNNING}'"
    )
    runs = client.search_runs([experiment_id], filter_string=query)
    for run in runs:
        close_run(tracking_uri, run.info.run_id, FAILED, reason)
    return [run.info.run_id for run in runs]


def open_runs_of(tracking_uri: str, search_run_id: str) -> list[Any]:
    """The runs of a search still marked running (children and grandchildren of its parent)."""
    query = f"tags.`{SEARCH_TAG}` = '{search_run_id}' and attributes.status = '{MLFLOW_RUNNING}'"
    client = client_for(tracking_uri)
    experiment = client.get_run(search_run_id).info.experiment_id
    return client.search_runs([experiment], filter_string=query, max_results=10000)


def log_params(tracking_uri: str, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    if params:
        client_for(tracking_uri).log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])


def log_tags(tracking_uri: str, run_id: str, tags: dict[str, Any]) -> None:
    from mlflow.entities import RunTag

    client_for(tracking_uri).log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
