"""The one private name of the standard library's ``concurrent.futures`` tuner relies on.

A worker pool needs each worker's process object (its pid while it runs, its exit
code once it died: ``worker died (signal 9)``), and ``ProcessPoolExecutor`` keeps its
processes only in ``_processes``. Checked by ``tests/test_internals.py``; if Python
moves it, a dead worker's reason loses its signal number.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def executor_process(executor: ProcessPoolExecutor) -> multiprocessing.Process:
    """The process of a one-process executor that has started it (by a first submit)."""
    processes = executor._processes  # noqa: SLF001 - the one place
    return next(iter(processes.values()))
