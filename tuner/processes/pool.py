"""A pool of warm worker processes, each in an executor of its own, with a shared trial budget.

The pool starts ``n_jobs`` processes at once, forked from a server that imported
TensorFlow once while the caller loaded its data and opened MLflow (spawned fresh
where GPUs are: :mod:`tuner.processes.fork_server`); the same warm processes then run every task
of a search (trials, re-check folds, the refit). Processes, not threads: Keras keeps
global state per process. Each gets an equal share of the cores for TensorFlow's
thread pools, so parallel trials do not fight over them. A process that dies is
replaced (:meth:`WorkerPool.replace`). The pool knows nothing of Optuna: its tasks do.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tuner import interrupts
from tuner._compat.futures import executor_process
from tuner.processes.fork_server import worker_context
from tuner.processes.gpus import THREADS_ENV, assign, usable_cores, visible_gpus
from tuner.processes.worker_id import worker_id

UNLIMITED = 2**62  # trials, when only a timeout bounds the search
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 30.0  # for an interrupted worker to close its MLflow run and trial

# In a pool's worker: the trials the pool may still start, shared by all its workers, so
# that each takes the next trial when it is free and none idles while another has a queue.
_tickets: Any = None
# In a pool's worker: which worker warms up model logging (-1: none yet), and its own index.
_warmer: Any = None
_index = -1


def take_ticket() -> bool:
    """In a pool's worker: take one of the trials the pool may still start; False when none is left."""
    with _tickets.get_lock():
        if _tickets.value <= 0:
            return False
        _tickets.value -= 1
        return True


def claim_warm_up() -> bool:
    """In a pool's worker: True for the first worker to ask, which then warms up model logging.

    The first to run out of trials has a core to itself while the others train their last
    trials; a second warm-up would only slow the re-check that starts when they end. The
    refit, which logs the model, goes to the worker that warmed up (:meth:`WorkerPool.run_all`).
    """
    with _warmer.get_lock():
        if _warmer.value >= 0:
            return False
        _warmer.value = _index
        return True


def _warm_up(
    threads: int,
    tickets: Any,
    warmer: Any,
    gpus: list[str],
    env: dict[str, str],
    cwd: str,
    imports: tuple[str, ...],
    index: int,
) -> None:
    """Initializer of every worker process: the caller's environment and folder (a forked worker
    has its fork server's), its GPU, thread budget, signals, and the heavy imports (``imports``:
    named by the caller, so that the pool knows nothing of what its tasks run)."""
    global _tickets, _warmer, _index
    _tickets, _warmer, _index = tickets, warmer, index
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    if gpus:  # worker i (and its replacement) takes GPU i mod G
        os.environ["CUDA_VISIBLE_DEVICES"] = assign(index, gpus) or ""
    os.environ[THREADS_ENV] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # idle: the pool stops it; busy: work() handles it
    for module in imports:
        importlib.import_module(module)

    gc.freeze()  # what the imports made lives as long as the process: later collections skip it


def _started() -> int:
    return os.getpid()


class _Slot:
    """One worker process, in an executor of its own: its death breaks nothing but itself.

    (One shared ``ProcessPoolExecutor`` would be simpler, but it treats any worker's
    death as the whole pool's and kills the other workers mid-trial.)
    """

    def __init__(self, index: int, warm_up: tuple):
        # Forked from a server that imported TensorFlow (not from this process: no inherited
        # runtime or locks), or spawned fresh where GPUs are (tuner.processes.fork_server).
        self.executor = ProcessPoolExecutor(
            1, worker_context(), initializer=_warm_up, initargs=(*warm_up, index)
        )
        self.executor.submit(_started)  # starts the process now, not at the first task
        self.process = executor_process(self.executor)  # its exit code, later
        self.worker_id = worker_id(self.process.pid)  # now: once it died, its start time is gone

    def death(self) -> str:
        """How the process ended, as a trial's reason says it: ``worker died (signal 9)``."""
        deadline = time.monotonic() + 5
        # The executor's own thread may reap the process first: its exit code shows a moment later.
        while self.process.exitcode is None and time.monotonic() < deadline:
            self.process.join(0.1)
        code = self.process.exitcode
        if code is None:
            return "worker died"
        return f"worker died (signal {-code})" if code < 0 else f"worker died (exit status {code})"


