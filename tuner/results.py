"""Reading finished searches back from MLflow (``tuner best``)."""

from __future__ import annotations

from typing import Any

from tuner.errors import TunerError
from tuner.tracking import COMPLETE, FAILED, KIND_TAG, PRUNED, STATE_TAG, client_for


def find_search(tracking_uri: str, name: str, run_id: str | None = None) -> dict[str, Any]:
    """The best result of search ``run_id`` in experiment ``name`` (default: the latest completed one)."""
    client = client_for(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        known = ", ".join(names) if names else "none yet"
        raise TunerError(f"no search named {name!r} in {tracking_uri}; known searches: {known}")
    if run_id:
        try:
            run = client.get_run(run_id)
        except Exception:  # noqa: BLE001 - MLflow raises its own error type for unknown ids
            raise TunerError(f"no run {run_id!r} in this tracking store") from None
    else:
        query = f"tags.`{KIND_TAG}` = 'search' AND tags.`{STATE_TAG}` = '{COMPLETE}'"
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
