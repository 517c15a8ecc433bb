"""The CLI end to end: real searches on digits, a real MLflow store, real Optuna storages."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import optuna
import psutil
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from tuner.cli.main import cli
from tuner.data.dataset import load_dataset
from tuner.engines.optuna.storage import get_storage
from tuner.interrupts import INTERRUPTED
from tuner.processes.gpus import usable_cores
from tuner.processes.worker_id import worker_id
from tuner.tracking.store import resolve_tracking_uri

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all

FAST = ["--space", "mlp_quick", "--data", "digits", "--epochs", "6", "--patience", "2", "--quiet"]


def run_cli(*args: str, expect: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def search_json(*args: str) -> dict:
    return json.loads(run_cli("search", *FAST, *args, "--output", "json").stdout)


def child_runs(client: MlflowClient, result: dict, kind: str) -> list:
    query = f"tags.`tuner.search_run_id` = '{result['search_run_id']}' AND tags.`tuner.kind` = '{kind}'"
    return client.search_runs([result["experiment_id"]], filter_string=query, max_results=1000)


def test_optuna_search_records_every_trial_and_returns_a_loadable_model():
    result = search_json("--engine", "optuna", "--trials", "4", "--name", "opt")
    # The default store lives in ./mlruns: a SQLite database plus artifacts, and the journal.
    assert result["tracking_uri"] == resolve_tracking_uri() and result["tracking_uri"].endswith(
        "mlruns/mlflow.db"
    )
    assert result["storage"].endswith(f"mlruns/optuna/{result['study']}.journal")  # one per study
    client = MlflowClient(result["tracking_uri"])
    trials = child_runs(client, result, "trial")
    assert len(trials) == 4 == len(result["trials"])
    for run in trials:
        assert run.data.tags["mlflow.parentRunId"] == result["search_run_id"]
        assert run.data.tags["tuner.state"] in ("complete", "pruned")
        assert {"n_hidden", "n_neurons", "learning_rate", "optimizer", "batch_size"} <= set(run.data.params)
        assert client.get_metric_history(run.info.run_id, "val_accuracy")[0].step == 1
        if run.data.tags["tuner.state"] == "complete":
            assert [a.path for a in client.list_artifacts(run.info.run_id, "weights")] == [
                "weights/model.weights.h5"
            ]
    parent = client.get_run(result["search_run_id"])
    assert parent.data.params["engine"] == "optuna" and parent.data.params["sampler"] == "tpe"
    assert parent.data.params["data_fingerprint"] and parent.data.tags["version.tensorflow"]
    assert parent.data.metrics["test_accuracy"] == pytest.approx(result["test_score"])
    assert {a.path for a in client.list_artifacts(result["search_run_id"])} >= {"space", "search_result.json"}

    # The best model loads back from MLflow and predicts raw (unscaled) features.
    mlflow.set_tracking_uri(result["tracking_uri"])
    model = mlflow.pyfunc.load_model(result["model_uri"])
    ds = load_dataset("digits")
    accuracy = float(np.mean(model.predict(ds.X_test)["prediction"] == ds.y_test))
    assert accuracy == pytest.approx(result["test_score"])
    predict_the_majority = float(np.mean(ds.y_test == np.bincount(ds.y_train).argmax()))
    assert accuracy > predict_the_majority + 0.4  # far above a constant predictor on the same rows

    best = json.loads(run_cli("best", "--name", "opt", "--output", "json").stdout)
    assert best["search_run_id"] == result["search_run_id"]
    assert best["test_accuracy"] == pytest.approx(result["test_score"])
    assert best["weights"].endswith("weights/model.weights.h5")
    assert float(best["best_params"]["learning_rate"]) == pytest.approx(
        result["best_params"]["learning_rate"]
    )


def test_random_search_logs_a_run_per_candidate_with_its_folds():
    result = search_json("--engine", "random", "--trials", "2", "--cv", "2", "--name", "rnd")
    client = MlflowClient(result["tracking_uri"])
    candidates = child_runs(client, result, "candidate")
    assert len(candidates) == 2
    for candidate in candidates:
        folds = client.search_runs(
            [result["experiment_id"]], filter_string=f"tags.`mlflow.parentRunId` = '{candidate.info.run_id}'"
        )
        assert sorted(f.info.run_name for f in folds) == ["fold-0", "fold-1"]
        for fold in folds:
            assert fold.data.tags["tuner.state"] == "complete"
            assert client.get_metric_history(fold.info.run_id, "val_loss")
            assert client.list_artifacts(fold.info.run_id, "weights")
        scores = [candidate.data.metrics["fold_0_score"], candidate.data.metrics["fold_1_score"]]
        assert candidate.data.metrics["val_score"] == pytest.approx(np.mean(scores))
    best_value = max(c.data.metrics["val_score"] for c in candidates)
    assert result["best_value"] == pytest.approx(best_value)
    # The returned model: trained on train + valid for the mean best epoch of the best candidate's folds.
    best = next(c for c in candidates if c.data.metrics["val_score"] == best_value)
    folds = client.search_runs(
        [result["experiment_id"]], filter_string=f"tags.`mlflow.parentRunId` = '{best.info.run_id}'"
    )
    epochs = max(1, round(np.mean([f.data.metrics["best_epoch"] for f in folds])))
    assert result["trained_on"].endswith(f"rows, {epochs} epochs)")
    assert best.data.metrics["best_epoch"] == epochs  # on the candidate too, for the trials view's column
    ds = load_dataset("digits")
    predict_the_majority = float(np.mean(ds.y_test == np.bincount(ds.y_train).argmax()))
    assert result["test_score"] > predict_the_majority + 0.3


@pytest.fixture
def one_usable_core():
    """This thread may run on one CPU only, so ``--n-jobs``' default (one per usable core) is 1:
    a test that asks for two processes then sees two only if ``--n-jobs`` is obeyed."""
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    assert usable_cores() == 1
    yield
    os.sched_setaffinity(0, cores)


def test_random_search_in_parallel_processes(one_usable_core):
    result = search_json("--engine", "random", "--trials", "2", "--cv", "2", "--n-jobs", "2", "--name", "par")
    client = MlflowClient(result["tracking_uri"])
    folds = child_runs(client, result, "fold")
    assert sorted(f.info.run_name for f in folds) == ["fold-0", "fold-0", "fold-1", "fold-1"]
    assert len({f.data.tags["mlflow.parentRunId"] for f in folds}) == 2
    # The fits ran in two joblib worker processes, not in this one.
    workers = {f.data.tags["tuner.worker"] for f in folds}
    assert len(workers) == 2 and worker_id() not in workers, workers


def test_resume_adds_trials_to_the_same_study_and_parent_run(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = search_json("--trials", "2", "--study", "s1", "--storage", storage, "--name", "res")
    second = search_json("--trials", "3", "--study", "s1", "--storage", storage, "--name", "res", "--resume")
    assert second["search_run_id"] == first["search_run_id"]
    study = optuna.load_study(study_name="s1", storage=storage)
    assert len(study.trials) == 5
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    client = MlflowClient(second["tracking_uri"])
    runs = child_runs(client, second, "trial")
    assert sorted(r.info.run_name for r in runs) == [f"trial-{i}" for i in range(5)]
    assert {t.user_attrs["mlflow_run_id"] for t in study.trials} == {r.info.run_id for r in runs}


def test_optuna_worker_processes_share_one_study(one_usable_core):
    result = search_json("--trials", "4", "--n-jobs", "2", "--name", "workers", "--pruner", "none")
    client = MlflowClient(result["tracking_uri"])
    runs = child_runs(client, result, "trial")
    assert sorted(r.info.run_name for r in runs) == [f"trial-{i}" for i in range(4)]
    assert all(r.data.tags["tuner.state"] == "complete" for r in runs)
    workers = {r.data.tags["tuner.worker"] for r in runs}
    assert len(workers) == 2 and worker_id() not in workers, "two worker processes ran trials"


def test_the_same_seed_gives_the_same_search(tmp_path, monkeypatch):
    # Same study name in two fresh stores: Hyperband's brackets hash the study name.
    # One worker: the reproducible setting (parallel trials finish in a varying order).
    results = []
    for store in ("first", "second"):
        (tmp_path / store).mkdir()
        monkeypatch.chdir(tmp_path / store)
        results.append(search_json("--trials", "3", "--study", "seeded", "--seed", "7", "--n-jobs", "1"))
    first, second = results
    assert [t["params"] for t in first["trials"]] == [t["params"] for t in second["trials"]]
    assert [t["state"] for t in first["trials"]] == [t["state"] for t in second["trials"]]
    assert [t["value"] for t in first["trials"]] == pytest.approx([t["value"] for t in second["trials"]])
    assert first["test_score"] == pytest.approx(second["test_score"])


def test_table_output_shows_the_summary_and_a_command_that_adds_trials_as_printed():
    result = run_cli("search", *FAST, "--trials", "2", "--name", "tbl", "--seed", "7")
    for text in ("Best trials of 2", "Best parameters:", "Validation accuracy:", "Test accuracy", "tuner ui"):
        assert text in result.stdout
    [line] = [line for line in result.stdout.splitlines() if line.startswith("Add trials: tuner search ")]
    printed = shlex.split(line.removeprefix("Add trials: tuner "))  # one line, with --epochs, --seed...
    added = json.loads(run_cli(*printed, "--trials", "1", "--quiet", "--output", "json").stdout)
    assert len(added["trials"]) == 3 and added["name"] == "tbl"


def test_regression_search_with_the_books_space():
    result = search_json(
        "--space", "mlp_regression", "--data", "diabetes", "--trials", "2", "--name", "reg", "--metric", "mae"
    )
    assert result["metric"] == "mae" and result["direction"] == "minimize"
    ds = load_dataset("diabetes")
    predict_the_mean = float(np.mean(np.abs(ds.y_test - ds.y_train.mean())))
    assert 0 < result["test_score"] < predict_the_mean


def test_an_existing_study_is_not_overwritten(tmp_path):
    storage = str(tmp_path / "o.journal")
    search_json("--trials", "1", "--study", "s", "--storage", storage, "--name", "dup")
    result = CliRunner().invoke(cli, ["search", *FAST, "--trials", "1", "--study", "s", "--storage", storage])
    assert result.exit_code == 2
    assert "a study named 's' already exists" in result.output and "--resume" in result.output
    assert (
        len(
            optuna.load_study(
                study_name="s",
                storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
            ).trials
        )
        == 1
    )


def test_spaces_list_and_check(space_file):
    listed = run_cli("spaces").stdout
    assert "mlp_regression" in listed and "learning_rate" in listed
    good = space_file("params:\n  n_hidden: {type: int, low: 0, high: 3}\n", "good.yaml")
    assert "ok: 1 file(s) valid" in run_cli("spaces", "check", str(good)).stdout
    bad = space_file("params:\n  n_hidden: {type: int, low: 3, high: 0}\n", "bad.yaml")
    result = CliRunner().invoke(cli, ["spaces", "check", str(bad)])
    assert result.exit_code == 2 and "params.n_hidden: low (3) > high (0)" in result.output


def test_best_for_an_unknown_search():
    result = CliRunner().invoke(cli, ["best", "--name", "never-ran"])
    assert result.exit_code == 2 and "no search named 'never-ran'" in result.output


def test_python_dash_m_and_help_do_not_need_tensorflow():
    out = subprocess.run([sys.executable, "-m", "tuner", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "search" in out.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tuner.cli.main import cli; print('tensorflow' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "False"
    for command in (["search", "--help"], ["spaces", "--help"], ["best", "--help"], ["ui", "--help"]):
        assert "Usage:" in run_cli(*command).stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_search_stops_its_workers_and_records_why(tmp_path, sig):
    """A scheduler's SIGTERM (or Ctrl-C) to the search process alone: workers stop, runs are closed."""
    journal = tmp_path / "mlruns" / "optuna" / "stopped.journal"
    command = [sys.executable, "-m", "tuner", "search", *FAST, "--epochs", "30", "--patience", "30"]
    command += ["--pruner", "none", "--trials", "50", "--name", "stopped", "--study", "stopped"]
    search = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _finished_trials(journal, "stopped") and time.monotonic() < deadline:
        assert search.poll() is None, search.communicate()
        time.sleep(0.5)
    workers = psutil.Process(search.pid).children(recursive=True)
    search.send_signal(sig)
    _, stderr = search.communicate(timeout=60)
    assert search.returncode == 130 and stderr.strip().endswith("interrupted")
    assert "Traceback" not in stderr
    psutil.wait_procs(workers, timeout=10)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]

    trials = optuna.load_study(study_name="stopped", storage=get_storage(str(journal))).trials
    assert {t.state.name for t in trials} == {"COMPLETE", "FAIL", "WAITING"}
    # Two workers by default: the trials running at the signal, one or two, are interrupted,
    # and each one's parameters wait in the queue for the next --resume.
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert 1 <= len(failed) <= 2 and {t.user_attrs["fail_reason"] for t in failed} == {INTERRUPTED}
    waiting = [t for t in trials if t.state.name == "WAITING"]
    queued = {t.user_attrs["tuner.requeued_from"]: t.system_attrs["fixed_params"] for t in waiting}
    assert queued == {t.number: t.params for t in failed}
    client = MlflowClient(resolve_tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name("stopped").experiment_id])
    assert "RUNNING" not in {r.info.status for r in runs}
    search_run = next(r for r in runs if r.data.tags["tuner.kind"] == "search")
    assert search_run.data.tags["tuner.reason"] == INTERRUPTED


