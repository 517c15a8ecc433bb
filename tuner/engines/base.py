"""What every engine receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tuner.data import Dataset
from tuner.metrics import Metric
from tuner.progress import SearchProgress
from tuner.space import SearchSpace
from tuner.tracking import RunTarget


@dataclass
class SearchContext:
    """One search's inputs, prepared once per process."""

    space: SearchSpace
    dataset: Dataset
    metric: Metric
    search_run: RunTarget  # the parent run; trial runs are its children
    X_train: np.ndarray  # preprocessed (fitted on the train split only)
    X_valid: np.ndarray
    progress: SearchProgress
    trials: int | None = 20
    timeout: float | None = None
    epochs: int = 100
    patience: int = 10
    seed: int = 42
    n_jobs: int = 1
    cv: int = 3
    options: dict[str, Any] = field(default_factory=dict)  # engine-specific (sampler, storage...)

    def estimator_kwargs(self) -> dict[str, Any]:
        """Estimator parameters shared by every trial of this search."""
        from tuner.estimator import estimator_params

        return {
            "task": self.dataset.task,
            "metric": self.metric.name,
            "epochs": self.epochs,
            "patience": self.patience,
            "steps_per_execution": STEPS_PER_EXECUTION,
            **estimator_params(self.space.fixed),
        }

    def trial_target(self, name: str, **tags: str) -> RunTarget:
        """Where a trial of this search logs: a child of the search run."""
        return self.search_run.child(name, "trial", self.search_run.parent_run_id, **tags)


# Batches per call into the compiled graph: cuts Python overhead for small MLPs
# (see benchmarks/trial_overhead.py).
STEPS_PER_EXECUTION = 8


@dataclass
class TrialRecord:
    number: int
    state: str  # complete | pruned | failed
    value: float | None  # the search metric on validation data (CV mean for random)
    params: dict[str, Any]
    run_id: str | None = None
    duration_s: float | None = None
    reason: str = ""


@dataclass
class EngineResult:
    trials: list[TrialRecord]
    best: TrialRecord
    info: dict[str, Any] = field(default_factory=dict)  # e.g. the study name, for resuming
