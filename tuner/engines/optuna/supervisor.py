"""The supervisor: runs a study's trials in a pool's workers and watches them.

A worker that dies is replaced, and its trial failed and queued again; a streak of
failed trials stops the search, quoting the first; progress is reported at every poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import optuna

from tuner import interrupts
from tuner.engines.optuna.heartbeats import mark_gone
from tuner.engines.optuna.lost import LOST_REASON, fail_lost_trial, fail_trials_of_gone_workers
from tuner.engines.optuna.record import REASON_ATTR
from tuner.engines.optuna.study import best_value
from tuner.engines.optuna.worker import WorkerTask, work
from tuner.errors import TunerError
from tuner.processes.pool import POLL_SECONDS, UNLIMITED, WorkerPool, warn
from tuner.tracking.runs import WORKER_ATTR

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
    study: optuna.Study,
    storage_url: str,
    *,
    trials: int | None,
    timeout: float | None,
    seed: int,
    tracking_uri: str | None = None,
    total: int | None = None,
    max_failures: int = 0,
    report: ProgressReport | None = None,
    network: Any = None,
) -> int:
    """Run trials of ``study`` (its workers open it at ``storage_url``) in the pool's workers: ``trials`` more (all workers together),
    until ``timeout`` seconds, and/or until the study has ``total`` finished trials.

    A worker that dies is replaced, and its trial failed and queued again. The search
    stops with an error after ``max_failures`` failed trials in a row (0: never).
    ``network``: the search's own :class:`~tuner.networks.reference.ModelRef`, which may be a
    function object no path finds (else each worker finds the study's model in its own copy).
    ``report`` is called at every poll with the trials finished since the start and the best value.
    Returns how many trials the pool's workers started.
    """
    deadline = None if timeout is None else time.time() + timeout
    pool.tickets.value = trials if trials is not None else UNLIMITED
    fail_trials_of_gone_workers(study)  # left running by a search or worker killed before this one
    before = {t.number for t in study.get_trials(deepcopy=False)}
    tasks = [
        WorkerTask(study.study_name, storage_url, deadline, seed + 7919 * i, tracking_uri, total, network)
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