def test_an_interrupted_random_search_leaves_no_run_open():
    command = [sys.executable, "-m", "tuner", "search", *FAST, "--engine", "random", "--cv", "2"]
    command += ["--n-jobs", "2", "--epochs", "30", "--patience", "30", "--trials", "10", "--name", "stopped"]
    search = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # A fold's weights on disk: it has finished (watching files keeps this test off the database).
    while not list(Path("mlruns/artifacts").rglob("model.weights.h5")) and time.monotonic() < deadline:
        assert search.poll() is None, search.communicate()
        time.sleep(0.5)
    search.send_signal(signal.SIGTERM)
    _, stderr = search.communicate(timeout=60)
    assert search.returncode == 130 and stderr.strip().endswith("interrupted")
    client = MlflowClient(resolve_tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name("stopped").experiment_id], max_results=1000)
    assert "RUNNING" not in {r.info.status for r in runs}
    assert {r.data.tags["tuner.kind"] for r in runs} == {"search", "candidate", "fold"}


def _finished_trials(journal, study: str) -> int:
    if not journal.exists():
        return 0
    try:
        trials = optuna.load_study(study_name=study, storage=get_storage(str(journal))).trials
    except KeyError:  # the study is not written yet
        return 0
    return sum(t.state.is_finished() for t in trials)
