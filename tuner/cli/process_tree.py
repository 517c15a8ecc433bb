"""A server process tree run in the foreground and stopped as a whole (``tuner ui``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil


def serve_until_stopped(command: list[str], grace: float) -> int:
    """Run a server until it ends (its exit status) or SIGTERM/SIGINT ask to stop it (0).

    MLflow's UI is a tree of processes (the ``mlflow`` command, uvicorn and its workers,
    job runners and their consumers); killed alone, its root leaves them serving the
    port. So the server runs in its own session and process group, which is stopped as
    a whole (:func:`stop_group`). Its own group also keeps the terminal's Ctrl-C for
    us, so it is stopped once, the same way as by a service manager's SIGTERM.
    """

    requested: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: requested.append(signum))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        server = subprocess.Popen(command, start_new_session=True)
        try:
            while not requested:
                try:
                    return server.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            stop_group(server, grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("MLflow UI stopped", file=sys.stderr)
    return 0


def stop_group(leader: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group ``leader`` leads; after ``grace`` seconds, SIGKILL what is left.

    Its descendants are listed first, so any that left the group are stopped too.
    """

    group = leader.pid  # it leads its own session (start_new_session)

    def running(process: psutil.Process) -> bool:
        with contextlib.suppress(psutil.Error):
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        return False

    def in_group(process: psutil.Process) -> bool:
        with contextlib.suppress(OSError):
            return os.getpgid(process.pid) == group
        return False

    def left() -> list[psutil.Process]:
        members = [p for p in psutil.process_iter() if in_group(p)]
        return [p for p in {*members, *descendants} if running(p)]

    try:
        descendants = psutil.Process(leader.pid).children(recursive=True)
    except psutil.Error:  # it ended already
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    for (
        process
    ) in descendants:  # any with a group of their own; once only: uvicorn takes a second signal as a kill
        if not in_group(process):
            with contextlib.suppress(psutil.Error):
                process.terminate()
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(timeout=grace)
    while (remaining := left()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in remaining:
        with contextlib.suppress(psutil.Error):
            process.kill()
    leader.wait()
