"""The trial unit: one fit = one MLflow run with curves, weights and its state."""

from __future__ import annotations

import gc

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient

from tuner.data.dataset import load_dataset
from tuner.networks.mlp import build_model
from tuner.processes.worker_id import worker_id
from tuner.serving.model_folder import predict
from tuner.tracking.runs import RunTarget
from tuner.tracking.store import get_or_create_experiment
from tuner.trial.estimator import estimator_params, make_estimator, release_memory

pytestmark = pytest.mark.slow  # real Keras training


@pytest.fixture
def digits():
    ds = load_dataset("digits")
    prep = ds.make_preprocessor().fit(ds.X_train)
    return ds, prep.transform(ds.X_train), prep.transform(ds.X_valid)


@pytest.fixture
def search_run(tracking_uri):
    experiment = get_or_create_experiment(tracking_uri, "trial-unit")
    parent = MlflowClient(tracking_uri).create_run(experiment, run_name="search").info.run_id
    return RunTarget(tracking_uri, experiment, parent, "", "search", parent)


def _estimator(search_run, name, **params):
    values = {"n_hidden": 1, "n_neurons": 16, "learning_rate": 1e-2, "optimizer": "adam", "batch_size": 64}
    values.update(params)
    target = search_run.child(name, "trial", search_run.parent_run_id)
    return make_estimator(
        "multiclass", epochs=8, patience=3, random_state=0, run_target=target, **estimator_params(values)
    )


def test_a_complete_trial_logs_params_curves_scores_weights_and_state(digits, search_run):
    ds, X_train, X_valid = digits
    est = _estimator(search_run, "trial-0").fit(X_train, ds.y_train, validation_data=(X_valid, ds.y_valid))
    client = MlflowClient(search_run.tracking_uri)
    run = client.get_run(est.run_id_)
    assert run.info.status == "FINISHED"
    assert run.data.tags["tuner.state"] == "complete"
    assert run.data.tags["mlflow.parentRunId"] == search_run.parent_run_id
    assert run.data.tags["tuner.worker"] == worker_id()  # the process that ran it
    assert run.data.params["n_neurons"] == "16" and run.data.params["optimizer"] == "adam"
    assert run.data.params["batch_size"] == "64"
    epochs = int(run.data.metrics["epochs_run"])
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        history = client.get_metric_history(est.run_id_, key)
        assert [m.step for m in history] == list(range(1, epochs + 1))
    assert run.data.metrics["val_score"] == pytest.approx(est.val_score_)
    assert est.val_score_ > 0.8
    artifacts = [a.path for a in client.list_artifacts(est.run_id_, "weights")]
    assert artifacts == ["weights/model.weights.h5"]


def test_early_stopping_ends_a_trial_before_its_epoch_budget(digits, search_run):
    ds, X_train, X_valid = digits
    est = _estimator(search_run, "slow", learning_rate=0.03)
    est.set_params(epochs=200, patience=2)
    est.fit(X_train, ds.y_train, validation_data=(X_valid, ds.y_valid))
    assert len(est.history_["loss"]) < 200


