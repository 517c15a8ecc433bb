"""A search spread over a scheduler: create the study once, run workers anywhere, finish once.

``tuner search`` runs these three steps in one process tree; a cluster job runs
them as commands (``tuner study create``, ``tuner worker``, ``tuner study finish``)
on Optuna's own distributed mode, a study in a shared RDB storage (PostgreSQL), and
one MLflow tracking server. There is no coordinator of our own: the study is the
queue, and everything a worker needs is recorded in it (:mod:`tuner.engines.optuna.record`).
The three commands call the same three steps as ``tuner search`` (:mod:`tuner.jobs.steps`).

Scheduler-friendly by design: ``create`` run again with the same settings changes
nothing, a worker exits 0 once its budget or the study's is spent, and ``finish``
run again prints the result it already made.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from tuner._compat.optuna import study_storage
from tuner.config import SearchConfig, launch_settings
from tuner.engines.optuna.engine import OptunaEngine
from tuner.engines.optuna.finish_lock import finish_lock
from tuner.engines.optuna.heartbeats import workers_seen
from tuner.engines.optuna.lost import fail_stale_trials, fail_trials_of_gone_workers
from tuner.engines.optuna.record import StudyRecord, is_tuners, settings_of, store_result, stored_result
from tuner.engines.optuna.storage import check_storage, get_storage
from tuner.engines.optuna.study import STATE_NAMES, collect, load_study, sampler_seed
from tuner.engines.optuna.worker import DATA_ENV, load_setup
from tuner.errors import TunerError
from tuner.jobs.steps import check_inputs, create, finish, work, worker_pool
from tuner.processes.gpus import usable_cores
from tuner.redact import password_of, redact
from tuner.search.context import build_context, load_inputs
from tuner.search.outcomes import SearchResult
from tuner.search.progress import SearchProgress
from tuner.search.timing import PhaseClock
from tuner.tracking.runs import WORKER_ATTR, recorded_run
from tuner.views.studies import finished_count

STORAGE_ENV = "TUNER_STORAGE"
TrialState = optuna.trial.TrialState


@dataclass
class CreatedStudy:
    study: str
    storage: str  # redacted
    search_run_id: str
    created: bool  # False: it existed with these settings, and nothing changed
    worker_command: str


def _worker_command(study: str, storage_url: str) -> str:
    """What to run on every worker machine; the storage URL only if it holds no secret."""
    command = f"tuner worker --study {shlex.quote(study)}"
    if os.environ.get(STORAGE_ENV) == storage_url:
        return command  # the worker's environment carries it, as this one's did
    if password_of(storage_url):  # never printed: the worker's environment must carry it
        return f'{command} --storage "${STORAGE_ENV}"   # with ${STORAGE_ENV} set to the storage URL'
    return f"{command} --storage {shlex.quote(storage_url)}"


def create_study(config: SearchConfig) -> CreatedStudy:
    """Create the study and its parent run, recording what workers need; idempotent for cron jobs."""
    if not config.study or not config.storage:
        raise TunerError(f"give --study NAME and --storage URL (or ${STORAGE_ENV})")
    config = replace(config, engine="optuna", resume=False, show_progress=False)
    if Path(config.data).is_file():  # workers find the file where the study says, on shared storage
        config.data = str(Path(config.data).resolve())
    config.validate()
    check_storage(config.storage)  # a wrong URL or password fails before the data is read
    inputs = load_inputs(config)
    if not inputs.network.locatable:
        raise TunerError(
            f"a cluster study's workers find the model by a path, and {inputs.network.spec} is a function "
            f"object only this process has (a lambda or a notebook cell): put it in a file and give "
            f"--model path/to/file.py:function"
        )
    config.metric = inputs.metric.name  # as recorded, so that a retry compares equal
    engine = OptunaEngine(config, storage=get_storage(config.storage))
    check_inputs(config, engine, inputs)
    command = _worker_command(config.study, config.storage)
    if config.study not in optuna.get_all_study_names(engine.storage):
        try:
            search_run = create(config, engine, inputs)  # the study, its parent run, the record
            return CreatedStudy(
                config.study, redact(config.storage) or "", search_run.search_run_id, True, command
            )
        except optuna.exceptions.DuplicatedStudyError:
            pass  # another create won the race (a scheduler's pods start together): join it
    record = _wait_for_record(optuna.load_study(study_name=config.study, storage=engine.storage))
    diffs = record.differences(
        config, inputs.space, inputs.dataset.fingerprint, launch_settings(), inputs.network.sha256
    )
    if diffs:
        raise TunerError(
            f"study {config.study!r} exists with other settings: {'; '.join(diffs)}. "
            f"Give the same settings, or another --study name"
        )
    return CreatedStudy(config.study, redact(config.storage) or "", record.parent_run_id, False, command)


def _wait_for_record(study: optuna.Study, timeout: float = 120.0) -> StudyRecord:
    """The study's record, once the create that made the study has written it."""
    deadline = time.monotonic() + timeout
    while not is_tuners(study.user_attrs) and time.monotonic() < deadline:
        time.sleep(1.0)
    return StudyRecord.read(study)  # refuses, by name, a study tuner did not create


