"""The finish step and the faster trial unit: what the returned model is trained on, how
the best few are re-checked, and that the shortcuts give Keras' own numbers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from paths import REPO

from tuner.cli.main import cli
from tuner.data.dataset import load_dataset
from tuner.processes.gpus import usable_cores

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all
FAST = ["--space", "mlp_quick", "--data", "digits", "--epochs", "6", "--patience", "2", "--quiet"]


def search(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["search", *FAST, *args, "--output", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_best_trials_are_rechecked_and_the_winner_refitted_on_train_and_valid():
    result = search(
        "--trials", "4", "--pruner", "none", "--recheck", "2", "--recheck-folds", "2", "--name", "fin"
    )
    ds = load_dataset("digits")
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["search_run_id"])

    # The two best complete trials, each scored on both folds, mean and spread on the search run.
    complete = sorted((t for t in result["trials"] if t["state"] == "complete"), key=lambda t: -t["value"])
    assert [c["number"] for c in result["candidates"]] == [t["number"] for t in complete[:2]]
    for candidate in result["candidates"]:
        assert len(candidate["scores"]) == 2
        assert len(candidate["losses"]) == 2 and all(loss > 0 for loss in candidate["losses"])
        assert parent.data.metrics[f"recheck.trial_{candidate['number']}.loss"] == pytest.approx(
            np.mean(candidate["losses"])
        )
        assert candidate["mean"] == pytest.approx(np.mean(candidate["scores"]))
        assert parent.data.metrics[f"recheck.trial_{candidate['number']}.mean"] == pytest.approx(
            candidate["mean"]
        )
    query = f"tags.`tuner.search_run_id` = '{result['search_run_id']}' AND tags.`tuner.kind` = 'recheck'"
    rechecks = client.search_runs([result["experiment_id"]], filter_string=query)
    assert len(rechecks) == 4
    for run in rechecks:  # scored once at the end: a training curve, no validation curve
        epochs = int(run.data.params["epochs"])
        assert len(client.get_metric_history(run.info.run_id, "loss")) == epochs
        assert client.get_metric_history(run.info.run_id, "val_loss") == []
        assert 0 < run.data.metrics["val_score"] <= 1

    # The winner is the best mean, and the returned model trained on train + valid rows.
    winner = max(result["candidates"], key=lambda c: c["mean"])
    assert result["best_trial"] == winner["number"]
    n_rows = len(ds.y_train) + len(ds.y_valid)
    assert result["trained_on"] == f"train+valid ({n_rows} rows, {winner['epochs']} epochs)"
    assert parent.data.tags["model.trained_on"] == result["trained_on"]
    model_run = client.get_run(result["model_run_id"])
    assert model_run.data.metrics["epochs_run"] == winner["epochs"]
    # Far above what predicting the training split's most common class scores on the same test rows.
    predict_the_majority = float(np.mean(ds.y_test == np.bincount(ds.y_train).argmax()))
    assert result["test_score"] > predict_the_majority + 0.7


def test_test_size_zero_gives_every_row_to_the_search():
    result = search("--trials", "2", "--test-size", "0", "--recheck", "1", "--name", "all-rows")
    ds = load_dataset("digits", test_size=0.0)
    assert len(ds.y_test) == 0 and len(ds.y_train) + len(ds.y_valid) == 1797
    assert result["test_score"] is None
    assert result["trained_on"].startswith("train+valid (1797 rows")


def test_the_result_says_where_the_time_went():
    result = search("--trials", "2", "--recheck", "1", "--name", "phases")
    phases = result["phases"]
    for phase in (
        "startup",
        "data",
        "trials",
        "finish",
        "tracing",
        "training",
        "refit",
        "model_logging",
        "total",
    ):
        assert phase in phases and phases[phase] >= 0
    assert phases["training"] > 0 and phases["tracing"] > 0
    assert phases["total"] >= phases["trials"] + phases["finish"]
    assert result["workers"] == usable_cores()  # the default: one worker per core


def test_validation_and_predictions_match_keras_own_evaluate_and_predict():
    from tuner.trial.estimator import estimator_params, make_estimator

    ds = load_dataset("breast_cancer")
    prep = ds.make_preprocessor().fit(ds.X_train)
    X_train, X_valid = prep.transform(ds.X_train), prep.transform(ds.X_valid)
    values = {"n_hidden": 2, "n_neurons": 16, "batch_size": 32}
    est = make_estimator("binary", epochs=3, patience=None, random_state=0, **estimator_params(values))
    est.fit(X_train, ds.y_train, validation_data=(X_valid, ds.y_valid))
    X_enc, y_enc = est.feature_encoder_.transform(X_valid), est.target_encoder_.transform(ds.y_valid)
    keras_says = est.model_.evaluate(X_enc, y_enc, verbose=0, return_dict=True)
    assert est.history_["val_loss"][-1] == pytest.approx(keras_says["loss"], rel=1e-5)
    assert est.history_["val_accuracy"][-1] == pytest.approx(keras_says["accuracy"], rel=1e-6)
    assert est.val_loss_ == pytest.approx(keras_says["loss"], rel=1e-5)  # what a re-check fold returns
    assert np.allclose(
        est.predict_proba(X_valid)[:, 1], est.model_.predict(X_enc, verbose=0).ravel(), atol=1e-6
    )
    assert len(est.history_["loss"]) == 3  # patience=None: no early stop


# Run in a fresh interpreter where the project is importable only through what the model carries.
_LOAD_WITHOUT_THE_PROJECT = r"""
import json, sys
from pathlib import Path

