"""Faults caused for real: killed workers and searches, failing trials, a full disk, an
unwritable store, a tracking server that goes away, two searches on one study, a bug.

Each test checks what the fault left behind (trials and runs by state) and prints how
long recovery took (run with ``-s`` to see the figures).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import optuna
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from servers import MlflowServer, PrivatePostgres

import tuner.trial.estimator
from tuner.cli.main import cli
from tuner.config import SearchConfig
from tuner.engines.optuna.engine import OptunaEngine
from tuner.engines.optuna.record import PARENT_RUN_ATTR, REQUEUED_ATTR, WORKER_PREFIX
from tuner.engines.optuna.retrying import RETRY_ENV
from tuner.engines.optuna.storage import get_storage
from tuner.engines.optuna.study import load_study
from tuner.engines.optuna.worker import optimize
from tuner.jobs.steps import create
from tuner.processes.gpus import assign
from tuner.processes.worker_id import parse_worker_id
from tuner.search.context import build_context, load_inputs
from tuner.search.progress import SearchProgress
from tuner.tracking.failures import is_our_bug
from tuner.tracking.runs import WORKER_ATTR
from tuner.tracking.store import resolve_tracking_uri

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all

State = optuna.trial.TrialState
PASSWORD = "Hunter2-never-shown"
FAST = ["--space", "mlp_quick", "--data", "digits", "--quiet", "--recheck", "1", "--pruner", "none"]
# About 5 s a trial on digits (an epoch of this small space takes ~10 ms): time to kill one mid-way.
SLOW_TRIALS = ["--epochs", "400", "--patience", "400"]


def tuner_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tuner", "search", *FAST, *args]


def trials_of(study: str, storage: str | None = None) -> list[optuna.trial.FrozenTrial]:
    storage = storage or f"mlruns/optuna/{study}.journal"  # the study's own journal, by default
    if "://" not in storage and not Path(storage).exists():
        return []
    try:
        return optuna.load_study(study_name=study, storage=get_storage(storage)).trials
    except KeyError:  # not written yet
        return []


def wait_for(condition, process: subprocess.Popen, timeout: float = 180):
    """Poll ``condition`` until it returns something truthy; fail if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return found


def running_for(study: str, seconds: float, storage: str | None = None, *, with_run=False):
    """A trial of ``study`` that has run ``seconds`` in a known worker (and, ``with_run``, whose run
    is open in the local store: on a loaded machine a trial may run for seconds before it opens)."""
    for t in trials_of(study, storage):
        if t.state == State.RUNNING and WORKER_ATTR in t.user_attrs:
            if time.time() - t.datetime_start.timestamp() > seconds:
                if not with_run or _run_opened(study, t.number):
                    return t
    return None


def _run_opened(experiment: str, number: int) -> bool:
    client = MlflowClient(resolve_tracking_uri())
    found = client.get_experiment_by_name(experiment)
    query = f"tags.`optuna.trial` = '{number}'"
    return found is not None and bool(client.search_runs([found.experiment_id], query))


def runs_of(experiment: str, tracking_uri: str | None = None) -> list:
    client = MlflowClient(tracking_uri or resolve_tracking_uri())
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)


def trial_run(runs: list, number: int):
    [run] = [r for r in runs if r.data.tags.get("optuna.trial") == str(number)]
    return run


def finished(trials: list) -> list:
    return [t for t in trials if t.state in (State.COMPLETE, State.PRUNED)]