def _trial_line(trial: optuna.trial.FrozenTrial, metric: str) -> str:
    state = STATE_NAMES.get(trial.state, trial.state.name.lower())
    value = "-" if trial.value is None else f"{trial.value:.4f}"
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    worker = trial.user_attrs.get(WORKER_ATTR, "?")
    return f"trial {trial.number} {state}: {metric} {value} in {seconds:.1f} s on {worker}"


def run_worker(
    study_name: str,
    storage_url: str,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    n_jobs: int = 1,
    tracking_uri: str | None = None,
    data: str | None = None,
    finish_after: bool = False,
    echo: Any = print,
) -> int:
    """Run trials of a created study until this worker's budget or the study's total; return how many ended.

    Everything but the study's name and storage comes from the study. ``n_jobs``
    processes run trials side by side (0: one per core), each on its own GPU when
    the machine has several (:mod:`tuner.processes.gpus`).
    """
    study = load_study(study_name, storage_url, heartbeat=False)
    if stored_result(study.user_attrs):
        echo(f"study {study_name!r} is finished (`tuner study finish` ran): no trial to run")
        return 0
    if data:  # this machine's copy, for the pool's processes too (checked against the fingerprint)
        os.environ[DATA_ENV] = data
    setup, inputs = load_setup(study, storage_url, tracking_uri)  # refuse here, before starting processes
    if tracking_uri:  # the pool's processes, and their stale-trial handling, log there too
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    total, metric, seen = setup.config.trials, inputs.metric.name, set()
    echo(f"worker for study {study_name!r}: {n_jobs or usable_cores()} process(es); study total {total}")

    def report(new: list[optuna.trial.FrozenTrial], best: float | None) -> None:
        for trial in new:
            if trial.number not in seen:
                seen.add(trial.number)
                echo(_trial_line(trial, metric))

    config = replace(setup.config, study=study_name, storage=storage_url, trials=trials, timeout=timeout)
    config.n_jobs = n_jobs
    seed = sampler_seed(setup.config.seed, study, unique=True)  # workers elsewhere sample their own points
    engine = OptunaEngine(config, storage=study_storage(study), total=total, seed=seed, report=report)
    ctx = build_context(config, setup.search_run, SearchProgress("trials", None, "", enabled=False), inputs)
    with worker_pool(engine) as pool:  # forked once the fork server's imports are done
        ran = work(engine, ctx, pool)
    echo(f"worker done: it ran {ran} trial(s); the study has {finished_count(study)} finished of {total}")
    if finish_after:
        _finish_if_last(study, storage_url, n_jobs, tracking_uri, echo)
    return ran


