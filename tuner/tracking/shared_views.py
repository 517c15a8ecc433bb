"""The MLflow UI's runs table, set up for a search: MLflow's "shared view" written by tuner.

MLflow's UI (3.18) keeps the view of an experiment's runs table (filter, order, columns)
in an experiment tag ``mlflow.sharedViewState.<key>``; the link
``#/experiments/<id>/runs?viewStateShareKey=<key>`` restores it for anyone who opens it.
tuner writes two: ``trials`` (the latest search's trials, best first, their parameters,
score, state, best epoch and duration in columns) and ``searches`` (the experiment's
searches, what ``tuner compare`` prints). This is MLflow's format, not a documented API:
it lives here alone, and ``tests/e2e/test_browser.py`` fails when MLflow changes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from tuner.tracking.store import client_for

VIEW_TAG = "mlflow.sharedViewState.{key}"
TRIALS, SEARCHES = "trials", "searches"
# The run kind of a trial, per engine: an Optuna trial, a random-search candidate (its folds apart).
TRIAL_KINDS = {"optuna": "trial", "random": "candidate"}


def column(kind: str, name: str) -> str:
    """A runs-table column's key, as the UI writes it: ``params.`n_hidden```."""
    return f"{kind}.`{name}`"


def trials_view(
    search_run_id: str, engine: str, params: Iterable[str], metric_direction: str
) -> dict[str, object]:
    """The state of the trials view: this search's trials only, best first."""
    kind = TRIAL_KINDS.get(engine, "trial")
    return {
        "searchFilter": f"tags.`tuner.search_run_id` = '{search_run_id}' AND tags.`tuner.kind` = '{kind}'",
        "orderByKey": column("metrics", "val_score"),
        "orderByAsc": metric_direction == "minimize",
        "selectedColumns": [
            *(column("params", p) for p in params),
            column("metrics", "val_score"),
            column("tags", "tuner.state"),
            column("metrics", "best_epoch"),
            column("attributes", "Duration"),
        ],
    }


def searches_view(metric: str, metric_direction: str) -> dict[str, object]:
    """The state of the searches view: one row per search, best validation score first."""
    return {
        "searchFilter": "tags.`tuner.kind` = 'search'",
        "orderByKey": column("metrics", "best_val_score"),
        "orderByAsc": metric_direction == "minimize",
        "selectedColumns": [
            column("params", "engine"),
            column("params", "sampler"),
            column("params", "model"),
            column("metrics", "n_complete"),
            column("metrics", "n_pruned"),
            column("metrics", "n_failed"),
            column("metrics", "best_val_score"),
            column("metrics", f"test_{metric}"),
            column("attributes", "Description"),
        ],
    }


def saved(name: str, state: dict[str, object]) -> str:
    """The tag's value: MLflow 3.18's saved-view envelope (the form its Views menu lists), whose
    ``state`` is the view's state as a JSON string and whose times are milliseconds."""
    now = int(time.time() * 1000)
    return json.dumps({"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)})


def write_views(
    tracking_uri: str,
    experiment_id: str,
    search_run_id: str,
    engine: str,
    params: Iterable[str],
    metric: str,
    direction: str,
) -> None:
    """Both views on the experiment: the latest search's trials, and its searches."""
    client = client_for(tracking_uri)
    views = {
        TRIALS: ("Trials of the latest search", trials_view(search_run_id, engine, params, direction)),
        SEARCHES: ("Searches", searches_view(metric, direction)),
    }
    for key, (name, state) in views.items():
        client.set_experiment_tag(experiment_id, VIEW_TAG.format(key=key), saved(name, state))


def view_link(ui_base: str, experiment_id: str, key: str = TRIALS) -> str:
    """The link that opens a view; no other query parameter (MLflow then ignores the key)."""
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={key}"