class WorkerPool:
    """``n_jobs`` spawned processes, started at once and kept warm for every task of a search.

    A process that dies (killed, out of memory) is replaced by :meth:`replace`.
    """

    def __init__(self, n_jobs: int, imports: tuple[str, ...] = ()):
        """``imports``: modules every worker imports before its first task."""
        self.n_jobs = n_jobs
        threads = max(1, usable_cores() // n_jobs)
        self.tickets = worker_context().Value("q", 0)
        self.warmer = worker_context().Value("i", -1)
        self._warm_up = (
            threads,
            self.tickets,
            self.warmer,
            visible_gpus(),
            dict(os.environ),
            os.getcwd(),
            imports,
        )
        self.slots = [_Slot(i, self._warm_up) for i in range(n_jobs)]

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: type | None, *exc_info: Any) -> None:
        if exc_type is not None:  # Ctrl-C, SIGTERM or an error: running trials record why
            self.stop()
        self.close()

    def submit(self, index: int, fn: Callable[..., Any], *args: Any) -> Future:
        """``fn(*args)`` in worker ``index``."""
        return self.slots[index].executor.submit(fn, *args)

    def replace(self, index: int) -> None:
        """A new process in place of worker ``index``, which died; same GPU."""
        self.slots[index].executor.shutdown(wait=False, cancel_futures=True)
        self.slots[index] = _Slot(index, self._warm_up)

    def run_all(
        self, fn: Callable[..., Any], tasks: list[tuple], *, warm_first: bool = False, lanes: bool = False
    ) -> list[Any]:
        """``fn(*task)`` for every task, each worker taking the next when free; results in order.

        ``warm_first``: an idle worker that warmed up model logging (:func:`claim_warm_up`) first.
        ``lanes``: each worker takes its own contiguous run of the tasks (the warmed-up worker
        the first), so that neighbours, such as one candidate's re-check folds, run in one
        process and reuse its traced model (:mod:`tuner.trial.model_reuse`); a worker done with its
        run takes the last task of the longest other run.
        """
        results: list[Any] = [None] * len(tasks)
        queue, deaths = list(enumerate(tasks)), Counter[int]()
        busy: dict[Future, tuple[int, int, tuple]] = {}  # future -> worker, task index, task
        warm = self.warmer.value if warm_first or lanes else -1
        order = sorted(range(self.n_jobs), key=lambda w: (w != warm, w))
        lane_of = _lanes(len(tasks), order) if lanes else {}
        while queue or busy:
            idle = set(range(self.n_jobs)) - {worker for worker, _, _ in busy.values()}
            for worker in sorted(idle, key=order.index)[: len(queue)]:
                number, task = queue.pop(_next_task(queue, worker, lane_of))
                busy[self.submit(worker, fn, *task)] = (worker, number, task)
            done, _ = wait(busy, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            interrupts.check()
            for future in done:
                worker, number, task = busy.pop(future)
                if isinstance(future.exception(), BrokenProcessPool) and not deaths[number]:
                    deaths[number] += 1  # died: a new process does the task, once
                    warn(
                        f"warning: {self.slots[worker].death()} ({self.slots[worker].worker_id}); restarting it"
                    )
                    self.replace(worker)
                    queue.insert(0, (number, task))
                else:
                    results[number] = future.result()
        return results

    def stop(self) -> None:
        """Interrupt every busy worker, so each records its trial as failed, then kill what is left."""
        workers = [slot.process for slot in self.slots]
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGINT)
        for slot in self.slots:
            slot.executor.shutdown(wait=False, cancel_futures=True)  # idle workers exit now
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.kill()

    def close(self) -> None:
        for slot in self.slots:
            slot.executor.shutdown(wait=True, cancel_futures=True)


def _lanes(n_tasks: int, workers: list[int]) -> dict[int, int]:
    """Task number -> the worker whose lane it is in: contiguous runs of near-equal length, in order."""
    return {n: workers[n * len(workers) // n_tasks] for n in range(n_tasks)}


def _next_task(queue: list[tuple[int, tuple]], worker: int, lane_of: dict[int, int]) -> int:
    """Where in ``queue`` the next task for ``worker`` is: the first of its lane, else the last of
    the longest other lane (without lanes, the first)."""
    if not lane_of:
        return 0
    own = [i for i, (number, _) in enumerate(queue) if lane_of[number] == worker]
    if own:
        return own[0]
    longest = Counter(lane_of[number] for number, _ in queue).most_common(1)[0][0]
    return max(i for i, (number, _) in enumerate(queue) if lane_of[number] == longest)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
