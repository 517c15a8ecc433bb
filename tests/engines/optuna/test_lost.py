"""Lost trials: a running trial no worker claimed is failed once the storage's retry budget passed."""

from __future__ import annotations

import datetime as dt

import optuna

from tuner.engines.optuna.lost import UNCLAIMED_REASON, fail_trials_of_gone_workers
from tuner.engines.optuna.record import REASON_ATTR
from tuner.engines.optuna.retrying import RETRY_ENV

State = optuna.trial.TrialState


def test_a_trial_no_worker_claimed_is_lost_once_the_storage_retry_budget_has_passed(monkeypatch):
    """Its creator lost the storage between creating it and naming itself on it."""
    monkeypatch.setenv(RETRY_ENV, "20")
    study = optuna.create_study()
    now = dt.datetime.now()
    for started in (now - dt.timedelta(seconds=21), now - dt.timedelta(seconds=5)):
        trial = optuna.trial.create_trial(state=State.RUNNING)
        trial.datetime_start = started
        study.add_trial(trial)
    assert fail_trials_of_gone_workers(study) == [0]
    assert [t.state for t in study.trials] == [State.FAIL, State.RUNNING]
    assert study.trials[0].user_attrs[REASON_ATTR] == UNCLAIMED_REASON
