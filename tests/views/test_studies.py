"""`tuner study status` and `tuner study list` stay fast: they import no MLflow, scikit-learn or TensorFlow."""

from __future__ import annotations

import optuna
import pytest


@pytest.mark.parametrize("command", [["study", "status", "--study", "s"], ["study", "list"]])
def test_study_status_and_list_import_neither_mlflow_scikit_learn_nor_tensorflow(tmp_path, command):
    """A scheduler's user runs these in a loop: they answer in about a second (3.9 s when they
    imported MLflow and scikit-learn with the rest of the cluster module)."""
    import subprocess
    import sys

    storage = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), 2)
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "tuner",
            *command,
            "--storage",
            storage,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert '"study": "s"' in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "optuna" in imported and not imported & {"mlflow", "sklearn", "tensorflow", "keras"}
