"""The trials table on a search's parent run: one row per trial, as MLflow's UI shows tables.

Why a table: the MLflow UI compares runs a few at a time; a search of 50 trials wants one
sortable view of every trial's parameters, score, state, epochs and reason, and a CSV a
notebook or spreadsheet opens as it is.

What it costs: everything the table (and the pictures in :mod:`tuner.views.plots`) needs from
MLflow comes from one ``get_run`` and one ``search_runs`` over the experiment, filtered on the
tag every run of a search carries (``tuner.search_run_id``): trial, candidate and fold runs
with their final metrics, paged by :func:`tuner.tracking.lookup.runs_of_search` (one round
trip per :data:`~tuner.tracking.lookup.PAGE_SIZE` runs).

Why not ``MlflowClient.log_table`` itself: it *appends* to a table already there, so a resumed
study's second finish would list every earlier trial twice. :func:`log_trials_table` writes the
same file (pandas' ``orient="split"`` JSON) and sets the same ``mlflow.loggedArtifacts`` tag, so
``mlflow.load_table`` and the UI read it as a table, but replaces it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from tuner.search.outcomes import TrialRecord
from tuner.tracking.runs import KIND_TAG
from tuner.tracking.store import client_for
from tuner.views.numbers import finite_or_none

TABLE_JSON, TABLE_CSV = "trials.json", "trials.csv"
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"  # how MLflow marks an artifact as a table
PARENT_TAG = "mlflow.parentRunId"
FIXED_BEFORE, FIXED_AFTER = (
    ("number", "state"),
    ("value", "best_epoch", "epochs_run", "duration_s", "run_id", "reason"),
)
PAGE = 10_000


@dataclass
class SearchRuns:
    """Every run of one search, read once: by id, and each candidate's fold runs in start order."""

    search_run: Run
    runs: dict[str, Run] = field(default_factory=dict)
    folds: dict[str, list[Run]] = field(default_factory=dict)

    def epochs_run(self, run_id: str | None) -> float | None:
        """The trial run's ``epochs_run``; for a random-search candidate, the mean over its folds."""
        run = self.runs.get(run_id or "")
        if run is not None and "epochs_run" in run.data.metrics:
            return run.data.metrics["epochs_run"]
        values = [
            f.data.metrics["epochs_run"]
            for f in self.folds.get(run_id or "", [])
            if "epochs_run" in f.data.metrics
        ]
        return sum(values) / len(values) if values else None

    def curve_run(self, client: MlflowClient, run_id: str) -> str:
        """The run whose per-epoch curves stand for trial ``run_id``: its first fold run if it has
        folds (a random-search candidate), else the run itself."""
        folds = self.folds.get(run_id)
        run = self.runs.get(run_id)
        if not folds and run is not None and run.data.tags.get(KIND_TAG) == "candidate":
            # fold runs written without the search tag (older runs): ask for the candidate's children
            query = f"tags.`{PARENT_TAG}` = '{run_id}'"
            folds = _by_start(
                client.search_runs([run.info.experiment_id], filter_string=query, max_results=PAGE)
            )
        return folds[0].info.run_id if folds else run_id


def _by_start(runs: list[Run]) -> list[Run]:
    return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_name or "", r.info.run_id))


def fetch_search_runs(tracking_uri: str, search_run_id: str) -> SearchRuns:
    """The search's parent run and every run that carries its id."""
    from tuner.tracking.lookup import runs_of_search

    client = client_for(tracking_uri)
    parent = client.get_run(search_run_id)
    found = runs_of_search(tracking_uri, parent)
    folds: dict[str, list[Run]] = {}
    for run in _by_start(found):
        if run.data.tags.get(KIND_TAG) == "fold" and PARENT_TAG in run.data.tags:
            folds.setdefault(run.data.tags[PARENT_TAG], []).append(run)
    return SearchRuns(parent, {run.info.run_id: run for run in found}, folds)


def plain_value(value: Any) -> Any:
    """A parameter value as a table cell: plain scalars stay, NumPy scalars become Python's,
    anything else (a list, a tuple) its text."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def param_columns(trials: list[TrialRecord]) -> dict[str, str]:
    """Parameter name -> column name, in the order parameters first appear; a parameter named like
    a fixed column (``value``, ``state``...) gets the column ``params.<name>``."""
    fixed = set(FIXED_BEFORE + FIXED_AFTER)
    columns: dict[str, str] = {}
    for trial in trials:
        for name in trial.params:
            columns.setdefault(name, f"params.{name}" if name in fixed else name)
    return columns


def trials_frame(trials: list[TrialRecord], runs: SearchRuns) -> Any:
    """One row per trial (in trial-number order): number, state, a column per parameter, value,
    best_epoch, epochs_run, duration_s, run_id, reason."""
    import pandas as pd

    columns = param_columns(trials)
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        row: dict[str, Any] = {"number": trial.number, "state": trial.state}
        row.update({col: plain_value(trial.params.get(name)) for name, col in columns.items()})
        row.update(
            value=finite_or_none(trial.value),
            best_epoch=None if trial.best_epoch is None else round(trial.best_epoch),
            epochs_run=runs.epochs_run(trial.run_id),
            duration_s=finite_or_none(trial.duration_s),
            run_id=trial.run_id,
            reason=trial.reason or "",
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*FIXED_BEFORE, *columns.values(), *FIXED_AFTER])
    return frame.astype({"best_epoch": "Int64"})  # whole epochs, blank where unknown (not 23.0)


def log_trials_table(client: MlflowClient, runs: SearchRuns, trials: list[TrialRecord]) -> list[str]:
    """Write ``trials.json`` (an MLflow table, replacing any earlier one) and ``trials.csv`` to the
    search's parent run; return their artifact paths."""
    frame = trials_frame(trials, runs)
    run_id = runs.search_run.info.run_id
    with tempfile.TemporaryDirectory(prefix="tuner-table-") as tmp:
        frame.to_json(Path(tmp) / TABLE_JSON, orient="split", index=False, date_format="iso")
        frame.to_csv(Path(tmp) / TABLE_CSV, index=False)
        client.log_artifacts(run_id, tmp)  # both files in one call
    tables = json.loads(runs.search_run.data.tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
    entry = {"path": TABLE_JSON, "type": "table"}
    if entry not in tables:
        client.set_tag(run_id, LOGGED_ARTIFACTS_TAG, json.dumps([*tables, entry]))
    return [TABLE_JSON, TABLE_CSV]
