"""What a study holds, read for people: ``tuner study status`` and ``tuner study list``.

Kept apart from :mod:`tuner.jobs.cluster` so that these answer in about a second: they import
Optuna, never TensorFlow, scikit-learn or MLflow (a scheduler's user runs them in a loop).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import optuna

from tuner.engines.optuna.heartbeats import workers_seen
from tuner.engines.optuna.record import StudyRecord, is_tuners, settings_of, stored_result
from tuner.engines.optuna.storage import get_storage
from tuner.engines.optuna.study import load_study
from tuner.redact import redact

TrialState = optuna.trial.TrialState


def finished_count(study: optuna.Study) -> int:
    """Trials complete or pruned: what counts against the study's total."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def study_status(study_name: str, storage_url: str) -> dict[str, Any]:
    """Trials by state, the best so far, the budget left, the workers seen and the pace."""
    study = load_study(study_name, storage_url, heartbeat=False)
    attrs, trials = study.user_attrs, study.get_trials(deepcopy=False)
    counts = Counter(t.state for t in trials)
    finished = finished_count(study)
    settings = settings_of(attrs)
    total = settings.get("trials")
    best = None
    if counts[TrialState.COMPLETE]:
        best = {"trial": study.best_trial.number, "value": study.best_value, "params": study.best_params}
    ended = [t for t in trials if t.state.is_finished() and t.datetime_complete]
    starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start]
    last = (
        time.time()
        if counts[TrialState.RUNNING]
        else max((t.datetime_complete.timestamp() for t in ended), default=0)
    )
    minutes = (last - min(starts)) / 60 if starts else 0.0
    return {
        "study": study_name,
        "storage": redact(storage_url),
        "direction": study.direction.name.lower(),
        "metric": settings.get("metric"),
        "trials": {
            "running": counts[TrialState.RUNNING],
            "waiting": counts[TrialState.WAITING],
            "complete": counts[TrialState.COMPLETE],
            "pruned": counts[TrialState.PRUNED],
            "failed": counts[TrialState.FAIL],
        },
        "total": total,
        "budget_left": None if total is None else max(0, total - finished),
        "best": best,
        "workers": workers_seen(attrs),
        "trials_per_minute": round(finished / minutes, 2) if minutes > 0 else None,
        "finished": stored_result(attrs) is not None,
        "search_run_id": StudyRecord.read(study).parent_run_id if is_tuners(attrs) else None,
    }


def list_studies(storage_url: str) -> list[dict[str, Any]]:
    """Every study in the storage: name, direction, trials, best value, start, finished or not."""
    rows = []
    for summary in optuna.get_all_study_summaries(get_storage(storage_url), include_best_trial=True):
        rows.append(
            {
                "study": summary.study_name,
                "direction": summary.direction.name.lower(),
                "trials": summary.n_trials,
                "best": summary.best_trial.value if summary.best_trial else None,
                "started": summary.datetime_start.isoformat(timespec="seconds")
                if summary.datetime_start
                else None,
                "finished": stored_result(summary.user_attrs) is not None,
                "by_tuner": is_tuners(summary.user_attrs),
            }
        )
    return rows
