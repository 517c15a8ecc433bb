"""Optuna trials in a pool of warm worker processes, as the workers of a cluster job run them.

The search process runs no trials itself. :class:`WorkerPool` starts ``--n-jobs``
processes as the search starts, so they import TensorFlow while the search
process loads the data and opens MLflow; each then joins the study through its
storage (:func:`work`), and the same warm processes re-check the best candidates
and refit the winner at the end. Processes, not threads: Keras keeps global state
per process. Each process gets an equal share of the cores for TensorFlow's
thread pools, so parallel trials do not fight over them; small models barely use
a second thread anyway. Memory stays flat in a long-lived worker (the trial unit
frees each fit's graphs; ``benchmarks/memory.py``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing
import os
import signal
import socket
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import optuna

from tuner import interrupts
from tuner.context import Inputs, SearchContext, build_context, load_inputs
from tuner.engines.registry import WorkerBeacon, mark_gone, worker_id
from tuner.engines.retrying_storage import StorageUnavailable
from tuner.engines.study import (
    BEST_EPOCH_ATTR,
    LOST_REASON,
    REASON_ATTR,
    RUN_ATTR,
    TIMING_ATTR,
    WORKER_ATTR,
    WorkerSetup,
    best_value,
    check_worker_fits,
    fail_lost_trial,
    fail_stale_trials,
    fail_trials_of_gone_workers,
    load_study,
    read_worker_setup,
    requeue,
)
from tuner.errors import TunerError, first_line
from tuner.failures import TrackingUnavailable, is_our_bug, is_unreachable
from tuner.finish import Candidate, FinalModel, recheck_fold, refit_and_log
from tuner.gpus import assign, visible_gpus
from tuner.interrupts import failure_reason, stop_requested
from tuner.progress import SearchProgress
from tuner.redact import redact, scrub
from tuner.tracking import check_reachable

UNLIMITED = 2**62  # trials, when only a timeout bounds the search
POLL_SECONDS = 0.5
THREADS_ENV = "TUNER_TF_THREADS"  # read by tuner.tf_env as TensorFlow starts
STOP_GRACE_SECONDS = 30.0  # for an interrupted worker to close its MLflow run and trial
WAIT_FOR_RUNNING_SECONDS = 1.0  # a worker waiting on the last running trials polls this often


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# In a pool's worker: the trials the pool may still start, shared by all its workers, so
# that each takes the next trial when it is free and none idles while another has a queue.
_tickets: Any = None


def _warm_up(threads: int, tickets: Any, gpus: list[str], index: int) -> None:
    """Initializer of every worker process: its GPU, thread budget, signals, and the heavy imports."""
    global _tickets
    _tickets = tickets
    if gpus:  # worker i (and its replacement) takes GPU i mod G
        os.environ["CUDA_VISIBLE_DEVICES"] = assign(index, gpus) or ""
    os.environ[THREADS_ENV] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # idle: the pool stops it; busy: work() handles it
    import tuner.estimator  # noqa: F401 - TensorFlow, Keras and scikeras, before the first trial

    gc.freeze()  # what the imports made lives as long as the process: later collections skip it


def _started() -> int:
    return os.getpid()


class _Slot:
    """One worker process, in an executor of its own: its death breaks nothing but itself.

    (One shared ``ProcessPoolExecutor`` would be simpler, but it treats any worker's
    death as the whole pool's and kills the other workers mid-trial.)
    """

    def __init__(self, index: int, warm_up: tuple):
        spawn = multiprocessing.get_context("spawn")  # no inherited TensorFlow or locks
        self.executor = ProcessPoolExecutor(1, spawn, initializer=_warm_up, initargs=(*warm_up, index))
        self.executor.submit(_started)  # starts the process now, not at the first task
        self.process = next(iter(self.executor._processes.values()))  # noqa: SLF001 - its exit code, later

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"

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

    def __init__(self, n_jobs: int):
        self.n_jobs = n_jobs
        threads = max(1, usable_cores() // n_jobs)
        self.tickets = multiprocessing.get_context("spawn").Value("q", 0)
        self._warm_up = (threads, self.tickets, visible_gpus())
        self.slots = [_Slot(i, self._warm_up) for i in range(n_jobs)]

    def submit(self, index: int, fn: Callable[..., Any], *args: Any) -> Future:
        """``fn(*args)`` in worker ``index``."""
        return self.slots[index].executor.submit(fn, *args)

    def replace(self, index: int) -> None:
        """A new process in place of worker ``index``, which died; same GPU."""
        self.slots[index].executor.shutdown(wait=False, cancel_futures=True)
        self.slots[index] = _Slot(index, self._warm_up)

    def run_all(self, fn: Callable[..., Any], tasks: list[tuple]) -> list[Any]:
        """``fn(*task)`` for every task, each worker taking the next when free; results in order."""
        results: list[Any] = [None] * len(tasks)
        queue, deaths = list(enumerate(tasks)), Counter[int]()
        busy: dict[Future, tuple[int, int, tuple]] = {}  # future -> worker, task index, task
        while queue or busy:
            idle = set(range(self.n_jobs)) - {worker for worker, _, _ in busy.values()}
            for worker in sorted(idle)[: len(queue)]:
                number, task = queue.pop(0)
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


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class WorkerTask:
    """What one worker process needs: the study, where to log, and its budget."""

    study: str
    storage: str
    trials: int | None  # None in a pool: its workers share the pool's tickets
    deadline: float | None  # wall-clock time (time.time()) after which no trial starts
    sampler_seed: int
    tracking_uri: str | None = None  # None: the study's
    total: int | None = None  # the study's budget of finished trials (a cluster study's --trials)


def _budget_allows(task: WorkerTask, started: int) -> bool:
    """This worker's own budget: stop request, deadline, its trials or the pool's tickets."""
    if stop_requested() or (task.deadline is not None and time.time() >= task.deadline):
        return False
    if task.trials is not None:
        return started < task.trials
    with _tickets.get_lock():
        if _tickets.value <= 0:
            return False
        _tickets.value -= 1
        return True


def _study_wants_more(task: WorkerTask, study: optuna.Study) -> bool:
    """Whether the study's ``total`` leaves room for one more trial, waiting while it is unclear.

    Finished means complete or pruned. While the trials still running would reach the
    total, wait: one may fail (its worker dies) and come back to the queue.
    """
    if task.total is None:
        return True
    while True:
        fail_stale_trials(study)  # a dead worker's trial goes back to the queue (RDB heartbeat)
        fail_trials_of_gone_workers(study)  # the same, for any storage (the worker registry)
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        finished = counts[optuna.trial.TrialState.COMPLETE] + counts[optuna.trial.TrialState.PRUNED]
        if finished >= task.total:
            return False
        if finished + counts[optuna.trial.TrialState.RUNNING] < task.total:
            return True
        if stop_requested() or (task.deadline is not None and time.time() >= task.deadline):
            return False
        time.sleep(WAIT_FOR_RUNNING_SECONDS)


def load_setup(
    study: optuna.Study, storage_url: str, tracking_uri: str | None = None
) -> tuple[WorkerSetup, Inputs]:
    """What the study records, with this machine's data, checked: versions, storage, fingerprint."""
    check_worker_fits(study, storage_url)
    setup = read_worker_setup(study, tracking_uri)
    check_reachable(setup.search_run.tracking_uri)
    inputs = load_inputs(setup.config, setup.space)
    if inputs.dataset.fingerprint != setup.fingerprint:
        raise TunerError(
            f"the data {setup.config.data!r} on this machine differs from the study's "
            f"(fingerprint {inputs.dataset.fingerprint}, study {setup.fingerprint}); give workers the same file"
        )
    return setup, inputs


def join(
    study_name: str, storage_url: str, sampler_seed: int | None = None, tracking_uri: str | None = None
) -> tuple[Any, SearchContext]:
    """The study and this process's context, from nothing but the study's name and storage."""
    study = load_study(study_name, storage_url, sampler_seed)
    setup, inputs = load_setup(study, storage_url, tracking_uri)
    progress = SearchProgress("trials", None, "", enabled=False)
    return study, build_context(setup.config, setup.search_run, progress, inputs)


def work(task: WorkerTask) -> int:
    """Worker entry point: join the study and run trials while the budgets allow; return how many."""
    with interrupts.handle_signals(raise_at_once=False):  # stop at the next batch, not anywhere
        study, ctx = join(task.study, task.storage, task.sampler_seed, task.tracking_uri)
        started = 0
        with WorkerBeacon(study, ctx.config.heartbeat_interval) as beacon:
            while _study_wants_more(task, study) and _budget_allows(task, started):
                beacon.trial_started()
                optimize(ctx, study, 1, None)
                started += 1
        return started


def optimize(ctx: SearchContext, study: optuna.Study, n_trials: int | None, timeout: float | None) -> None:
    """Run ``n_trials`` more trials (and/or until ``timeout`` seconds) of ``study`` in this process."""
    from tuner.estimator import estimator_params, make_estimator

    common = ctx.estimator_kwargs()
    ds = ctx.dataset

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker_id())  # first: a dead worker's trials are found by it
        values = ctx.space.suggest(trial)
        tags = {
            "optuna.study": study.study_name,
            "optuna.trial": str(trial.number),
        }
        estimator = make_estimator(
            **common,
            **estimator_params(values),
            random_state=ctx.config.seed + trial.number,
            run_target=ctx.trial_target(f"trial-{trial.number}", **tags),
            pruning_trial=trial,
        )
        try:
            estimator.fit(ctx.X_train, ds.y_train, validation_data=(ctx.X_valid, ds.y_valid))
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt as exc:  # preempted: the same parameters wait for the next worker
            trial.set_user_attr(REASON_ATTR, failure_reason(exc))
            requeue(study, trial)
            raise
        except Exception as exc:
            outcome = _outcome_of(exc, trial, study, ctx.search_run.tracking_uri)
            if outcome is exc:
                raise
            raise outcome from (exc if isinstance(outcome, _TrialError) else None)
        finally:
            if getattr(estimator, "run_id_", None):
                trial.set_user_attr(RUN_ATTR, estimator.run_id_)
            if hasattr(estimator, "timing_"):
                trial.set_user_attr(TIMING_ATTR, estimator.timing_)
        trial.set_user_attr(BEST_EPOCH_ATTR, estimator.best_epoch_)
        return estimator.val_score_

    before = len(study.trials)

    def on_trial_end(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        ctx.progress.update(len(study.trials) - before, best_value(study))
        if stop_requested():
            study.stop()  # no new trial after Ctrl-C or SIGTERM

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        study.optimize(
            objective,
            n_trials=n_trials,
            timeout=timeout,
            catch=(_TrialError,),  # the trial's own failure; a bug of ours or a lost store stops
            callbacks=[on_trial_end],
            gc_after_trial=False,  # the trial unit already collects
        )


class _TrialError(Exception):
    """A trial that failed for reasons of its own (its settings, memory): the study goes on."""


def _outcome_of(exc: Exception, trial: optuna.Trial, study: optuna.Study, tracking_uri: str) -> Exception:
    """What a trial's exception becomes: the trial's own failure (recorded, the study goes on),
    or, raised on, a bug of ours (with its traceback) or a lost store (``--resume`` goes on)."""
    if isinstance(exc, StorageUnavailable):
        return exc  # the study cannot record anything now
    trial.set_user_attr(REASON_ATTR, scrub(failure_reason(exc), tracking_uri)[:1000])
    if is_unreachable(exc):  # not the trial's fault: it waits for the --resume
        requeue(study, trial)
        return TrackingUnavailable(
            f"lost the MLflow tracking store {redact(tracking_uri)} mid-search "
            f"({scrub(first_line(exc), tracking_uri)}); finished trials are kept in study "
            f"{study.study_name!r}: when the store is back, run the same command with "
            f"--study {study.study_name} --resume"
        )
    if is_our_bug(exc):
        return exc  # Optuna fails the trial and re-raises it: the search stops
    return _TrialError(str(exc))


@functools.lru_cache(maxsize=2)
def _finish_context(study_name: str, storage_url: str, tracking_uri: str | None) -> SearchContext:
    """The context the finish tasks share: joined once per worker, not once per task.

    A pool's workers live for one search, so the study cannot change under the cache.
    """
    return join(study_name, storage_url, tracking_uri=tracking_uri)[1]


def recheck_task(
    study_name: str, storage_url: str, tracking_uri: str | None, candidate: Candidate, fold: int
) -> float:
    """Worker entry point: one re-check fold of one candidate (see :mod:`tuner.finish`)."""
    with interrupts.handle_signals(raise_at_once=False):
        return recheck_fold(_finish_context(study_name, storage_url, tracking_uri), candidate, fold)


def refit_task(
    study_name: str, storage_url: str, tracking_uri: str | None, chosen: Candidate, checked: list[Candidate]
) -> FinalModel:
    """Worker entry point: refit, test and log the chosen candidate (see :mod:`tuner.finish`)."""
    with interrupts.handle_signals(raise_at_once=False):
        return refit_and_log(_finish_context(study_name, storage_url, tracking_uri), chosen, checked)


ProgressReport = Callable[[list[optuna.trial.FrozenTrial], "float | None"], None]


def _failure_streak(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The failed trials at the end of ``trials`` (in the order they ended), interruptions aside."""
    ended = sorted((t for t in trials if t.datetime_complete), key=lambda t: t.datetime_complete)
    streak: list[optuna.trial.FrozenTrial] = []
    for trial in reversed(ended):
        if trial.state != optuna.trial.TrialState.FAIL:
            break
        if trial.user_attrs.get(REASON_ATTR) != interrupts.INTERRUPTED:
            streak.insert(0, trial)
    return streak


def _check_failures(trials: list[optuna.trial.FrozenTrial], max_failures: int) -> None:
    """Stop a search whose trials keep failing (a space or data that cannot train), quoting why."""
    streak = _failure_streak(trials)
    if max_failures and len(streak) >= max_failures:
        first = streak[0]
        raise TunerError(
            f"{len(streak)} trials in a row failed, so the search stopped (--max-failures "
            f"{max_failures}); the first, trial {first.number}: {first.user_attrs.get(REASON_ATTR, LOST_REASON)}. "
            f"Fix the space or the data, or raise --max-failures"
        )


def _replace_dead_worker(pool: WorkerPool, index: int, study: optuna.Study) -> None:
    """Worker ``index`` died: fail its trial with the reason, queue it again, start a new worker."""
    slot = pool.slots[index]
    reason = slot.death()
    lost, requeued = [], 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.user_attrs.get(WORKER_ATTR) == slot.worker_id:
            queued = fail_lost_trial(study, trial, reason)
            if queued is not None:
                lost.append(trial.number)
                requeued += queued
    mark_gone(study, slot.worker_id, reason)
    with pool.tickets.get_lock():  # a re-queued trial runs within the budget it was started in
        pool.tickets.value += requeued
    trials = f"; trial {', '.join(map(str, lost))} failed and queued again" if lost else ""
    warn(f"warning: {reason} ({slot.worker_id}){trials}; a new worker takes its place")
    pool.replace(index)


def run_in_workers(
    pool: WorkerPool,
    study_name: str,
    storage_url: str,
    *,
    trials: int | None,
    timeout: float | None,
    seed: int,
    tracking_uri: str | None = None,
    total: int | None = None,
    max_failures: int = 0,
    report: ProgressReport | None = None,
) -> int:
    """Run trials of the study in the pool's workers: ``trials`` more (all workers together),
    until ``timeout`` seconds, and/or until the study has ``total`` finished trials.

    A worker that dies is replaced, and its trial failed and queued again. The search
    stops with an error after ``max_failures`` failed trials in a row (0: never).
    ``report`` is called at every poll with the trials finished since the start and the best value.
    Returns how many trials the pool's workers started.
    """
    deadline = None if timeout is None else time.time() + timeout
    pool.tickets.value = trials if trials is not None else UNLIMITED
    study = load_study(study_name, storage_url, heartbeat=False)
    fail_trials_of_gone_workers(study)  # left running by a search or worker killed before this one
    before = {t.number for t in study.get_trials(deepcopy=False)}
    tasks = [
        WorkerTask(study_name, storage_url, None, deadline, seed + 7919 * i, tracking_uri, total)
        for i in range(pool.n_jobs)
    ]
    running, started = {pool.submit(i, work, task): i for i, task in enumerate(tasks)}, 0
    while running:
        finished, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        interrupts.check()
        for future in finished:
            index = running.pop(future)
            if isinstance(future.exception(), BrokenProcessPool):
                _replace_dead_worker(pool, index, study)
                running[pool.submit(index, work, tasks[index])] = index
            else:
                started += future.result()  # a worker's error (or a bug) ends the search here
        new = [
            t for t in study.get_trials(deepcopy=False) if t.number not in before and t.state.is_finished()
        ]
        if report is not None:
            report(new, best_value(study))
        _check_failures(new, max_failures)
    return started
