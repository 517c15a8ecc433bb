"""Finding a search back in MLflow: its experiment, its parent run and every run under it.

MLflow is the one place that holds every search, whatever the engine and however many
machines fed it, so ``tuner best``, ``show`` and ``compare`` read from it alone. The
lookups live here so all three answer a wrong name or run id with the same message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tuner.errors import TunerError, first_line
from tuner.redact import redact, scrub
from tuner.tracking.runs import COMPLETE, FAILED, KIND_TAG, PRUNED, SEARCH_TAG, STATE_TAG
from tuner.tracking.store import client_for, local_artifact_root

SEARCH_KIND = "search"
PAGE_SIZE = 1000  # runs asked per search_runs call: MLflow's default page size (it allows up to 50,000)
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _client(tracking_uri: str) -> Any:
    """The store's client, without creating a local store that is not there (reading writes nothing)."""
    root = local_artifact_root(tracking_uri)
    if root is not None and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        return None
    return client_for(tracking_uri)


def experiment_named(tracking_uri: str, name: str) -> Any:
    """The MLflow experiment of search ``name``; unknown, a one-line error listing the known ones."""
    client = _client(tracking_uri)
    if client is None:
        raise TunerError(
            f"no search named {name!r}: no MLflow store at {redact(tracking_uri)} yet "
            f"(run `tuner search` first, or pass --tracking-uri)"
        )
    try:
        experiment = client.get_experiment_by_name(name)
    except Exception as exc:  # noqa: BLE001 - an unreachable store is the user's to fix
        raise TunerError(
            f"cannot read the MLflow tracking store {redact(tracking_uri)!r}: "
            f"{scrub(first_line(exc), tracking_uri)}"
        ) from None
    if experiment is None:
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        known = ", ".join(names) if names else "none yet"
        raise TunerError(f"no search named {name!r} in {redact(tracking_uri)}; known searches: {known}")
    return experiment


def get_run(tracking_uri: str, run_id: str) -> Any:
    client = _client(tracking_uri)
    try:
        if client is None:
            raise LookupError
        return client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MLflow raises its own error type for unknown ids
        raise TunerError(f"no run {run_id!r} in the tracking store {redact(tracking_uri)}") from None


def search_parent(tracking_uri: str, name: str, run_id: str | None = None) -> Any:
    """The parent run of search ``name``: ``run_id``, or its latest search by start time (running included)."""
    experiment = experiment_named(tracking_uri, name)
    if run_id:
        run = parent_run(tracking_uri, run_id)
        if run.info.experiment_id != experiment.experiment_id:
            other = client_for(tracking_uri).get_experiment(run.info.experiment_id).name
            raise TunerError(f"run {run_id} is a run of search {other!r}, not of {name!r}")
        return run
    runs = client_for(tracking_uri).search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{KIND_TAG}` = '{SEARCH_KIND}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise TunerError(f"search {name!r} has no search run (its experiment holds no run tagged as one)")
    return runs[0]


def parent_run(tracking_uri: str, run_id: str) -> Any:
    """Run ``run_id``, which must be a search's parent run."""
    run = get_run(tracking_uri, run_id)
    kind = run.data.tags.get(KIND_TAG)
    if kind != SEARCH_KIND:
        parent = run.data.tags.get(SEARCH_TAG)
        where = f"; its search run is {parent}" if parent else ""
        raise TunerError(
            f"run {run_id} is {'a ' + kind if kind else 'not a tuner'} run, not a search's{where}"
        )
    return run


def resolve_search(tracking_uri: str, name_or_run: str) -> Any:
    """A search's parent run from its name (its latest search) or from a parent run id."""
    if RUN_ID.match(name_or_run):
        client = _client(tracking_uri)
        try:
            is_name = client is not None and client.get_experiment_by_name(name_or_run) is not None
        except Exception:  # noqa: BLE001 - no store, or none reachable: get_run says so
            is_name = False
        if not is_name:
            return parent_run(tracking_uri, name_or_run)
    return search_parent(tracking_uri, name_or_run)


def experiment_name(tracking_uri: str, run: Any) -> str:
    return client_for(tracking_uri).get_experiment(run.info.experiment_id).name


def runs_of_search(tracking_uri: str, parent: Any) -> list[Any]:
    """Every run that points at search run ``parent`` (trials, candidates, folds, re-checks, best), all pages."""
    client = client_for(tracking_uri)
    query = f"tags.`{SEARCH_TAG}` = '{parent.info.run_id}'"
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [parent.info.experiment_id], filter_string=query, max_results=PAGE_SIZE, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token or not page:
            return runs


def find_search(tracking_uri: str, name: str, run_id: str | None = None) -> dict[str, Any]:
    """The best result of search ``run_id`` in experiment ``name`` (default: the latest completed one)."""
    experiment = experiment_named(tracking_uri, name)
    client = client_for(tracking_uri)
    if run_id:
        run = get_run(tracking_uri, run_id)
    else:
        query = f"tags.`{KIND_TAG}` = '{SEARCH_KIND}' AND tags.`{STATE_TAG}` = '{COMPLETE}'"
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=query,
            order_by=["attributes.end_time DESC"],
            max_results=1,
        )
        if not runs:
            raise TunerError(f"search {name!r} has no completed run yet")
        run = runs[0]
    tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
    best_params = {k[len("best.") :]: v for k, v in tags.items() if k.startswith("best.")}
    meta = {k: best_params.pop(k, "") for k in ("trial", "trial_run_id", "model_uri", "model_run_id")}
    weights = ""
    if meta["model_run_id"]:
        weights = client.get_run(meta["model_run_id"]).info.artifact_uri + "/weights/model.weights.h5"
    metric = params.get("metric", "score")
    return {
        "search": name,
        "search_run_id": run.info.run_id,
        "engine": params.get("engine", ""),
        "metric": metric,
        "best_params": best_params,
        "best_trial": meta["trial"],
        "best_trial_run_id": meta["trial_run_id"],
        "best_val_score": metrics.get("best_val_score"),
        f"test_{metric}": metrics.get(f"test_{metric}"),
        "model_uri": meta["model_uri"],
        "weights": weights,
        "trials": {s: int(metrics.get(f"n_{s}", 0)) for s in (COMPLETE, PRUNED, FAILED)},
    }