repo = Path(sys.argv[1]).resolve()
sys.path = [p for p in sys.path if Path(p or ".").resolve() != repo]  # the editable install's .pth entry
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]  # setuptools' finder
try:  # (`import tuner` alone may find an empty namespace package: the installed search_spaces folder)
    import tuner.trial.estimator
except ImportError:
    pass
else:
    raise SystemExit(f"tuner is importable without the model: {tuner.trial.estimator.__file__}")
for name in [m for m in sys.modules if m.split(".")[0] == "tuner"]:
    del sys.modules[name]

import mlflow.pyfunc
import pandas as pd

model = mlflow.pyfunc.load_model(sys.argv[2])
predictions = model.predict(pd.read_csv(sys.argv[3]))["prediction"]
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tuner" and getattr(sys.modules[m], "__file__", None))
print(json.dumps({"tuner": loaded, "predictions": predictions.tolist()}))
"""


def test_the_logged_model_carries_its_code_and_predicts_where_tuner_is_not_installed(tmp_path):
    """`tuner` on the public package index is another project: the model needs none of our code
    (Keras' format, skops and JSON, read by the small loader it carries), and nothing is unpickled."""
    import mlflow

    # The cheapest search that logs a model: one candidate, fitted in this process.
    args = ["--engine", "random", "--space", "mlp_quick", "--data", "iris", "--trials", "1", "--cv", "2"]
    args += ["--n-jobs", "1", "--epochs", "10"]
    result = CliRunner().invoke(cli, ["search", *args, "--quiet", "--output", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    uri, store = json.loads(result.stdout)["model_uri"], json.loads(result.stdout)["tracking_uri"]
    mlflow.set_tracking_uri(store)

    requirements = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text().split()
    names = {re.split(r"[=<>!~\[;]", line)[0].strip().lower() for line in requirements}
    assert "tuner" not in names and {"tensorflow", "keras", "skops"} <= names

    small = tmp_path / "small.csv"
    load_dataset("iris").X_test.iloc[:10].to_csv(small, index=False)
    expected = mlflow.pyfunc.load_model(uri).predict(pd.read_csv(small))["prediction"].tolist()
    assert len(set(expected)) > 1  # a model that tells classes apart, so equal predictions mean something

    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("PYTHONPATH", None)
    fresh = subprocess.Popen(
        [sys.executable, "-c", _LOAD_WITHOUT_THE_PROJECT, str(REPO), uri, str(small)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = subprocess.Popen(  # MLflow's own command line, as a serving job would use it
        ["mlflow", "models", "predict", "-m", uri, "-i", str(small), "-t", "csv"]
        + ["--env-manager", "local", "-o", str(tmp_path / "predictions.json")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, err[-3000:]
    loaded = json.loads(out.strip().splitlines()[-1])
    assert loaded["tuner"] == []  # no module of tuner's was needed
    assert loaded["predictions"] == expected
    _, err = served.communicate(timeout=300)
    assert served.returncode == 0, err[-3000:]
    served_rows = json.loads((tmp_path / "predictions.json").read_text())["predictions"]
    assert [row["prediction"] for row in served_rows] == expected
