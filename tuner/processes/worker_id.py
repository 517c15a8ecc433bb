"""How runs, trials and a study's heartbeats name a worker process: ``host:pid:start``."""

from __future__ import annotations

import os
import socket


def worker_id(pid: int | None = None) -> str:
    """``host:pid:start`` of this process (or of ``pid`` on this host): how runs, trials and the
    study's heartbeats name a worker.

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