def _finish_if_last(
    study: optuna.Study, storage_url: str, n_jobs: int, tracking_uri: str | None, echo: Any
) -> None:
    """``tuner worker --finish``: the last worker to leave a study whose total is reached finishes
    it (the finish lock makes two at once harmless)."""
    alive = [w for w in workers_seen(study.user_attrs) if w["state"] == "running"]
    total = settings_of(study.user_attrs).get("trials")
    if alive:
        echo(f"{len(alive)} worker process(es) still run trials: the last to leave finishes the study")
    elif total is not None and finished_count(study) < total:
        echo(f"the study has {finished_count(study)} finished of {total}: not finishing it before its total")
    else:
        result, existed = finish_study(
            study.study_name, storage_url, wait=True, n_jobs=n_jobs, tracking_uri=tracking_uri
        )
        what = "was finished by another process" if existed else "finished"
        echo(
            f"study {study.study_name!r} {what}: test {result.metric} {result.test_score}, model {result.model_uri}"
        )


def _wait_for_budget(study: optuna.Study, wait: bool, poll: float, timeout: float) -> None:
    """Return once the study is done: no trial runs, and its total is reached or no worker is
    alive (a finish started beside its workers waits for them). Without ``wait``, refuse while
    a trial runs; waiting, refuse once ``timeout`` seconds pass and no worker ever joined (its
    workers never started: a scheduler would otherwise hold the finish until its own limit)."""
    total = settings_of(study.user_attrs).get("trials")
    deadline = time.monotonic() + timeout
    while True:
        fail_stale_trials(study)  # a dead worker's trial is not "running"
        fail_trials_of_gone_workers(study)
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if not wait:
            if running:
                raise TunerError(
                    f"study {study.study_name!r} has {running} trial(s) still running; let the workers "
                    f"end, or add --wait to finish when they have"
                )
            return
        workers = workers_seen(study.user_attrs)
        alive = [w for w in workers if w["state"] == "running"]
        if not running and (
            (total is not None and finished_count(study) >= total) or (workers and not alive)
        ):
            return
        if not workers and time.monotonic() >= deadline:
            raise TunerError(
                f"no worker joined study {study.study_name!r} in the {timeout:g} s this finish waited; "
                f"start workers (tuner worker --study {study.study_name}) or raise --wait-timeout"
            )
        time.sleep(poll)


def finish_study(
    study_name: str,
    storage_url: str,
    *,
    wait: bool = False,
    wait_timeout: float = 1800.0,
    n_jobs: int = 0,
    tracking_uri: str | None = None,
    data: str | None = None,
    register: str | None = None,
    poll: float = 5.0,
) -> tuple[SearchResult, bool]:
    """What ``tuner search`` does at its end, once per study whoever asks (a finish lock);
    return the result and whether it existed already."""
    clock = PhaseClock()
    study = load_study(study_name, storage_url)
    if stored_result(study.user_attrs) is None:
        _wait_for_budget(study, wait, min(poll, wait_timeout), wait_timeout)
    with finish_lock(study) as mine:
        if not mine:  # another finish did it while this one waited
            stored = stored_result(study.user_attrs)
            assert stored is not None
            return SearchResult(**json.loads(stored), trials=collect(study).trials), True
        setup, inputs = load_setup(study, storage_url, tracking_uri, data)
        config = replace(setup.config, study=study_name, storage=storage_url, n_jobs=n_jobs)
        config.register = register or config.register
        engine = OptunaEngine(config, storage=study_storage(study))
        progress = SearchProgress("trials", None, "", enabled=False)
        ctx = build_context(config, setup.search_run, progress, inputs)
        with worker_pool(engine) as pool:  # forked once the fork server's imports are done
            with recorded_run(setup.search_run, run_id=setup.search_run.search_run_id) as run:
                result = finish(ctx, engine, pool, run, clock)
        result.storage = redact(storage_url)
        kept = {k: v for k, v in result.to_dict().items() if k != "trials"}
        store_result(study, json.dumps(kept, default=str))
    return result, False
