"""The model registry: the first version is champion; a later one takes the alias only by scoring better.

Real tiny Keras models logged into a real local MLflow store. A "bad" model is the good
one with its weights zeroed: it predicts the first class for every row, so which of the
two is better is certain.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from tiny_models import fit, one_error_line, table_csv

from tuner.cli.main import cli
from tuner.data.dataset import load_dataset
from tuner.errors import TunerError
from tuner.shipping.registry import CHAMPION, MIN_COMPARED_ROWS, PREVIOUS, register


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A search run of breast_cancer with three logged models: good, bad (zeroed) and one of other columns."""
    from tuner.shipping.export import save_model_folder
    from tuner.shipping.mlflow_model import log_model
    from tuner.tracking.runs import COMPLETE, RunTarget, close_run, log_tags, open_experiment

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    ds = load_dataset("breast_cancer", None, None, 0, 0.2)
    params = {"data": "breast_cancer", "task": ds.task, "seed": 0, "test_size": 0.2, "metric": "accuracy"}
    params.update(n_test=len(ds.y_test), data_fingerprint=ds.fingerprint)
    experiment = open_experiment(uri, "cancer-search")
    run_id = RunTarget(uri, experiment.experiment_id, None, "search", "search").open(params)
    est, pre, _ = fit(ds)
    save_model_folder(est, pre, ds, root / "good")
    est.model_.set_weights([np.zeros_like(w) for w in est.model_.get_weights()])
    save_model_folder(est, pre, ds, root / "bad")
    other = load_dataset(str(table_csv(root / "table.csv")), "label", None, 0, 0.2)
    other_est, other_pre, _ = fit(other)
    save_model_folder(other_est, other_pre, other, root / "other", target="label")
    uris = {name: log_model(uri, run_id, root / name, ds.X_test[:3]) for name in ("good", "bad")}
    uris["other"] = log_model(uri, run_id, root / "other", other.X_test[:3])
    log_tags(uri, run_id, {"best.model_uri": uris["good"]})
    close_run(uri, run_id, COMPLETE)
    return uri, uris, ds, root / "table.csv"


def _alias(uri: str, name: str, alias: str) -> str:
    from tuner.tracking.store import client_for

    return str(client_for(uri).get_model_version_by_alias(name, alias).version)


@pytest.mark.slow  # the store's models: two fits and three logged models
def test_the_champion_changes_only_for_a_better_score(store):
    uri, models, ds, _ = store
    first = register(uri, models["bad"], "cancer", ds.X_test, ds.y_test, "accuracy", ds)
    assert (first.version, first.took_champion) == ("1", True) and "first of 'cancer'" in first.message
    better = register(uri, models["good"], "cancer", ds.X_test, ds.y_test, "accuracy", ds)
    assert better.took_champion and better.previous_champion == "1" and better.score > better.champion_score
    assert better.message.startswith("version 2 is the new champion: accuracy")
    assert (_alias(uri, "cancer", CHAMPION), _alias(uri, "cancer", PREVIOUS)) == ("2", "1")
    worse = register(uri, models["bad"], "cancer", ds.X_test, ds.y_test, "accuracy", ds)
    assert not worse.took_champion and worse.champion == "2" and "\n" not in worse.message
    assert worse.message.startswith("version 3 registered; champion stays version 2: accuracy")
    assert f"on the {len(ds.y_test)} test rows neither trained on" in worse.message  # the same split
    assert (_alias(uri, "cancer", CHAMPION), _alias(uri, "cancer", PREVIOUS)) == ("2", "1")

    from tuner.tracking.store import client_for

    tags = client_for(uri).get_model_version("cancer", "2").tags
    assert float(tags["tuner.test_accuracy"]) == pytest.approx(better.score)
    assert float(tags["tuner.champion_test_accuracy"]) == pytest.approx(better.champion_score)
    assert tags["tuner.test_rows"] == str(len(ds.y_test)) and tags["tuner.compared_with_version"] == "1"
    assert tags["tuner.data_fingerprint"] == ds.fingerprint and len(tags["tuner.test_rows_fingerprint"]) == 16
    assert (tags["tuner.split_seed"], tags["tuner.test_size"]) == ("0", "0.2")


@pytest.mark.slow  # the store's models: two fits and three logged models
def test_no_test_split_leaves_the_champion(store):
    uri, models, ds, _ = store
    register(uri, models["bad"], "no-test", ds.X_test, ds.y_test, "accuracy", ds)
    kept = register(uri, models["good"], "no-test", ds.X_test[:0], ds.y_test[:0], "accuracy", ds)
    assert not kept.took_champion and kept.score is None and _alias(uri, "no-test", CHAMPION) == "1"
    assert "no test split (--test-size 0)" in kept.message


