"""The private Optuna names tuner relies on, kept together so they are easy to watch.

Each is checked by a test that fails when Optuna moves it (``tests/_compat/``).

* :func:`fail_trial` writes through the study's storage (``Study._storage``, a
  trial's ``_trial_id``): Optuna's public API changes a trial only in the process
  that runs it, and a lost trial must be failed by another one.
* :data:`RDB_PRIVATE_CALLS` are the storage methods Optuna's cache in front of an RDB
  storage calls directly; the retrying storage must wrap them as it wraps the public
  ones, or a database outage would reach a trial through them unretried.
"""

from __future__ import annotations

from typing import Any

import optuna

RDB_PRIVATE_CALLS = ("_create_new_trial", "_set_trial_param", "_get_best_trial_id", "_get_trials")
RDB_PRIVATE_CALLS += ("_get_stale_trial_ids",)  # heartbeat: which running trials stopped beating


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study object writes through."""
    return study._storage  # noqa: SLF001 - the one place


def trial_id(trial: optuna.trial.FrozenTrial) -> int:
    """A trial's id in its storage (its number counts within the study only)."""
    return trial._trial_id  # noqa: SLF001 - the one place


def fail_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, attrs: dict[str, Any]) -> None:
    """Mark another process's running trial failed, with ``attrs``; raises
    ``UpdateFinishedTrialError`` when it ended (or another process failed it first)."""
    storage, tid = study_storage(study), trial_id(trial)
    for key, value in attrs.items():
        storage.set_trial_user_attr(tid, key, value)
    storage.set_trial_state_values(tid, optuna.trial.TrialState.FAIL)
