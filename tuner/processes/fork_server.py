"""Worker processes forked from one server that imported TensorFlow once, not each importing it.

Why: a search's workers each imported TensorFlow, side by side on the same cores, before
their first trial, seconds each. multiprocessing's fork server imports the heavy
libraries once (:mod:`tuner.processes.preload`), started first thing so that the import overlaps
the search's own set-up, and forks each worker from that warm state in milliseconds.
Only imports happen before the fork; TensorFlow's runtime, thread pools and GPU are set
up in each worker after it (:mod:`tuner.processes.tensorflow_env`), which is what makes the fork safe.
Where a GPU is visible, workers are spawned fresh as before: CUDA and fork do not mix,
and a GPU trial's training dwarfs the import anyway.

A forked worker inherits the fork server's environment and folder, not its caller's:
the pool hands both over explicitly (:func:`tuner.processes.pool._warm_up`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import sys

from tuner._compat.futures import forkserver_pid
from tuner.processes.gpus import visible_gpus

PRELOAD = ["tuner.processes.preload"]


@functools.cache
def start_method() -> str:
    """``forkserver`` on Linux without GPUs, else ``spawn``."""
    return "forkserver" if sys.platform == "linux" and not visible_gpus() else "spawn"


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context worker processes start from."""
    context = multiprocessing.get_context(start_method())
    if start_method() == "forkserver":
        context.set_forkserver_preload(PRELOAD)
        _stop_server_at_exit()
    return context


def start_early() -> None:
    """Start the fork server now, so its imports run while the caller sets up; no-op when spawning."""
    if start_method() == "forkserver":
        worker_context()
        multiprocessing.forkserver.ensure_running()  # a no-op while it runs


@functools.cache
def _stop_server_at_exit() -> None:
    atexit.register(_stop_server)


def _stop_server() -> None:
    """Stop and reap the fork server as the command exits (its workers are gone by then).

    Killed, not asked: a command that stops at once (a wrong setting) would otherwise wait
    for the server's imports to end. Reaped here, its CPU time counts as the command's.
    """
    pid = forkserver_pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
