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

WORKER_PREFIX = "tuner.worker:"
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


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
        self.study.set_user_attr(WORKER_PREFIX + WORKER_ID, record)


def workers_seen(study: optuna.Study | optuna.study.StudySummary, now: float | None = None) -> list[dict]:
    """Every worker the study has seen, newest heartbeat first, with its state as of ``now``."""
    now = time.time() if now is None else now
    seen = []
    for key, record in study.user_attrs.items():
        if not key.startswith(WORKER_PREFIX):
            continue
        state = record["state"]
        if state == "running" and now - record["heartbeat"] > 3 * record.get("interval", 60):
            state = "lost"
        seen.append({**record, "id": key.removeprefix(WORKER_PREFIX), "state": state})
    return sorted(seen, key=lambda r: -r["heartbeat"])
