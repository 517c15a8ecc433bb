"""The finish step and the faster trial unit: what the returned model is trained on, how
the best few are re-checked, and that the shortcuts give Keras' own numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from tuner.cli import cli
from tuner.data import load_dataset
from tuner.engines.workers import usable_cores

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
        assert candidate["mean"] == pytest.approx(np.mean(candidate["scores"]))
        assert parent.data.metrics[f"recheck.trial_{candidate['number']}.mean"] == pytest.approx(
            candidate["mean"]
        )
    query = f"tags.`tuner.search_run_id` = '{result['search_run_id']}' AND tags.`tuner.kind` = 'recheck'"
    assert len(client.search_runs([result["experiment_id"]], filter_string=query)) == 4

    # The winner is the best mean, and the returned model trained on train + valid rows.
    winner = max(result["candidates"], key=lambda c: c["mean"])
    assert result["best_trial"] == winner["number"]
    n_rows = len(ds.y_train) + len(ds.y_valid)
    assert result["trained_on"] == f"train+valid ({n_rows} rows, {winner['epochs']} epochs)"
    assert parent.data.tags["model.trained_on"] == result["trained_on"]
    model_run = client.get_run(result["model_run_id"])
    assert model_run.data.metrics["epochs_run"] == winner["epochs"]
    assert result["test_score"] > 0.8


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
    from tuner.estimator import estimator_params, make_estimator

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
    assert np.allclose(
        est.predict_proba(X_valid)[:, 1], est.model_.predict(X_enc, verbose=0).ravel(), atol=1e-6
    )
    assert len(est.history_["loss"]) == 3  # patience=None: no early stop