@pytest.mark.slow  # the store's models: two fits and three logged models
def test_a_champion_trained_on_other_data_stays(store):
    uri, models, ds, _ = store
    other = load_dataset(str(store[3]), "label", None, 0, 0.2)
    assert register(
        uri, models["other"], "mixed", other.X_test, other.y_test, "accuracy", other
    ).took_champion
    kept = register(uri, models["good"], "mixed", ds.X_test, ds.y_test, "accuracy", ds)
    assert not kept.took_champion and _alias(uri, "mixed", CHAMPION) == "1"
    assert "it was trained on other data (fingerprint" in kept.message  # no row is known to be unseen


@pytest.mark.slow  # the store's models: two fits and three logged models
def test_a_champion_split_another_way_is_compared_only_on_rows_neither_trained_on(store):
    uri, models, ds, _ = store
    register(uri, models["bad"], "seeds", ds.X_test, ds.y_test, "accuracy", ds)  # split with seed 0
    reseeded = load_dataset("breast_cancer", None, None, 1, 0.2)  # most of its test rows trained the champion
    unseen = int(np.isin(reseeded.test_index, ds.test_index).sum())
    assert 0 < unseen < MIN_COMPARED_ROWS < len(reseeded.y_test)
    kept = register(uri, models["good"], "seeds", reseeded.X_test, reseeded.y_test, "accuracy", reseeded)
    assert not kept.took_champion and _alias(uri, "seeds", CHAMPION) == "1" and kept.compared_rows == unseen
    assert f"only {unseen} of this search's {len(reseeded.y_test)} test rows were held out" in kept.message
    wider = load_dataset("breast_cancer", None, None, 1, 0.45)  # a larger test split: enough rows in common
    taken = register(uri, models["good"], "seeds", wider.X_test, wider.y_test, "accuracy", wider)
    assert taken.took_champion and taken.compared_rows == int(np.isin(wider.test_index, ds.test_index).sum())
    assert (
        taken.compared_rows >= MIN_COMPARED_ROWS
        and f"on the {taken.compared_rows} test rows" in taken.message
    )


@pytest.mark.slow  # the store's models: two fits and three logged models
def test_a_champion_that_records_no_split_stays(store):
    uri, models, ds, _ = store
    register(uri, models["bad"], "unsplit", ds.X_test, ds.y_test, "accuracy")  # as an older tuner did
    kept = register(uri, models["good"], "unsplit", ds.X_test, ds.y_test, "accuracy", ds)
    assert not kept.took_champion and "it records no split" in kept.message


def test_a_store_without_a_registry_is_one_line(monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(TunerError, match="offers no model registry") as refused:
        register("file:///tmp/no-registry-here", "models:/m-0", "x", None, np.zeros(0), "accuracy")
    assert "\n" not in str(refused.value)


def test_a_models_uri_without_a_store_is_one_line(tracking_uri, tmp_path):
    pd.DataFrame({"a": [1.0]}).to_csv(tmp_path / "rows.csv", index=False)
    args = ["predict", "--model", "models:/nope@champion", "--data", str(tmp_path / "rows.csv")]
    line = one_error_line(CliRunner().invoke(cli, [*args, "--tracking-uri", tracking_uri]))
    assert "no MLflow store at" in line
    assert not (tmp_path / "predictions.csv").exists() and not (tmp_path / "mlruns").exists()


@pytest.mark.slow  # the store's models: two fits and three logged models
def test_unknown_registered_models_are_one_line(store, tmp_path):
    uri, _, ds, _ = store
    rows = tmp_path / "rows.csv"
    ds.X_test.to_csv(rows, index=False)
    cases = {
        "models:/nope@champion": "models:/nope@champion: no registered model 'nope'",
        "models:/cancer@gold": "registered model 'cancer' has no alias 'gold'",
        "models:/cancer/99": "registered model 'cancer' has no version 99",
    }
    register(uri, store[1]["good"], "cancer", ds.X_test, ds.y_test, "accuracy")
    for model, message in cases.items():
        args = ["predict", "--model", model, "--data", str(rows), "--out", str(tmp_path / "p.csv")]
        assert message in one_error_line(CliRunner().invoke(cli, [*args, "--tracking-uri", uri]))
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow  # the store's models: two fits and three logged models
def test_export_registers_and_predict_reads_the_champion(store, tmp_path):
    uri, _, ds, _ = store
    args = ["export", "cancer-search", "--out", str(tmp_path / "model"), "--register", "exported"]
    result = CliRunner().invoke(cli, [*args, "--tracking-uri", uri, "--output", "json"])
    assert result.exit_code == 0, result.output
    registration = json.loads(result.stdout)["registration"]
    assert registration["took_champion"] and registration["test_rows"] == len(ds.y_test)
    rows = tmp_path / "rows.csv"
    ds.X_test.to_csv(rows, index=False)
    args = [
        "predict",
        "--model",
        "models:/exported@champion",
        "--data",
        str(rows),
        "--out",
        str(tmp_path / "p.csv"),
    ]
    result = CliRunner().invoke(cli, [*args, "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(tmp_path / "p.csv")["prediction"].to_numpy()
    assert np.mean(predicted == ds.y_test) == pytest.approx(registration["score"])
