"""A cluster study of a user's own build function: two `tuner worker` processes on one PostgreSQL
study, each finding the function in its own copy of the file (as a pod finds it in its image or a
Slurm node on the shared file system), and a worker whose copy differs refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tuner.engines.optuna.record import MODEL_ATTR
from tuner.networks.reference import file_sha256

pytestmark = pytest.mark.slow

NET = """
import keras

import tuner


def build(width=8, *, task, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(width, activation="relu")(inputs)
    return keras.Model(inputs, tuner.output_layer(task, n_outputs)(x))
"""
SPACE = """
model: nets/net.py:build
params:
  width: {type: int, low: 4, high: 16}
  learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
"""


def tuner_cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuner", *args], env=env, cwd=cwd, capture_output=True, text=True
    )


def a_copy(root: Path, text: str = NET) -> Path:
    (root / "nets").mkdir(parents=True)
    (root / "nets" / "net.py").write_text(text)
    return root


def test_two_workers_run_a_users_file_from_their_own_copies_and_a_changed_copy_is_refused(database, tmp_path):
    created_in, node = a_copy(tmp_path / "laptop"), a_copy(tmp_path / "node")
    (created_in / "space.yaml").write_text(SPACE)
    tracking = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    env = {**os.environ, "TUNER_STORAGE": database, "MLFLOW_TRACKING_URI": tracking}
    common = ["--data", "iris", "--epochs", "3", "--patience", "2", "--recheck", "1", "--trials", "4"]
    space = ["--space", str(created_in / "space.yaml"), "--model-root", str(created_in)]  # its own root
    created = tuner_cli(env, "study", "create", "--study", "own", *space, *common, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    recorded = optuna.load_study(study_name="own", storage=database).user_attrs[MODEL_ATTR]
    assert recorded == {"spec": "nets/net.py:build", "sha256": file_sha256(created_in / "nets" / "net.py")}

    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    worker_env = {**env, "TUNER_MODEL_ROOT": str(node)}
    changed = a_copy(tmp_path / "stale", NET.replace("relu", "tanh"))
    refused = tuner_cli({**env, "TUNER_MODEL_ROOT": str(changed)}, "worker", "--study", "own", cwd=elsewhere)
    assert refused.returncode == 2
    assert refused.stderr.count("error:") == 1 and "differs from the study's model file" in refused.stderr
    missing = tuner_cli(env, "worker", "--study", "own", cwd=elsewhere)  # no copy under the working folder
    assert missing.returncode == 2 and "model file not found" in missing.stderr
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tuner", "worker", "--study", "own"],
            env=worker_env,
            cwd=elsewhere,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    finished = tuner_cli(worker_env, "study", "finish", "--study", "own", "--output", "json", cwd=elsewhere)
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)
    client = MlflowClient(tracking)
    parent = client.get_run(result["search_run_id"])
    assert parent.data.params["model"] == "nets/net.py:build"
    assert parent.data.tags["tuner.model_sha256"] == recorded["sha256"]
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "model_code")] == ["model_code/net.py"]
    trials = [t for t in optuna.load_study(study_name="own", storage=database).trials if t.params]
    assert {"width", "learning_rate"} == set(trials[0].params)
