"""Optuna trials in worker processes, as the workers of a cluster job would run them.

The search process runs no trials itself: it starts ``--n-jobs`` workers, each a
fresh process that joins the study through its storage, runs its share of trials
and exits. Processes, not threads: Keras keeps global state per process, and
TensorFlow trains one model per process best on a few cores. A worker runs at most
``TRIALS_PER_WORKER`` trials, so a leak in a library (TensorFlow has had several;
see ``tuner.estimator._forget_custom_gradients``) cannot grow without bound. The
search process watches the storage to draw progress, and refits the best
parameters at the end.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from tuner import interrupts
from tuner.context import SearchContext, build_context, load_inputs
from tuner.engines.optuna_search import optimize
from tuner.engines.study import best_value, load_study, read_worker_setup
from tuner.errors import TunerError
from tuner.progress import SearchProgress

TRIALS_PER_WORKER = 50
POLL_SECONDS = 1.0
STOP_GRACE_SECONDS = 30.0  # for an interrupted worker to close its MLflow run and trial


@dataclass(frozen=True)
class WorkerTask:
    """What one worker process needs: the study, and its share of the budget."""

    study: str
    storage: str
    trials: int | None
    deadline: float | None  # wall-clock time (time.time()) after which no trial starts
    sampler_seed: int


def work(task: WorkerTask) -> int:
    """Worker entry point: join the study and run up to ``task.trials`` trials."""
    with interrupts.handle_signals(raise_at_once=False):  # stop at the next batch, not anywhere
        return _join_and_optimize(task)


def _join_and_optimize(task: WorkerTask) -> int:
    study = load_study(task.study, task.storage, task.sampler_seed)
    setup = read_worker_setup(study)
    inputs = load_inputs(setup.config, setup.space)
    if inputs.dataset.fingerprint != setup.fingerprint:
        raise TunerError(
            f"the data {setup.config.data!r} on this machine differs from the study's "
            f"(fingerprint {inputs.dataset.fingerprint}, study {setup.fingerprint}); give workers the same file"
        )
    progress = SearchProgress("trials", None, "", enabled=False)
    ctx = build_context(setup.config, setup.search_run, progress, inputs)
    if interrupts.stop_requested():  # stopped while starting up: no trial to record
        return 0
    before = len(study.trials)
    timeout = None if task.deadline is None else max(0.0, task.deadline - time.time())
    optimize(ctx, study, task.trials, timeout)
    return len(study.trials) - before


def _stop_workers() -> None:
    """Interrupt every worker, so each records its trial as failed, then kill what is left."""
    workers = multiprocessing.active_children()
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()


def _batches(trials: int, n_jobs: int) -> list[int]:
    """Split ``trials`` into per-worker counts: at most TRIALS_PER_WORKER, spread over n_jobs."""
    size = max(1, min(TRIALS_PER_WORKER, math.ceil(trials / n_jobs)))
    return [min(size, trials - start) for start in range(0, trials, size)]


def run_in_workers(ctx: SearchContext, study_name: str, storage_url: str) -> None:
    """Run ``trials`` trials (and/or until ``timeout``) of the study in recycled worker processes."""
    config = ctx.config
    deadline = None if config.timeout is None else time.time() + config.timeout
    batches = _batches(config.trials, config.n_jobs) if config.trials else None
    study = load_study(study_name, storage_url)
    before = {t.number for t in study.get_trials(deepcopy=False)}
    spawn = multiprocessing.get_context("spawn")  # no inherited TensorFlow or locks
    submitted = 0
    running: set[Future] = set()

    def more_work() -> bool:
        if batches is not None:
            return submitted < len(batches)
        return deadline is not None and time.time() < deadline

    with ProcessPoolExecutor(max_workers=config.n_jobs, mp_context=spawn, max_tasks_per_child=1) as pool:
        try:
            while True:
                while len(running) < config.n_jobs and more_work():
                    count = batches[submitted] if batches is not None else TRIALS_PER_WORKER
                    task = WorkerTask(
                        study_name, storage_url, count, deadline, config.seed + 7919 * submitted
                    )
                    running.add(pool.submit(work, task))
                    submitted += 1
                if not running:
                    break
                finished, running = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                interrupts.check()
                for future in finished:
                    future.result()  # a worker's exception ends the search here
                new = [
                    t
                    for t in study.get_trials(deepcopy=False)
                    if t.number not in before and t.state.is_finished()
                ]
                states = {
                    "pruned": sum(t.state.name == "PRUNED" for t in new),
                    "failed": sum(t.state.name == "FAIL" for t in new),
                }
                ctx.progress.update(len(new), best_value(study), states)
        except BaseException:  # Ctrl-C, SIGTERM, or a worker's error
            _stop_workers()
            raise