@pytest.mark.faults
def test_a_killed_worker_is_replaced_and_its_trial_failed_and_retried():
    """SIGKILL to one worker process of a search on the default journal storage."""
    command = tuner_command(*SLOW_TRIALS, "--trials", "4", "--n-jobs", "2", "--study", "k", "--name", "k")
    search = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = wait_for(lambda: running_for("k", 1.5, with_run=True), search)
    worker = victim.user_attrs[WORKER_ATTR]
    os.kill(parse_worker_id(worker)[1], signal.SIGKILL)  # host:pid:start
    killed_at = time.time()
    _, stderr = search.communicate(timeout=300)
    assert search.returncode == 0, stderr
    assert (
        f"warning: worker died (signal 9) ({worker}); trial {victim.number} failed and queued again" in stderr
    )

    trials = trials_of("k")
    dead = trials[victim.number]
    assert dead.state == State.FAIL and dead.user_attrs["fail_reason"] == "worker died (signal 9)"
    [retry] = [t for t in trials if t.user_attrs.get(REQUEUED_ATTR) == victim.number]
    assert retry.params == dead.params and retry.state == State.COMPLETE
    assert len(finished(trials)) == 4 and not [t for t in trials if t.state == State.RUNNING]
    runs = runs_of("k")
    killed_run = trial_run(runs, victim.number)
    assert (
        killed_run.info.status == "FAILED"
        and killed_run.data.tags["tuner.reason"] == "worker died (signal 9)"
    )
    assert "RUNNING" not in {r.info.status for r in runs}

    attrs = optuna.load_study(study_name="k", storage=get_storage("mlruns/optuna/k.journal")).user_attrs
    assert attrs[WORKER_PREFIX + worker]["state"] == "died"
    replacement = min(
        r["started"] for key, r in attrs.items() if key.startswith(WORKER_PREFIX) and r["started"] > killed_at
    )
    print(f"\nSIGKILL -> replacement worker up: {replacement - killed_at:.1f} s")
    print(f"SIGKILL -> retried trial started: {retry.datetime_start.timestamp() - killed_at:.1f} s")


@pytest.mark.faults
def test_a_search_killed_with_sigkill_resumes_with_nothing_left_running():
    """``kill -9`` of the whole search (its process group), then ``--resume``."""
    args = [*SLOW_TRIALS, "--n-jobs", "2", "--study", "crash", "--name", "crash"]
    search = subprocess.Popen(
        tuner_command(*args, "--trials", "50"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    wait_for(lambda: finished(trials_of("crash")) and running_for("crash", 1.5, with_run=True), search)
    os.killpg(search.pid, signal.SIGKILL)
    search.wait()
    before = trials_of("crash")
    done_before = {t.number for t in finished(before)}
    lost = [t for t in before if t.state == State.RUNNING]
    assert lost and done_before

    result = CliRunner().invoke(
        cli, ["search", *FAST, *args, "--trials", "2", "--resume", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    trials = trials_of("crash")
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING)]
    assert {t.number for t in finished(trials)} >= done_before
    assert len(finished(trials)) == len(done_before) + 2
    for t in lost:
        again = trials[t.number]
        assert again.state == State.FAIL
        assert (
            again.user_attrs["fail_reason"]
            == f"worker {t.user_attrs[WORKER_ATTR]} died (its process is gone)"
        )
        assert [r for r in trials if r.user_attrs.get(REQUEUED_ATTR) == t.number]  # its parameters ran again
    runs = runs_of("crash")
    assert "RUNNING" not in {r.info.status for r in runs}
    assert {trial_run(runs, n).info.status for n in done_before} == {"FINISHED"}
    study_parent = optuna.load_study(
        study_name="crash", storage=get_storage("mlruns/optuna/crash.journal")
    ).user_attrs[PARENT_RUN_ATTR]
    assert json.loads(result.stdout)["search_run_id"] == study_parent  # the same parent run, reopened


def test_trials_that_keep_failing_stop_the_search_quoting_the_first_error(tmp_path):
    """A full disk: weights cannot be written, every trial fails, --max-failures stops the search."""
    artifacts = tmp_path / "mlruns" / "artifacts"
    artifacts.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(artifacts)], check=True)
    try:
        args = ["--epochs", "2", "--trials", "20", "--n-jobs", "1", "--max-failures", "2", "--name", "full"]
        done = subprocess.run(tuner_command(*args), capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["umount", "-l", str(artifacts)], check=True)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 2 trials in a row failed, so the search stopped (--max-failures 2)")
    assert "No space left on device: could not write model.weights.h5 to file://" in last
    assert str(artifacts) in last and "Traceback" not in done.stderr
    runs = runs_of("full")
    trial_runs = [r for r in runs if r.data.tags["tuner.kind"] == "trial"]
    # Failed, not hung; a trial that had started as the search stopped is failed as interrupted.
    assert len(trial_runs) >= 2 and {r.info.status for r in trial_runs} == {"FAILED"}
    assert "RUNNING" not in {r.info.status for r in runs}


