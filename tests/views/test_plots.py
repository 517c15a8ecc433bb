"""The pictures and the trials table on a search's parent run, against a real MLflow store.

Real runs with real ``val_loss`` histories are made with ``MlflowClient`` (no training: these
tests are fast); ``publish_search_artifacts`` must write every picture that applies, the table
in both forms, warn (one line, never raise) for a picture it cannot draw, and stay quiet when a
picture simply does not apply (importances below 2 complete trials).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread
from mlflow.entities import Metric

from tuner.search.outcomes import TrialRecord
from tuner.tracking.store import client_for
from tuner.views.plots import publish_search_artifacts, varied_distributions
from tuner.views.trials_table import param_columns

ALL_PICTURES = {
    "plots/optimization_history.png",
    "plots/param_importances.png",
    "plots/parallel_coordinates.png",
    "plots/val_curves_top5.png",
    "plots/intermediate_values.png",
}
TABLE = {"trials.json", "trials.csv"}
PARAMS = [
    {"n_hidden": 1, "learning_rate": 3e-4, "optimizer": "adam", "batch_size": 32},
    {"n_hidden": 2, "learning_rate": 1e-3, "optimizer": "sgd", "batch_size": 32},
    {"n_hidden": 3, "learning_rate": 3e-3, "optimizer": "adam", "batch_size": 32},
    {"n_hidden": 2, "learning_rate": 1e-2, "optimizer": "nadam", "batch_size": 32},
    {"n_hidden": 0, "learning_rate": 3e-2, "optimizer": "sgd", "batch_size": 32},
    {"n_hidden": 1, "learning_rate": 2e-4, "optimizer": "adam", "batch_size": 32},
]


@pytest.fixture(scope="module")
def shared_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One store for the module (creating an MLflow database costs 1-5 s here); each test has
    an experiment and a parent run of its own in it."""
    return f"sqlite:///{tmp_path_factory.mktemp('plots') / 'mlruns' / 'mlflow.db'}"


class Store:
    """A real local store with one search's parent run, and helpers to add its child runs."""

    def __init__(self, tracking_uri: str):
        self.uri = tracking_uri
        self.client = client_for(tracking_uri)
        self.experiment = self.client.create_experiment(f"plots-{uuid.uuid4().hex[:8]}")
        self.search = self.client.create_run(self.experiment, tags={"tuner.kind": "search"}).info.run_id

    def child(self, parent: str, kind: str, epochs: int = 0, **tags: str) -> str:
        base = {"tuner.kind": kind, "tuner.search_run_id": self.search, "mlflow.parentRunId": parent}
        run_id = self.client.create_run(self.experiment, tags={**base, **tags}).info.run_id
        if epochs:
            now = int(time.time() * 1000)
            curve = [Metric("val_loss", 2.0 / (step + 1), now, step) for step in range(1, epochs + 1)]
            self.client.log_batch(run_id, metrics=[*curve, Metric("epochs_run", float(epochs), now, 0)])
        return run_id

    def publish(self, trials: list[TrialRecord], engine: str = "optuna", **kwargs) -> list[str]:
        kwargs = {"direction": "maximize", "metric": "accuracy", "engine": engine, **kwargs}
        return publish_search_artifacts(self.uri, self.search, trials, **kwargs)

    def artifacts(self) -> set[str]:
        top = self.client.list_artifacts(self.search)
        inner = [self.client.list_artifacts(self.search, a.path) for a in top if a.is_dir]
        return {a.path for a in top if not a.is_dir} | {a.path for group in inner for a in group}

    def table(self) -> pd.DataFrame:
        """``trials.json`` as MLflow reads a table (its loader searches the fluent API's store)."""
        import mlflow

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_URI", self.uri)
            before = mlflow.get_tracking_uri()  # an earlier test may have set the fluent API's store
            mlflow.set_tracking_uri(self.uri)
            try:
                return self.client.load_table(self.experiment, "trials.json", run_ids=[self.search])
            finally:
                mlflow.set_tracking_uri(before)

    def download(self, path: str, folder: Path) -> Path:
        return Path(self.client.download_artifacts(self.search, path, str(folder)))


def optuna_trials(store: Store, states: list[str]) -> list[TrialRecord]:
    """Trials as the Optuna engine records them: a run each, the pruner's values, no value if pruned."""
    trials = []
    for number, state in enumerate(states):
        epochs = {"complete": 12 + number, "pruned": 3}.get(state, 0)
        run_id = store.child(store.search, "trial", epochs, **{"optuna.trial": str(number)})
        seen = {epoch: 0.5 + 0.03 * epoch + 0.01 * number for epoch in range(1, epochs + 1)}
        value = max(seen.values()) if state == "complete" else None
        reason = {"pruned": "pruned at epoch 3", "failed": "OOM"}.get(state, "")
        best = epochs or None
        trials.append(TrialRecord(number, state, value, PARAMS[number], run_id, 1.5, reason, best, {}, seen))
    return trials


