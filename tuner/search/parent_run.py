"""A search's parent run: opened once per search and described for the MLflow UI.

Its parameters say what was searched and how (the run configuration, the dataset's
shape and fingerprint, the engine's settings); its tags carry the library versions;
the space file is an artifact, and so is a user's build function's file. The trials are its children.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tuner.config import SearchConfig
from tuner.search.context import Inputs
from tuner.tracking.runs import DATASET_TAG, DESCRIPTION_TAG, ENGINE_TAG, RunTarget, log_tags
from tuner.tracking.shared_views import write_views
from tuner.tracking.store import client_for
from tuner.versions import library_versions as installed_versions

MODEL_SHA_TAG = "tuner.model_sha256"  # of the build function's file: a worker's copy must match
LIBRARIES = ("tensorflow", "keras", "scikeras", "scikit-learn", "optuna", "mlflow", "numpy", "pandas")


def library_versions() -> dict[str, str]:
    return installed_versions(LIBRARIES)


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def search_params(config: SearchConfig, inputs: Inputs, settings: dict[str, Any]) -> dict[str, Any]:
    """What the search run records as parameters: the settings and the data it ran on."""
    space, ds, metric, network = inputs
    return {
        "engine": config.engine,
        "space": space.name,
        "model": network.spec,
        "data": config.data,
        "target": config.target,
        "test_size": config.test_size,
        "task": ds.task,
        "metric": metric.name,
        "direction": metric.direction,
        "trials": config.trials,
        "timeout": config.timeout,
        "epochs": config.epochs,
        "patience": config.patience,
        "seed": config.seed,
        "n_jobs": config.n_jobs,
        "n_train": len(ds.y_train),
        "n_valid": len(ds.y_valid),
        "n_test": len(ds.y_test),
        "sample_shape": "x".join(map(str, ds.sample_shape)),
        "data_fingerprint": ds.fingerprint,
        **settings,
    }


def describe_search(config: SearchConfig, inputs: Inputs, settings: dict[str, Any]) -> str:
    """What the parent run's description says while the search runs (the finish adds the winner)."""
    space, ds, metric, network = inputs
    how = (
        "/".join(str(settings[k]) for k in ("sampler", "pruner") if settings.get(k)) or f"{config.cv}-fold CV"
    )
    budget = f"{config.trials} trials" if config.trials else f"trials for {config.timeout:g} s"
    return (
        f"{config.engine} search ({how}) of space {space.name} ({network.spec}) on {ds.name} ({ds.task}, {metric.name}): "
        f"{budget} of at most {config.epochs} epochs."
    )


def open_search_run(
    config: SearchConfig, inputs: Inputs, experiment: RunTarget, settings: dict[str, Any], name: str = ""
) -> RunTarget:
    """Create and describe the parent run; return the target its children log under.

    Its name says what it is (``optuna search <study>``, ``random search <time>``), its
    description what is searched; it carries the search's identity tags, as its children do.
    """
    run_name = f"{config.engine} search {name or timestamp()}"
    target = RunTarget(experiment.tracking_uri, experiment.experiment_id, None, run_name, "search")
    run_id = target.open(search_params(config, inputs, settings))
    uri = experiment.tracking_uri
    tags = {f"version.{k}": v for k, v in library_versions().items()}
    tags.update({ENGINE_TAG: config.engine, DATASET_TAG: inputs.dataset.name})
    tags[DESCRIPTION_TAG] = describe_search(config, inputs, settings)
    if inputs.network.sha256:
        tags[MODEL_SHA_TAG] = inputs.network.sha256
    log_tags(uri, run_id, tags)
    client = client_for(uri)
    client.log_artifact(run_id, str(inputs.space.path), artifact_path="space")
    if inputs.network.file:  # the build function's whole file, as the space is: what the trials ran
        client.log_artifact(run_id, inputs.network.file, artifact_path="model_code")
    write_search_views(experiment, run_id, config, inputs)  # the UI's runs table, ready for it
    return children_of(experiment, run_id)


def write_search_views(experiment: RunTarget, run_id: str, config: SearchConfig, inputs: Inputs) -> None:
    """The MLflow UI's runs table, ready for this search: its trials, and the experiment's searches
    (:mod:`tuner.tracking.shared_views`); written again when a search resumes, the latest then."""
    metric = inputs.metric
    write_views(
        experiment.tracking_uri,
        experiment.experiment_id,
        run_id,
        config.engine,
        inputs.space.params,
        metric.name,
        metric.direction,
    )


def children_of(experiment: RunTarget, run_id: str) -> RunTarget:
    """The target whose children are the trials of search run ``run_id``."""
    return RunTarget(experiment.tracking_uri, experiment.experiment_id, run_id, "", "search", run_id)
