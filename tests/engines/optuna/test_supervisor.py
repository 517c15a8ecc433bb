"""When a streak of failures stops a search: the failures at the end, interruptions aside."""

from __future__ import annotations

import datetime as dt

import optuna
import pytest

from tuner.engines.optuna.record import REASON_ATTR
from tuner.engines.optuna.supervisor import _check_failures, _failure_streak
from tuner.errors import TunerError
from tuner.interrupts import INTERRUPTED

State = optuna.trial.TrialState


# --- failure streaks ----------------------------------------------------------------------------


def _ended(number: int, state: State, reason: str = "", minute: int = 0) -> optuna.trial.FrozenTrial:
    start = dt.datetime(2026, 1, 1)
    return optuna.trial.FrozenTrial(
        number, state, 0.5 if state == State.COMPLETE else None, start,
        start + dt.timedelta(minutes=minute or number), {}, {},
        {REASON_ATTR: reason} if reason else {}, {}, {}, number,
    )  # fmt: skip


def test_the_streak_is_the_failures_at_the_end_in_the_order_they_ended_interruptions_aside():
    trials = [
        _ended(0, State.FAIL, "first, before a success"),
        _ended(1, State.COMPLETE),
        _ended(3, State.FAIL, "ended first", minute=2),
        _ended(2, State.FAIL, INTERRUPTED, minute=3),
        _ended(4, State.FAIL, "ended last", minute=4),
    ]
    assert [t.number for t in _failure_streak(trials)] == [3, 4]
    _check_failures(trials, 3)  # two in a row: goes on
    _check_failures(trials, 0)  # 0: never stops
    with pytest.raises(TunerError, match=r"^2 trials in a row failed, .* the first, trial 3: ended first\."):
        _check_failures(trials, 2)
