"""Cluster jobs for real: `tuner study` and `tuner worker` processes on one PostgreSQL study,
logging to a real `mlflow server` (its backend in PostgreSQL, its artifacts in a temporary folder).

The storage URL carries a password (trust authentication accepts any), which must appear in
no output, no study attribute and no MLflow run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from servers import study_trials
from sklearn.datasets import load_digits

from tuner.cli.main import cli
from tuner.data.dataset import load_dataset
from tuner.engines.optuna.lost import STALE_REASON
from tuner.engines.optuna.record import HOST_ATTR, VERSIONS_ATTR

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all

PASSWORD = "s3cret-Pw9"
STUDY = [
    "--space",
    "mlp_quick",
    "--data",
    "digits",
    "--epochs",
    "3",
    "--patience",
    "2",
    "--recheck",
    "1",
    "--heartbeat-interval",
    "1",
    "--grace-period",
    "3",
]


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def tuner_env(storage: str, tracking: str) -> dict[str, str]:
    return {**os.environ, "TUNER_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking}


def start_worker(env: dict[str, str], study: str, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tuner", "worker", "--study", study, *extra]
    return subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def invoke(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuner", *args], env=env, capture_output=True, text=True)


def status(env: dict[str, str], study: str) -> dict:
    done = invoke(env, "study", "status", "--study", study, "--output", "json")
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    return json.loads(done.stdout)


def trials_of(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return study_trials(storage, study)


@pytest.mark.cluster  # .ci/stages/cluster.sh
def test_three_workers_share_one_study_and_one_tracking_server(tracking_server, database, tmp_path):
    storage = with_password(database)
    env = tuner_env(storage, tracking_server)
    created = invoke(env, "study", "create", "--study", "nightly", *STUDY, "--trials", "9")
    assert created.returncode == 0, created.stderr
    assert "tuner worker --study nightly" in created.stdout  # the URL stays in $TUNER_STORAGE
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    workers = [start_worker(env, "nightly", log) for log in logs]

    seen_running = False
    while any(w.poll() is None for w in workers):
        if not seen_running:  # then leave the two cores to the workers
            now = status(env, "nightly")
            seen_running = now["trials"]["running"] > 0 and len(now["workers"]) >= 1
        time.sleep(1)
    outputs = [log.read_text() for log in logs]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert seen_running

    trials = trials_of(database, "nightly")
    finished = [
        t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert 9 <= len(finished) <= 9 + 2  # trials running as the total is reached may finish past it
    assert len({t.number for t in trials}) == len(trials)
    after = status(env, "nightly")
    assert after["trials"]["running"] == 0 and after["budget_left"] == 0
    assert after["trials"]["complete"] + after["trials"]["pruned"] == len(finished)
    assert len({w["pid"] for w in after["workers"]}) == 3 and all(
        w["state"] == "exited" for w in after["workers"]
    )
    assert after["trials_per_minute"] > 0

    client = MlflowClient(tracking_server)
    parent = after["search_run_id"]
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    trial_runs = {
        r.data.tags["optuna.trial"]: r for r in children if r.data.tags.get("tuner.kind") == "trial"
    }
    assert set(trial_runs) == {str(t.number) for t in finished}

    finish = invoke(env, "study", "finish", "--study", "nightly", "--output", "json")
    assert finish.returncode == 0, finish.stderr
    result = json.loads(finish.stdout)
    again = invoke(env, "study", "finish", "--study", "nightly", "--output", "json")
    assert (
        json.loads(again.stdout)["already_finished"]
        and json.loads(again.stdout)["model_uri"] == result["model_uri"]
    )
    assert client.get_run(parent).info.status == "FINISHED"
    mlflow.set_tracking_uri(tracking_server)
    ds = load_dataset("digits")  # the held-out split the finish step scored
    predicted = mlflow.pyfunc.load_model(result["model_uri"]).predict(ds.X_test)["prediction"]
    accuracy = float(np.mean(predicted == ds.y_test))
    assert accuracy == pytest.approx(result["test_score"]) and accuracy > 0.5  # 10 classes: chance is 0.1

    listed = invoke(env, "study", "list", "--output", "json")
    assert [(s["study"], s["finished"]) for s in json.loads(listed.stdout)] == [("nightly", True)]
    recorded = json.dumps(optuna.load_study(study_name="nightly", storage=database).user_attrs)
    runs = client.search_runs([client.get_run(parent).info.experiment_id])
    logged = json.dumps([[r.data.params, r.data.tags] for r in runs])
    for text in [*outputs, created.stdout + created.stderr, finish.stdout, recorded, logged]:
        assert PASSWORD not in text


@pytest.mark.cluster  # .ci/stages/cluster.sh
def test_a_sigkilled_worker_trial_is_failed_and_retried(tracking_server, database, tmp_path):
    """A worker machine gone: its trial is failed by whichever comes first, the RDB heartbeat
    (grace 3 s) or, on this host, the study's heartbeats seeing its process gone."""
    storage = with_password(database)
    env = tuner_env(storage, tracking_server)
    slow = [*STUDY, "--epochs", "12", "--patience", "12", "--pruner", "none", "--trials", "6"]
    assert invoke(env, "study", "create", "--study", "kill", *slow).returncode == 0
    workers = [start_worker(env, "kill", tmp_path / f"w{i}.log") for i in range(3)]
    victim = None
    while victim is None:
        for t in trials_of(database, "kill"):
            if t.state == optuna.trial.TrialState.RUNNING and t.intermediate_values:
                victim = t  # training (an epoch reported): claimed, and all its parameters drawn
        time.sleep(0.2)
    pid = int(victim.user_attrs["tuner.worker"].split(":")[1])
    owner = next(w for w in workers if os.getpgid(pid) == w.pid)  # the worker whose process runs it
    os.killpg(owner.pid, signal.SIGKILL)  # the machine is gone: the command and its trial process
    killed_at = time.time()
    for w in workers:
        w.wait(240)
    assert [w.returncode for w in workers if w is not owner] == [0, 0]

    trials = trials_of(database, "kill")
    failed = next(t for t in trials if t.number == victim.number)
    assert failed.state == optuna.trial.TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get("tuner.requeued_from") == victim.number)
    assert retry.params == victim.params and retry.state.is_finished()
    print(f"SIGKILL to retry start: {retry.datetime_start.timestamp() - killed_at:.1f} s")
    finished = [
        t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert len(finished) >= 6
    client = MlflowClient(tracking_server)
    parent = status(env, "kill")["search_run_id"]
    experiment = client.get_run(parent).info.experiment_id
    [run] = client.search_runs(
        [experiment], f"tags.`optuna.study` = 'kill' and tags.`optuna.trial` = '{victim.number}'"
    )
    gone = f"worker {victim.user_attrs['tuner.worker']} died (its process is gone)"
    assert run.info.status == "FAILED" and run.data.tags["tuner.reason"] in (STALE_REASON, gone)
    assert failed.user_attrs.get("fail_reason", gone) == gone  # Optuna's heartbeat sets no reason


@pytest.mark.cluster  # .ci/stages/cluster.sh
def test_sigterm_puts_the_running_trial_back_in_the_queue_and_finish_waits_for_it(database, tmp_path):
    env = tuner_env(database, f"sqlite:///{tmp_path / 'mlflow.db'}")
    slow = [*STUDY, "--epochs", "300", "--patience", "300", "--pruner", "none", "--trials", "3"]
    assert invoke(env, "study", "create", "--study", "pre", *slow).returncode == 0
    worker = start_worker(env, "pre", tmp_path / "w.log")
    while not any(t.state == optuna.trial.TrialState.RUNNING for t in trials_of(database, "pre")):
        time.sleep(0.2)
    refused = invoke(env, "study", "finish", "--study", "pre")  # a trial of 300 epochs runs
    assert refused.returncode == 2 and "1 trial(s) still running" in refused.stderr
    worker.send_signal(signal.SIGTERM)  # what a scheduler sends before preempting
    assert worker.wait(60) == 130
    trials = trials_of(database, "pre")
    stopped = next(t for t in trials if t.state == optuna.trial.TrialState.FAIL)
    assert stopped.user_attrs["fail_reason"].startswith("interrupted")
    queued = next(t for t in trials if t.state == optuna.trial.TrialState.WAITING)
    assert queued.system_attrs["fixed_params"] == stopped.params  # how Optuna keeps an enqueued trial's
    assert queued.user_attrs["tuner.requeued_from"] == stopped.number


def test_create_again_is_a_no_op_and_other_settings_are_refused(database):
    runner, url = CliRunner(), with_password(database)
    args = ["study", "create", "--study", "s", "--storage", url, *STUDY, "--trials", "5"]
    first = runner.invoke(cli, args)
    again = runner.invoke(cli, args)
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert "nothing changed" in again.output and PASSWORD not in first.output + again.output
    assert 'tuner worker --study s --storage "$TUNER_STORAGE"' in first.output
    assert len(optuna.load_study(study_name="s", storage=database).trials) == 0
    other = runner.invoke(cli, [*args[:-2], "--trials", "7", "--epochs", "5"])
    assert other.exit_code == 2
    assert "epochs 3 (study) vs 5 (given)" in other.output and "trials 5 (study) vs 7 (given)" in other.output


def test_a_worker_with_other_versions_is_refused_with_both_named(database):
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["study", "create", "--study", "v", "--storage", database, *STUDY]).exit_code == 0
    )
    study = optuna.load_study(study_name="v", storage=database)
    study.set_user_attr(VERSIONS_ATTR, {**study.user_attrs[VERSIONS_ATTR], "tensorflow": "2.0.0"})
    refused = runner.invoke(cli, ["worker", "--study", "v", "--storage", database])
    assert refused.exit_code == 2
    assert (
        "tensorflow 2.0.0" in refused.output
        and f"this worker runs tensorflow {tf_version()}" in refused.output
    )


