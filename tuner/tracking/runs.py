"""Runs and the one state machine every run goes through.

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
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tuner.errors import TrialFailed, TunerError, first_line
from tuner.interrupts import failure_reason
from tuner.redact import redact, scrub
from tuner.tracking.failures import is_unreachable
from tuner.tracking.store import client_for, get_or_create_experiment, resolve_tracking_uri

# tuner's states, and how each shows in MLflow's own status column.
RUNNING, COMPLETE, PRUNED, FAILED = "running", "complete", "pruned", "failed"
# MLflow's RunStatus names, spelled out (tests/tracking/test_runs.py checks them): this module
# imports MLflow only when it talks to a store, so `tuner study status` and `list` answer fast.
MLFLOW_RUNNING = "RUNNING"
MLFLOW_STATUS = {COMPLETE: "FINISHED", PRUNED: "KILLED", FAILED: "FAILED"}
STATE_TAG = "tuner.state"
REASON_TAG = "tuner.reason"
KIND_TAG = "tuner.kind"  # search | trial | candidate | fold | recheck | best
SEARCH_TAG = "tuner.search_run_id"  # every run of a search points at its parent
ENGINE_TAG = "tuner.engine"  # on every run of a search, so filtering on it keeps the trials
DATASET_TAG = "tuner.dataset"
DESCRIPTION_TAG = "mlflow.note.content"  # the run's description in MLflow's UI
WORKER_ATTR = "tuner.worker"  # the process that ran a fit: a run's tag, an Optuna trial's attribute


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


def log_metrics(tracking_uri: str, run_id: str, metrics: dict[str, float]) -> None:
    """Final values (step 0) on a run, open or closed, in one call."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    if batch:
        client_for(tracking_uri).log_batch(run_id, metrics=batch)


def log_tags(tracking_uri: str, run_id: str, tags: dict[str, Any]) -> None:
    from mlflow.entities import RunTag

    client_for(tracking_uri).log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
