"""One search's inputs, prepared once per process: the search process and every worker.

:func:`load_inputs` reads the space, the dataset (split once, with the seed) and the
metric, and checks them against each other; :func:`build_context` fits the
preprocessing on the train split only and bundles everything a trial needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tuner.config import SearchConfig
from tuner.data.dataset import Dataset, load_dataset
from tuner.errors import TunerError
from tuner.networks.reference import ModelRef, resolve, resolve_recorded
from tuner.search.progress import SearchProgress
from tuner.space import SearchSpace, load_space
from tuner.tracking.runs import DATASET_TAG, ENGINE_TAG, RunTarget
from tuner.trial.metrics import Metric, get_metric


class Inputs(NamedTuple):
    space: SearchSpace
    dataset: Dataset
    metric: Metric
    network: ModelRef  # the build function the space's model names, found and hashed


def load_inputs(
    config: SearchConfig,
    space: SearchSpace | None = None,
    model_sha256: str | None = None,
    network: ModelRef | None = None,
) -> Inputs:
    """The search space, dataset, metric and network of ``config``, checked against each other.

    A worker gets the space and its model file's hash from the study (``space``,
    ``model_sha256``: its own copy of the file must match), or the network itself from
    the search that started it (``network``, which may be a function object).
    """
    given = resolve(config.model, config.model_root) if callable(config.model) else None
    if space is None:
        space = load_space(config.space, given.spec if given else config.model)
    if network is None:
        network = given or resolve_recorded(space.model, model_sha256, config.model_root)
    ds = load_dataset(config.data, config.target, config.task, config.seed, config.test_size)
    metric = get_metric(config.metric, ds.task)
    if ds.task != "regression" and "loss" in {*space.params, *space.fixed}:
        raise TunerError(f"{space.path}: params.loss: only regression takes a loss; this is a {ds.task} task")
    return Inputs(space, ds, metric, network)


def search_name(config: SearchConfig, space: SearchSpace, dataset: Dataset) -> str:
    """The search's name, which is its MLflow experiment: ``--name``, else ``<space>-<data>``."""
    return config.name or f"{space.name}-{dataset.name}"


@dataclass
class SearchContext:
    """Everything a trial of this search needs; the settings stay in ``config``."""

    config: SearchConfig
    space: SearchSpace
    dataset: Dataset
    metric: Metric
    search_run: RunTarget  # the parent run; trial runs are its children
    network: ModelRef  # what every trial builds
    preprocessor: Any  # fitted on the train split only; None for images
    X_train: np.ndarray  # preprocessed; a view of X_train_valid
    X_valid: np.ndarray  # preprocessed; a view of X_train_valid
    progress: SearchProgress
    X_train_valid: np.ndarray  # both, in one array: what the re-check and the refit train on

    def estimator_kwargs(self) -> dict[str, Any]:
        """Estimator parameters shared by every trial of this search."""
        from tuner.trial.estimator import estimator_params

        return {
            "task": self.dataset.task,
            "metric": self.metric.name,
            "epochs": self.config.epochs,
            "patience": self.config.patience,
            "network": self.network,
            "tensorboard_dir": str(Path(self.config.tensorboard) / self.name)
            if self.config.tensorboard
            else None,
            **estimator_params(self.space.fixed),
        }

    @property
    def name(self) -> str:
        return search_name(self.config, self.space, self.dataset)

    def trial_target(self, name: str, **tags: str) -> RunTarget:
        """Where a trial of this search logs: a child of the search run."""
        return self.search_run.child(name, "trial", self.search_run.search_run_id, **tags)

    def transform(self, X: Any) -> Any:
        return self.preprocessor.transform(X) if self.preprocessor is not None else X


def build_context(
    config: SearchConfig, search_run: RunTarget, progress: SearchProgress, inputs: Inputs | None = None
) -> SearchContext:
    """The context of a search in this process, with the preprocessing fitted on the train split."""
    space, ds, metric, network = inputs or load_inputs(config)
    preprocessor = ds.make_preprocessor()
    if preprocessor is not None:
        preprocessor.fit(ds.X_train)
    search_run = search_run.with_tags(**{ENGINE_TAG: config.engine, DATASET_TAG: ds.name})  # on every child
    transform = preprocessor.transform if preprocessor is not None else np.asarray
    both, n_train = _one_array(transform(ds.X_train), transform(ds.X_valid)), len(ds.y_train)
    return SearchContext(
        config,
        space,
        ds,
        metric,
        search_run,
        network,
        preprocessor,
        both[:n_train],
        both[n_train:],
        progress,
        both,
    )


def _one_array(first: Any, second: Any) -> np.ndarray:
    """``first`` then ``second`` in one array, made once per process: the trials train on a view
    of each part, and the re-check and the refit on the whole without another copy of the table."""
    first, second = np.asarray(first), np.asarray(second)
    both = np.empty((len(first) + len(second), *first.shape[1:]), dtype=np.result_type(first, second))
    both[: len(first)], both[len(first) :] = first, second
    return both
