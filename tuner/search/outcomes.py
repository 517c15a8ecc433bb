"""What a search's trials leave behind, as every engine reports them and every view reads them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrialRecord:
    number: int
    state: str  # complete | pruned | failed (tuner.tracking.runs' state names)
    value: float | None  # the search metric on validation data (CV mean for random)
    params: dict[str, Any]
    run_id: str | None = None
    duration_s: float | None = None
    reason: str = ""
    best_epoch: int | None = None
    timing: dict[str, float] = field(default_factory=dict)  # where the trial's time went
    intermediate: dict[int, float] = field(default_factory=dict)  # epoch -> value the pruner saw


@dataclass
class EngineResult:
    trials: list[TrialRecord]
    best: TrialRecord
    study: str | None = None  # an Optuna study, for adding trials later
    storage: str | None = None


@dataclass
class SearchResult:
    name: str
    engine: str
    metric: str
    direction: str
    best_params: dict[str, Any]
    best_value: float
    test_score: float | None
    trials: list[Any]
    search_run_id: str
    model_run_id: str  # the run of the returned model (best parameters, refitted)
    model_uri: str
    tracking_uri: str
    experiment_id: str
    duration_s: float
    study: str | None = None
    storage: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    best_trial: int | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    trained_on: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    workers: int = 1
    registration: dict[str, Any] | None = None  # with --register: the version, and whether it is champion

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
