"""What a search's trials leave behind, as every engine reports them and every view reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrialRecord:
    number: int
    state: str  # complete | pruned | failed (tuner.tracking's state names)
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