def assert_pictures_open(store: Store, written: list[str], folder: Path) -> None:
    for path in written:
        if path.endswith(".png"):
            image = imread(store.download(path, folder))
            height, width = image.shape[:2]
            assert 300 <= height <= 2000 and 500 <= width <= 3000, (path, image.shape)


def test_an_optuna_search_gets_every_picture_and_the_table(shared_uri, tmp_path, capsys):
    store = Store(shared_uri)
    trials = optuna_trials(store, ["complete", "complete", "pruned", "complete", "failed", "complete"])
    written = store.publish(trials)
    assert set(written) == ALL_PICTURES | TABLE
    assert store.artifacts() == ALL_PICTURES | TABLE
    assert capsys.readouterr().err == ""
    assert_pictures_open(store, written, tmp_path / "got")
    csv = pd.read_csv(store.download("trials.csv", tmp_path / "got"))
    assert list(csv["number"]) == list(range(6))
    assert {
        "n_hidden",
        "learning_rate",
        "optimizer",
        "batch_size",
        "value",
        "best_epoch",
        "epochs_run",
    } <= set(csv)
    assert list(csv["state"]) == [t.state for t in trials]
    assert list(csv["epochs_run"].fillna(0)) == [12, 13, 3, 15, 0, 17]
    assert csv.loc[4, "reason"] == "OOM"
    table = store.table()
    assert len(table) == 6 and list(table["run_id"]) == [t.run_id for t in trials]


def test_a_random_search_draws_each_candidates_first_fold(shared_uri, tmp_path, capsys):
    store = Store(shared_uri)
    trials = []
    for number in range(4):
        candidate = store.child(store.search, "candidate")
        for epochs in (10 + number, 20 + number):  # the first fold's curve is the one drawn
            store.child(candidate, "fold", epochs)
        trials.append(TrialRecord(number, "complete", 0.8 + 0.01 * number, PARAMS[number], candidate, 3.0))
    written = store.publish(trials, engine="random", direction="minimize", metric="mse")
    assert set(written) == (ALL_PICTURES - {"plots/intermediate_values.png"}) | TABLE
    assert capsys.readouterr().err == ""
    assert_pictures_open(store, written, tmp_path / "got")
    csv = pd.read_csv(store.download("trials.csv", tmp_path / "got"))
    assert list(csv["epochs_run"]) == [15.0, 16.0, 17.0, 18.0]  # the mean over each candidate's folds


def test_importances_and_parallel_coordinates_need_two_complete_trials(shared_uri, capsys):
    store = Store(shared_uri)
    written = store.publish(optuna_trials(store, ["complete", "pruned", "failed"]))
    assert "plots/param_importances.png" not in written
    assert "plots/parallel_coordinates.png" not in written
    assert {"plots/optimization_history.png", "plots/val_curves_top5.png"} <= set(written)
    assert capsys.readouterr().err == ""  # not applying is not a failure


def test_a_picture_that_cannot_be_drawn_warns_once_and_the_rest_are_written(shared_uri, tmp_path, capsys):
    store = Store(shared_uri)
    trials = optuna_trials(store, ["complete", "complete", "complete"])
    for trial in trials:
        trial.run_id = "0" * 32  # no such run: no curve to read
    written = store.publish(trials)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: plots/val_curves_top5.png: no val_loss history")
    assert set(written) == (ALL_PICTURES - {"plots/val_curves_top5.png"}) | TABLE
    assert_pictures_open(store, written, tmp_path / "got")


def test_trials_without_any_score_warn_and_the_table_is_still_written(shared_uri, capsys):
    store = Store(shared_uri)
    written = store.publish(optuna_trials(store, ["failed", "failed"]))
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: plots/optimization_history.png: no trial has a score to draw"]
    assert set(written) == TABLE == store.artifacts()


def test_plots_false_writes_only_the_table_and_a_second_publish_replaces_it(shared_uri, tmp_path):
    store = Store(shared_uri)
    trials = optuna_trials(store, ["complete", "complete", "pruned"])
    assert set(store.publish(trials, plots=False)) == TABLE
    assert store.artifacts() == TABLE
    store.publish(trials[:2] + optuna_trials(store, ["complete"]), plots=False)  # a resumed study's finish
    table = store.table()
    assert len(table) == 3  # replaced, not appended as MlflowClient.log_table would


def test_distributions_keep_what_varied_and_log_scale_wide_positive_floats():
    trials = [TrialRecord(i, "complete", 0.5, p) for i, p in enumerate(PARAMS)]
    found = varied_distributions(trials)
    assert set(found) == {"n_hidden", "learning_rate", "optimizer"}  # batch_size never varied
    assert found["learning_rate"].log and (found["n_hidden"].low, found["n_hidden"].high) == (0, 3)
    assert set(found["optimizer"].choices) == {"adam", "nadam", "sgd"}


def test_a_parameter_named_like_a_column_keeps_its_own_column():
    trials = [TrialRecord(0, "complete", 0.5, {"value": 1, "units": 8})]
    assert param_columns(trials) == {"value": "params.value", "units": "units"}
