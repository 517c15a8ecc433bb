"""Which worker processes a study has seen, and when each last gave a sign of life.

Every process that runs trials records itself in the study (host, pid, start, last
heartbeat, trials started, state) and refreshes that record from a background
thread every heartbeat interval. ``tuner study status`` shows the records; a worker
is ``running`` while its heartbeat is fresh, ``lost`` when it stopped beating
without saying goodbye (killed, or its machine gone), ``exited`` when it ended.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import optuna
import psutil

from tuner.engines.optuna.record import Attrs, worker_records, write_worker_record
from tuner.processes.worker_id import parse_worker_id, worker_id


class WorkerBeacon:
    """This process's record in the study, refreshed every ``interval`` seconds while inside."""

    def __init__(self, study: optuna.Study, interval: float):
        self.study, self.interval = study, interval
        self.record: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.time(),
            "trials": 0,
            "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="tuner-beacon", daemon=True)

    def __enter__(self) -> WorkerBeacon:
        self._write("running")
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._write("exited")

    def trial_started(self) -> None:
        """Counted here, written with the next beat: no extra storage write per trial."""
        self.record["trials"] += 1

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._write("running")
            except Exception:  # noqa: BLE001 - a missed beat is retried next interval; trials go on
                continue

    def _write(self, state: str) -> None:
        record = {**self.record, "state": state, "heartbeat": time.time(), "interval": self.interval}
        write_worker_record(self.study, worker_id(), record)


def mark_gone(study: optuna.Study, worker_id: str, why: str) -> None:
    """Record, for ``tuner study status``, that a worker died without saying goodbye."""
    record = worker_records(study.user_attrs).get(worker_id)
    if record is not None:
        write_worker_record(study, worker_id, {**record, "state": "died", "why": why})


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs on this host (and started at ``started``, as in its worker id);
    a zombie (dead, not yet reaped) does not."""
    try:
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    return alive and (started is None or worker_id(pid).rpartition(":")[2] == started)


def worker_gone(worker: str, record: dict | None) -> str | None:
    """Why the worker ``host:pid:start`` is gone, or None while it may be alive.

    On this host its process tells; elsewhere its record: exited, or no heartbeat
    for three intervals. A worker elsewhere with no record is given the benefit of
    the doubt. ``record`` is as :func:`workers_seen` gives it, its state as of now.
    """
    host, pid, started = parse_worker_id(worker)
    if host == socket.gethostname() and pid is not None:
        return None if process_alive(pid, started) else "died (its process is gone)"
    if record is None:
        return None
    if record["state"] == "lost":
        last = time.strftime("%H:%M:%S", time.localtime(record["heartbeat"]))
        return f"stopped sending heartbeats (last at {last})"
    return "exited" if record["state"] == "exited" else None


def _state(record: dict, now: float) -> str:
    if record["state"] == "running" and now - record["heartbeat"] > 3 * record.get("interval", 60):
        return "lost"
    return record["state"]


def workers_seen(attrs: Attrs, now: float | None = None) -> list[dict]:
    """Every worker a study's attributes record, newest heartbeat first, with its state as of ``now``."""
    now = time.time() if now is None else now
    seen = [
        {**record, "id": wid, "state": _state(record, now)} for wid, record in worker_records(attrs).items()
    ]
    return sorted(seen, key=lambda r: -r["heartbeat"])
