"""The private Optuna names tuner relies on still exist and still work: each test fails when
Optuna moves, renames or re-signs what ``tuner._compat.optuna`` reaches into.
"""

from __future__ import annotations

import inspect
import re

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from tuner._compat.optuna import RDB_PRIVATE_CALLS, fail_trial, study_storage, trial_id

# Optuna


@pytest.fixture(params=["in-memory", "journal", "sqlite"])
def study(request, tmp_path):
    storage = {
        "in-memory": None,
        "journal": optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna.journal"))
        ),
        "sqlite": f"sqlite:///{tmp_path / 'optuna.db'}",
    }[request.param]
    return optuna.create_study(storage=storage)


def test_fail_trial_fails_another_process_running_trial_with_its_attrs(study):
    study.ask()
    running = study.get_trials(deepcopy=False)[0]
    assert running.state == TrialState.RUNNING
    fail_trial(study, running, {"tuner.reason": "worker died (signal 9)"})
    failed = study.get_trials()[0]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs == {"tuner.reason": "worker died (signal 9)"}
    with pytest.raises(UpdateFinishedTrialError):  # another process failed it first
        fail_trial(study, failed, {"tuner.reason": "again"})
    assert study.get_trials()[0].user_attrs == {"tuner.reason": "worker died (signal 9)"}


def test_fail_trial_refuses_a_trial_that_ended(study):
    study.tell(study.ask(), 1.0)
    complete = study.get_trials()[0]
    with pytest.raises(UpdateFinishedTrialError):
        fail_trial(study, complete, {})
    assert study.get_trials()[0].state == TrialState.COMPLETE


def test_a_study_storage_and_trial_ids_are_where_we_look(study):
    study.ask()
    study.ask()
    storage = study_storage(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    for trial in study.get_trials():
        assert storage.get_trial(trial_id(trial)).number == trial.number


@pytest.mark.parametrize("name", RDB_PRIVATE_CALLS)
def test_the_private_rdb_calls_we_retry_exist(name):
    assert callable(getattr(optuna.storages.RDBStorage, name, None)), f"Optuna's RDBStorage has no {name}"


def test_every_private_call_optunas_cache_makes_to_an_rdb_storage_is_retried():
    """A new one would reach the database unretried through the cache in front of every RDB storage."""
    from optuna.storages._cached_storage import _CachedStorage

    called = set(re.findall(r"self\._backend\.(_\w+)\(", inspect.getsource(_CachedStorage)))
    assert called and called <= set(RDB_PRIVATE_CALLS), called - set(RDB_PRIVATE_CALLS)