def tf_version() -> str:
    from importlib.metadata import version

    return version("tensorflow")


def test_a_local_file_study_refuses_workers_on_other_machines(tmp_path):
    runner, journal = CliRunner(), str(tmp_path / "local.journal")
    assert (
        runner.invoke(cli, ["study", "create", "--study", "f", "--storage", journal, *STUDY]).exit_code == 0
    )
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    optuna.load_study(study_name="f", storage=storage).set_user_attr(HOST_ATTR, "another-machine")
    refused = runner.invoke(cli, ["worker", "--study", "f", "--storage", journal])
    assert refused.exit_code == 2
    assert "created on host another-machine" in refused.output and "database server" in refused.output


def test_a_worker_whose_data_differs_is_refused(database, tmp_path):
    data = tmp_path / "table.csv"
    X, y = load_digits(return_X_y=True)
    rows = ["y," + ",".join(f"x{i}" for i in range(64))] + [
        f"{t}," + ",".join(map(str, x)) for x, t in zip(X[:400], y[:400], strict=True)
    ]
    data.write_text("\n".join(rows))
    runner = CliRunner()
    args = [
        "study",
        "create",
        "--study",
        "d",
        "--storage",
        database,
        *STUDY,
        "--data",
        str(data),
        "--target",
        "y",
    ]
    assert runner.invoke(cli, args).exit_code == 0
    data.write_text("\n".join(rows[:-1]))  # one row fewer on "this machine"
    refused = runner.invoke(cli, ["worker", "--study", "d", "--storage", database])
    assert refused.exit_code == 2 and "differs from the study's" in refused.output


def test_a_wrong_password_is_never_shown(tmp_path):
    runner = CliRunner()
    url = f"postgresql://nobody:{PASSWORD}@127.0.0.1:1/none"  # nothing listens on port 1
    refused = runner.invoke(cli, ["study", "status", "--study", "x", "--storage", url])
    assert refused.exit_code == 2 and "cannot open Optuna storage" in refused.output
    assert PASSWORD not in refused.output and "nobody:***@" in refused.output