@pytest.mark.faults
def test_an_unwritable_store_is_refused_at_start_naming_the_folder(tmp_path):
    """``mlruns/`` belongs to another user. Root would write anyway, so the search runs as root
    without the capabilities that override permission bits (setpriv): the bits decide."""
    store = tmp_path / "mlruns"
    store.mkdir(mode=0o755)
    os.chown(store, 65534, 65534)  # nobody's
    no_override = "--bounding-set=-dac_override,-dac_read_search,-fowner"
    done = subprocess.run(
        ["setpriv", no_override, *tuner_command("--trials", "1")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: cannot write to {store} (Permission denied): the MLflow store needs it; "
        f"make it writable for this user, or point --tracking-uri elsewhere"
    )
    assert list(store.iterdir()) == []  # nothing half-written


@pytest.mark.faults
def test_a_tracking_server_outage_is_ridden_out_then_stops_the_search_resumably(tmp_path):
    """A server down for a few seconds: retried through. Down for good: exit 2 within a minute
    (tuner's retry defaults), nothing lost, and the study resumes."""
    server = MlflowServer(
        f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts", tmp_path / "server.log"
    )
    args = ["--epochs", "12", "--patience", "12", "--n-jobs", "1", "--study", "out", "--name", "out"]
    with_password = server.url.replace("http://", f"http://me:{PASSWORD}@")  # never shown or saved
    args += ["--tracking-uri", with_password]
    search = None
    try:
        server.start()
        search = subprocess.Popen(
            tuner_command(*args, "--trials", "30"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: len(finished(trials_of("out"))) >= 1 and running_for("out", 0.5), search)
        server.stop()  # a brief outage, mid-trial: 2 s, and the server's start (~5 s)
        time.sleep(2)
        server.start()
        survived = len(finished(trials_of("out"))) + 1
        wait_for(lambda: len(finished(trials_of("out"))) >= survived, search)
        wait_for(lambda: running_for("out", 0.5), search)
        server.stop()  # and now for good
        stopped_at = time.monotonic()
        _, stderr = search.communicate(timeout=120)
        took = time.monotonic() - stopped_at
        assert search.returncode == 2, stderr
        assert took < 60
        last = stderr.strip().splitlines()[-1]
        shown = server.url.replace("http://", "http://me:***@")
        assert last.startswith(f"error: lost the MLflow tracking store {shown} mid-search")
        assert PASSWORD not in stderr
        assert "run the same command with --study out --resume" in last and "Traceback" not in stderr
        print(f"\ntracking server gone -> search stopped: {took:.1f} s")
        trials = trials_of("out")
        done_before = {t.number for t in finished(trials)}
        assert len(done_before) >= survived
        interrupted = {t.number for t in trials if t.state == State.FAIL}
        assert [t.state for t in trials if t.user_attrs.get(REQUEUED_ATTR) in interrupted] == [State.WAITING]

        server.start()
        result = CliRunner().invoke(
            cli, ["search", *FAST, *args, "--trials", "1", "--resume", "--output", "json"]
        )
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output and json.loads(result.stdout)["tracking_uri"] == shown
        runs = runs_of("out", server.url)
        saved = MlflowClient(server.url).download_artifacts(
            json.loads(result.stdout)["search_run_id"], "search_result.json"
        )
        assert PASSWORD not in Path(saved).read_text()
    finally:
        if search is not None and search.poll() is None:
            search.kill()
        server.stop()
    assert "RUNNING" not in {r.info.status for r in runs}
    assert {trial_run(runs, n).info.status for n in done_before} == {"FINISHED"}  # no finished trial lost
    assert len(finished(trials_of("out"))) == len(done_before) + 1


def test_two_searches_join_one_study_and_a_different_one_is_refused(space_file):
    """``--resume`` twice at once: both add trials to one study; another space is refused."""
    args = ["--epochs", "3", "--n-jobs", "1", "--study", "both", "--name", "both"]
    first = CliRunner().invoke(cli, ["search", *FAST, *args, "--trials", "1"])
    assert first.exit_code == 0, first.output
    joiners = [
        subprocess.Popen(tuner_command(*args, "--trials", "2", "--resume"), stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for joiner in joiners:
        assert joiner.wait(300) == 0, joiner.communicate()
    trials = trials_of("both")
    assert len(finished(trials)) == 5 and len({t.number for t in trials}) == len(trials)
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) == 3  # three processes, one study

    other = space_file("params:\n  n_hidden: {type: int, low: 1, high: 2}\n", "other.yaml")
    refused = CliRunner().invoke(
        cli, ["search", *FAST, *args, "--space", str(other), "--trials", "1", "--resume"]
    )
    assert refused.exit_code == 2
    assert refused.output.strip() == (
        "error: study 'both' was created with other settings: the space ('mlp_quick' in the study). "
        "Resume it with the same ones, or start another --study"
    )
    assert len(trials_of("both")) == len(trials)


def test_a_bug_in_tuner_stops_the_search_but_a_setting_keras_rejects_does_not(monkeypatch):
    """The trial's own failure is recorded and the study goes on; our bug raises, with its traceback.

    The faults are injected by replacing the trial's network builder in this process; what raises
    is real: Keras' own check of a layer size, and a call into tuner that breaks inside it.
    """
    config = SearchConfig(
        space="mlp_quick", data="iris", epochs=2, trials=1, study="bug", show_progress=False
    )
    inputs = load_inputs(config)
    engine = OptunaEngine(config)
    search_run = create(config, engine, inputs)
    ctx = build_context(config, search_run, SearchProgress("trials", None, "", enabled=False), inputs)
    study = load_study("bug", engine.storage_url, heartbeat=False)

    monkeypatch.setattr(tuner.trial.estimator, "build_network", lambda *a, **kw: keras.layers.Dense(-1))
    optimize(ctx, study, 1, None)  # returns: a rejected setting is the trial's failure
    rejected = study.trials[-1]
    assert rejected.state == State.FAIL and rejected.user_attrs["fail_reason"].startswith("ValueError")

    monkeypatch.setattr(tuner.trial.estimator, "build_network", lambda *a, **kw: assign(None, ["0"]))
    with pytest.raises(TypeError) as raised:
        optimize(ctx, study, 1, None)
    assert is_our_bug(raised.value) and not is_our_bug(_keras_error())
    assert study.trials[-1].state == State.FAIL and len(study.trials) == 2  # no trial after the bug


def _keras_error() -> Exception:
    try:
        keras.layers.Dense(-1)
    except ValueError as exc:
        return exc
    raise AssertionError("Keras accepted a negative layer size")


@pytest.mark.faults
def test_a_database_outage_is_ridden_out_then_stops_the_search_resumably():
    """The study's PostgreSQL stopped for 3 s mid-trial: waited out. Stopped for good: exit 2 once
    the retry budget is spent (20 s here, $TUNER_STORAGE_RETRY_SECONDS), nothing lost, resumable."""
    database = PrivatePostgres()
    database.start()
    env = {**os.environ, RETRY_ENV: "20"}
    args = ["--epochs", "12", "--patience", "12", "--n-jobs", "1", "--study", "db", "--name", "db"]
    args += ["--storage", database.url]
    search = subprocess.Popen(
        tuner_command(*args, "--trials", "30"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(
            lambda: (
                len(finished(trials_of("db", database.url))) >= 1 and running_for("db", 0.5, database.url)
            ),
            search,
        )
        database.stop()  # a brief outage, mid-trial
        time.sleep(3)
        database.start()
        survived = len(finished(trials_of("db", database.url))) + 1
        wait_for(lambda: len(finished(trials_of("db", database.url))) >= survived, search)
        database.stop()  # and now for good
        stopped_at = time.monotonic()
        _, stderr = search.communicate(timeout=120)
        took = time.monotonic() - stopped_at
        assert search.returncode == 2, stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: lost the Optuna storage {database.url} for 20 s")
        assert last.endswith("run the same command with --resume") and "Traceback" not in stderr
        print(f"\ndatabase gone -> search stopped: {took:.1f} s (budget 20 s)")

        database.start()
        done_before = {t.number for t in finished(trials_of("db", database.url))}
        assert len(done_before) >= survived
        result = CliRunner().invoke(  # the same retry budget: a trial the search never claimed is lost
            cli,
            ["search", *FAST, *args, "--trials", "1", "--resume", "--output", "json"],
            env={RETRY_ENV: "20"},
        )
        assert result.exit_code == 0, result.output
        trials = trials_of("db", database.url)
    finally:
        if search.poll() is None:
            search.kill()
        database.remove()
    assert not [t for t in trials if t.state == State.RUNNING]
    assert {t.number for t in finished(trials)} >= done_before  # no finished trial lost
    runs = runs_of("db")
    assert "RUNNING" not in {r.info.status for r in runs}
    assert {trial_run(runs, n).info.status for n in done_before} == {"FINISHED"}
