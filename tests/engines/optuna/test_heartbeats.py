"""When a worker counts as gone: its process ended here, or its heartbeats stopped elsewhere."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time

from tuner.engines.optuna.heartbeats import worker_gone, workers_seen
from tuner.processes.worker_id import parse_worker_id, worker_id

# --- when a worker is lost ----------------------------------------------------------------------


def _dead_pid() -> int:
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    return process.pid


def test_a_worker_on_this_host_is_gone_when_its_process_is():
    assert worker_gone(worker_id(), None) is None
    host = socket.gethostname()
    assert worker_gone(f"{host}:{_dead_pid()}:1", None) == "died (its process is gone)"
    assert worker_gone(f"{host}:{_dead_pid()}", None) == "died (its process is gone)"  # ids before the start


def test_a_restarted_process_with_the_same_pid_is_not_the_worker_that_died():
    """In a container every restart is process 1: the start time tells them apart."""
    host, pid, started = parse_worker_id(worker_id())
    assert (host, pid) == (socket.gethostname(), os.getpid()) and started
    assert worker_gone(f"{host}:{pid}:{started}", None) is None
    assert worker_gone(f"{host}:{pid}:0", None) == "died (its process is gone)"


def test_a_worker_elsewhere_is_lost_after_three_silent_intervals_and_gone_once_exited():
    now = time.time()
    beating = {"state": "running", "heartbeat": now - 100, "interval": 60}
    silent = {"state": "running", "heartbeat": now - 181, "interval": 60}
    attrs = {"tuner.worker:far:1:a": beating, "tuner.worker:far:2:b": silent}
    attrs["tuner.worker:far:3:c"] = {"state": "exited", "heartbeat": now - 5, "interval": 60}
    seen = {w["id"]: w for w in workers_seen(attrs, now)}
    assert [seen[k]["state"] for k in ("far:1:a", "far:2:b", "far:3:c")] == ["running", "lost", "exited"]
    assert worker_gone("far:1:a", seen["far:1:a"]) is None
    assert worker_gone("far:2:b", seen["far:2:b"]).startswith("stopped sending heartbeats (last at ")
    assert worker_gone("far:3:c", seen["far:3:c"]) == "exited"
    assert worker_gone("far:4:d", None) is None  # no record yet: the benefit of the doubt