def test_a_pruned_trial_is_recorded_as_pruned_with_the_reason_and_keeps_its_best_weights(digits, search_run):
    ds, X_train, X_valid = digits
    # A real study whose pruner stops every trial below 100% validation accuracy, after 6 epochs.
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01, n_warmup_steps=6)
    )
    trial = study.ask()
    est = _estimator(search_run, "pruned", learning_rate=0.03)  # its validation loss is lowest before epoch 6
    est.set_params(pruning_trial=trial)
    with pytest.raises(optuna.TrialPruned):
        est.fit(X_train, ds.y_train, validation_data=(X_valid, ds.y_valid))
    client = MlflowClient(search_run.tracking_uri)
    run = client.get_run(est.run_id_)
    assert run.info.status == "KILLED"
    assert run.data.tags["tuner.state"] == "pruned"
    assert run.data.tags["tuner.reason"].startswith("pruned at epoch 6: val_accuracy=")
    assert trial.storage.get_trial(trial._trial_id).intermediate_values.keys() == set(range(1, 7))

    # Its weights are logged, and they are its best epoch's, not the epoch it was pruned at.
    assert [a.path for a in client.list_artifacts(est.run_id_, "weights")] == ["weights/model.weights.h5"]
    val_losses = [m.value for m in client.get_metric_history(est.run_id_, "val_loss")]
    assert len(val_losses) == 6 and run.data.metrics["best_epoch"] < 6, (
        "the test needs a best epoch before the last"
    )
    model = build_model(1, 16, 0.03, "adam", task="multiclass", input_shape=(64,), n_outputs=10)
    model.load_weights(client.download_artifacts(est.run_id_, "weights/model.weights.h5"))
    X_enc, y_enc = est.feature_encoder_.transform(X_valid), est.target_encoder_.transform(ds.y_valid)
    # The validation loss as the trial computes it every epoch (Keras' evaluate uses logits, not clipped probabilities).
    loss = float(model.compute_loss(x=X_enc, y=y_enc, y_pred=predict(model, X_enc), training=False))
    assert loss == pytest.approx(min(val_losses), rel=1e-5)
    assert loss != pytest.approx(val_losses[-1], rel=1e-3)


def test_a_diverging_trial_is_recorded_as_failed_with_the_reason(search_run):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4)) * 1e3
    y = X.sum(axis=1) * 1e3
    target = search_run.child("nan", "trial", search_run.parent_run_id)
    est = make_estimator(
        "regression",
        epochs=20,
        patience=5,
        run_target=target,
        **estimator_params({"n_hidden": 2, "n_neurons": 8, "learning_rate": 10.0, "optimizer": "sgd"}),
    )
    with pytest.raises(RuntimeError, match="training diverged"):
        est.fit(X, y)
    run = MlflowClient(search_run.tracking_uri).get_run(est.run_id_)
    assert run.info.status == "FAILED"
    assert run.data.tags["tuner.state"] == "failed"
    assert "loss became NaN" in run.data.tags["tuner.reason"]


def test_the_estimator_works_inside_scikit_learn_without_tracking(digits):
    from sklearn.base import clone

    ds, X_train, X_valid = digits
    est = make_estimator("multiclass", epochs=3, **estimator_params({"n_hidden": 1, "n_neurons": 8}))
    fitted = clone(est).fit(X_train, ds.y_train)
    assert fitted.run_id_ is None
    assert set(fitted.predict(X_valid)) <= set(range(10))


def test_no_traced_graph_outlives_its_trial(digits):
    """Memory stays flat over many in-process trials: each fit's traced graphs are freed."""
    from tensorflow.python.framework.func_graph import FuncGraph

    def live_graphs() -> int:
        release_memory()
        return sum(isinstance(o, FuncGraph) for o in gc.get_objects())

    ds, X_train, X_valid = digits

    def trial(optimizer: str) -> None:
        values = {"n_hidden": 1, "n_neurons": 8, "optimizer": optimizer, "batch_size": 128}
        est = make_estimator("multiclass", epochs=2, random_state=0, **estimator_params(values))
        est.fit(X_train, ds.y_train, validation_data=(X_valid, ds.y_valid))

    trial("adam")
    baseline = live_graphs()
    for optimizer in ("adam", "sgd", "rmsprop", "nadam"):
        trial(optimizer)
    assert live_graphs() <= baseline


def test_an_error_in_a_trial_is_recorded_with_its_reason_and_traceback(digits, search_run):
    ds, X_train, X_valid = digits
    est = _estimator(search_run, "broken", activation="swishy")
    with pytest.raises(Exception, match="swishy"):
        est.fit(X_train, ds.y_train, validation_data=(X_valid, ds.y_valid))
    client = MlflowClient(search_run.tracking_uri)
    run = client.get_run(est.run_id_)
    assert run.info.status == "FAILED" and run.data.tags["tuner.state"] == "failed"
    assert "swishy" in run.data.tags["tuner.reason"]
    traceback_file = client.download_artifacts(est.run_id_, "traceback.txt")
    assert "Traceback (most recent call last)" in open(traceback_file).read()
