"""The views tuner writes for MLflow's runs table: experiment tags in MLflow 3.18's saved-view
envelope, read back from a real local store (the browser test checks that the UI applies them)."""

from __future__ import annotations

import json

import pytest

from tuner.tracking.runs import open_experiment
from tuner.tracking.shared_views import SEARCHES, TRIALS, VIEW_TAG, view_link, write_views
from tuner.tracking.store import LOCAL_UI, client_for, ui_address


def _state(tracking_uri: str, experiment_id: str, key: str) -> dict:
    tag = client_for(tracking_uri).get_experiment(experiment_id).tags[VIEW_TAG.format(key=key)]
    envelope = json.loads(tag)
    assert isinstance(envelope["name"], str) and isinstance(envelope["createdAt"], int)
    assert isinstance(envelope["state"], str)  # the UI refuses an envelope whose state is not a string
    return json.loads(envelope["state"])


@pytest.mark.parametrize(("engine", "kind"), [("optuna", "trial"), ("random", "candidate")])
def test_the_trials_view_holds_this_searchs_trials_best_first_with_their_columns(tracking_uri, engine, kind):
    experiment = open_experiment(tracking_uri, "views")
    write_views(
        tracking_uri, experiment.experiment_id, "run42", engine, ["n_hidden", "dropout"], "mse", "minimize"
    )
    trials = _state(tracking_uri, experiment.experiment_id, TRIALS)
    assert trials["searchFilter"] == f"tags.`tuner.search_run_id` = 'run42' AND tags.`tuner.kind` = '{kind}'"
    assert (trials["orderByKey"], trials["orderByAsc"]) == ("metrics.`val_score`", True)  # mse: lowest first
    assert trials["selectedColumns"] == [
        "params.`n_hidden`",
        "params.`dropout`",
        "metrics.`val_score`",
        "tags.`tuner.state`",
        "metrics.`best_epoch`",
        "attributes.`Duration`",
    ]
    searches = _state(tracking_uri, experiment.experiment_id, SEARCHES)
    assert (
        searches["searchFilter"] == "tags.`tuner.kind` = 'search'" and searches["orderByAsc"] is True
    )  # mse: lowest first
    assert "metrics.`test_mse`" in searches["selectedColumns"]


def test_a_later_search_replaces_the_trials_view(tracking_uri):
    experiment = open_experiment(tracking_uri, "views")
    for run in ("first", "second"):
        write_views(
            tracking_uri, experiment.experiment_id, run, "optuna", ["n_hidden"], "accuracy", "maximize"
        )
    assert "'second'" in _state(tracking_uri, experiment.experiment_id, TRIALS)["searchFilter"]


def test_links_open_a_view_at_the_uis_address_never_with_a_password():
    assert view_link(LOCAL_UI, "3") == "http://127.0.0.1:5000/#/experiments/3/runs?viewStateShareKey=trials"
    assert ui_address("sqlite:///mlruns/mlflow.db") == LOCAL_UI
    assert ui_address("https://alice:s3cret@mlflow.example.org:8443/tracking/") == (
        "https://mlflow.example.org:8443/tracking"
    )
    assert view_link(ui_address("http://10.0.0.5:5000"), "7", SEARCHES).startswith("http://10.0.0.5:5000/#/")
