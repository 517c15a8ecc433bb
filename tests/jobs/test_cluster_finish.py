"""The finish of a cluster study, as schedulers start it: beside the workers, twice, after a
crash, from the last worker, and with the data mounted elsewhere. Real processes on a real
PostgreSQL study and a local MLflow store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_iris

from tuner.engines.optuna.record import FINISH_ATTR, RESULT_ATTR

pytestmark = [pytest.mark.slow, pytest.mark.cluster]  # .ci/stages/cluster.sh
STUDY = ["--space", "mlp_quick", "--epochs", "2", "--patience", "2", "--recheck", "1", "--trials", "2"]


def _env(storage: str, tmp_path: Path) -> dict[str, str]:
    tracking = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    return {**os.environ, "TUNER_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking}


def _tuner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "tuner", *args], env=env, capture_output=True, text=True)
    return done


def _start(env: dict[str, str], *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tuner", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _table(path: Path, rows: int = 150) -> Path:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X["species"] = y
    X.head(rows).sample(frac=1.0, random_state=0).to_csv(path, index=False)
    return path


def _create(env: dict[str, str], name: str, data: Path, *extra: str) -> None:
    args = ["study", "create", "--study", name, "--data", str(data), "--target", "species", *STUDY, *extra]
    created = _tuner(env, *args)
    assert created.returncode == 0, created.stderr


def test_two_finishes_at_once_do_the_work_once(database, tmp_path):
    env = _env(database, tmp_path)
    _create(env, "twice", _table(tmp_path / "iris.csv"))
    assert _tuner(env, "worker", "--study", "twice").returncode == 0
    finishes = [_start(env, "study", "finish", "--study", "twice", "--output", "json") for _ in range(2)]
    results = []
    for finish in finishes:
        out, err = finish.communicate(timeout=600)
        assert finish.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["already_finished"] for r in results) == [False, True]
    assert results[0]["model_uri"] == results[1]["model_uri"]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([results[0]["experiment_id"]], "tags.`tuner.kind` = 'best'")
    assert len(runs) == 1, "one refit, one model"
    claim = optuna.load_study(study_name="twice", storage=database).user_attrs[FINISH_ATTR]
    assert claim["owner"] is None  # released


def test_a_crashed_finish_is_taken_over_once_its_heartbeat_is_stale(database, tmp_path):
    env = _env(database, tmp_path)
    _create(env, "crashed", _table(tmp_path / "iris.csv"))
    assert _tuner(env, "worker", "--study", "crashed").returncode == 0
    study = optuna.load_study(study_name="crashed", storage=database)
    study.set_user_attr(FINISH_ATTR, {"owner": "gone:1:1", "heartbeat": time.time() - 60, "interval": 5})
    done = _tuner(env, "study", "finish", "--study", "crashed", "--output", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["already_finished"] is False
    assert RESULT_ATTR in study.user_attrs


def test_a_finish_started_beside_the_workers_waits_for_the_studys_total(database, tmp_path):
    env = _env(database, tmp_path)
    _create(env, "beside", _table(tmp_path / "iris.csv"))
    finish = _start(env, "study", "finish", "--study", "beside", "--wait", "--output", "json")
    time.sleep(5)
    assert finish.poll() is None, "no trial yet: it waits"
    assert _tuner(env, "worker", "--study", "beside").returncode == 0
    out, err = finish.communicate(timeout=600)
    assert finish.returncode == 0, err
    result = json.loads(out)
    assert sum(result["counts"][s] for s in ("complete", "pruned")) >= 2


def test_a_finish_waiting_for_workers_that_never_join_gives_up_in_one_line(database, tmp_path):
    env = _env(database, tmp_path)
    _create(env, "nobody", _table(tmp_path / "iris.csv"))
    done = _tuner(env, "study", "finish", "--study", "nobody", "--wait", "--wait-timeout", "2")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: no worker joined study 'nobody' in the 2 s this finish waited; "
        "start workers (tuner worker --study nobody) or raise --wait-timeout"
    ]
    status = json.loads(_tuner(env, "study", "status", "--study", "nobody", "--output", "json").stdout)
    assert status["finished"] is False and status["trials"]["complete"] == 0


def test_the_last_worker_to_leave_finishes_and_data_may_live_elsewhere(database, tmp_path):
    env = _env(database, tmp_path)
    _create(env, "last", _table(tmp_path / "iris.csv"))
    (tmp_path / "mounted").mkdir()
    elsewhere = _table(tmp_path / "mounted" / "copy.csv")  # the same rows, mounted at another path
    (tmp_path / "iris.csv").unlink()  # the path the study recorded is gone on this "machine"
    missing = _tuner(env, "worker", "--study", "last")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    other = _table(tmp_path / "other.csv", rows=120)
    refused = _tuner(env, "worker", "--study", "last", "--data", str(other))
    assert refused.returncode == 2 and "differs from the study's" in refused.stderr
    worked = _tuner(env, "worker", "--study", "last", "--finish", "--data", str(elsewhere))
    assert worked.returncode == 0, worked.stderr
    assert "study 'last' finished" in worked.stderr
    assert RESULT_ATTR in optuna.load_study(study_name="last", storage=database).user_attrs


def test_creates_started_together_on_a_new_database_both_succeed_and_make_one_study(database, tmp_path):
    """A scheduler's pods each run `study create` at once: one creates, the others join it."""
    env = _env(database, tmp_path)
    data = _table(tmp_path / "iris.csv")
    args = ["study", "create", "--study", "race", "--data", str(data), "--target", "species", *STUDY]
    creates = [_start(env, *args, "--output", "json") for _ in range(3)]
    results = []
    for create in creates:
        out, err = create.communicate(timeout=600)
        assert create.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["created"] for r in results) == [False, False, True]
    assert len({r["search_run_id"] for r in results}) == 1
    assert optuna.get_all_study_names(database) == ["race"]
