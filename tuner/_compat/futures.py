"""The two private names of the standard library's process pools tuner relies on.

A worker pool needs each worker's process object (its pid while it runs, its exit
code once it died: ``worker died (signal 9)``), and ``ProcessPoolExecutor`` keeps its
processes only in ``_processes``. The fork server's pid (``_forkserver_pid``) lets a
command stop and reap its server as it exits, instead of leaving it to finish an
import as an orphan. Checked by ``tests/_compat/``; if Python moves them, a
dead worker's reason loses its signal number, and the server outlives its command.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from concurrent.futures import ProcessPoolExecutor


def executor_process(executor: ProcessPoolExecutor) -> multiprocessing.Process:
    """The process of a one-process executor that has started it (by a first submit)."""
    processes = executor._processes  # noqa: SLF001 - the one place
    return next(iter(processes.values()))


def forkserver_pid() -> int | None:
    """The pid of this process's fork server, None when none was started."""
    return multiprocessing.forkserver._forkserver._forkserver_pid  # noqa: SLF001 - the one place
