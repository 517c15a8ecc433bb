"""The rules that decide the product's behaviour, tested directly: fast, no training, no server.

Which settings may differ on a resume and on `study create` again, when a worker counts
as lost, when a streak of failures stops a search, how candidates are scored and chosen,
how passwords are kept out of what we show, and how a joined study's sampler is seeded.
Studies and trials are Optuna's own in-memory ones (``create_trial``).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import socket
import time
from dataclasses import replace

import optuna
import pytest

from tuner.choices import ENGINES, PRUNERS, SAMPLERS
from tuner.config import SearchConfig, launch_settings, resumable_settings
from tuner.engines import ENGINE_CLASSES
from tuner.engines.optuna import factories
from tuner.engines.optuna.lost import UNCLAIMED_REASON, fail_trials_of_gone_workers
from tuner.engines.optuna.record import FORMAT, FORMAT_ATTR, REASON_ATTR, StudyRecord
from tuner.engines.optuna.retrying import RETRY_ENV
from tuner.engines.optuna.study import sampler_seed
from tuner.engines.optuna.supervisor import _check_failures, _failure_streak
from tuner.engines.optuna.worker_registry import worker_gone, workers_seen
from tuner.errors import TunerError
from tuner.finish import Candidate, candidates, choose
from tuner.interrupts import INTERRUPTED
from tuner.metrics import get_metric
from tuner.records import EngineResult, TrialRecord
from tuner.redact import password_of, redact, scrub
from tuner.space import load_space
from tuner.tracking import RunTarget, parse_worker_id, worker_id

State = optuna.trial.TrialState
SPACE = load_space("mlp_quick")


def _record(config: SearchConfig) -> StudyRecord:
    run = RunTarget("sqlite:///x.db", "1", "parent", "", "search", "parent")
    return StudyRecord.new(config, SPACE, "fp", run, local=False)


# --- which settings may differ ------------------------------------------------------------------


def test_a_resume_may_change_the_budget_and_the_finish_but_not_what_a_trial_is():
    recorded = _record(SearchConfig(study="s"))
    changed = SearchConfig(study="s", resume=True, trials=99, n_jobs=3, recheck=1, max_failures=0)
    assert recorded.differences(changed, SPACE, "fp", resumable_settings()) == []
    for field, value in {"epochs": 5, "seed": 1, "patience": 2, "sampler": "random", "metric": "mse"}.items():
        found = recorded.differences(replace(changed, **{field: value}), SPACE, "fp", resumable_settings())
        assert len(found) == 1 and found[0].startswith(f"{field} "), found


def test_study_create_again_may_change_only_what_belongs_to_one_launch():
    recorded = _record(SearchConfig(study="s", storage="postgresql://u:pw@h/db"))
    again = SearchConfig(study="s", storage="postgresql://other@h/db", n_jobs=4, tracking_uri="http://x:1")
    assert recorded.differences(again, SPACE, "fp", launch_settings()) == []
    more = replace(
        again, trials=99
    )  # the study's total is the study's: a resume may change it, create may not
    assert [d.split()[0] for d in recorded.differences(more, SPACE, "fp", launch_settings())] == ["trials"]
    assert set(launch_settings()) < set(resumable_settings())


def test_the_space_is_compared_by_its_text_and_the_data_by_its_fingerprint():
    recorded = _record(SearchConfig())
    other_space = load_space("mlp_regression")
    found = recorded.differences(
        SearchConfig(space="mlp_regression"), other_space, "fp2", resumable_settings()
    )
    assert found == [
        "the space ('mlp_quick' in the study)",
        "the data (fingerprint fp in the study, fp2 given)",
    ]


def test_a_setting_the_study_does_not_record_is_compared_with_its_default():
    recorded = _record(SearchConfig())
    older = replace(recorded, settings={k: v for k, v in recorded.settings.items() if k != "patience"})
    assert older.differences(SearchConfig(), SPACE, "fp", ()) == []
    assert older.differences(SearchConfig(patience=9), SPACE, "fp", ())[0].startswith("patience 5 (study)")


def test_the_record_round_trips_and_a_study_without_a_format_number_is_format_1():
    study = optuna.create_study()
    recorded = _record(SearchConfig(tracking_uri="http://u:secret@host:5000"))
    recorded.write(study)
    assert StudyRecord.read(study) == recorded and recorded.format == FORMAT
    assert "secret" not in str(study.user_attrs)
    legacy = optuna.create_study()  # what tuner wrote before the format was numbered
    for key, value in study.user_attrs.items():
        if key != FORMAT_ATTR:
            legacy.set_user_attr(key, value)
    assert StudyRecord.read(legacy).format == 1
    assert StudyRecord.read(legacy).config().epochs == SearchConfig().epochs


def test_a_study_tuner_did_not_create_is_refused_by_name():
    study = optuna.create_study(study_name="theirs")
    with pytest.raises(TunerError, match="study 'theirs' was not created by tuner"):
        StudyRecord.read(study)


# --- when a worker is lost ----------------------------------------------------------------------


def _dead_pid() -> int:
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    return process.pid


def test_a_worker_on_this_host_is_gone_when_its_process_is():
    assert worker_gone(worker_id(), None) is None
    host = socket.gethostname()
    assert worker_gone(f"{host}:{_dead_pid()}:1", None) == "died (its process is gone)"
    assert worker_gone(f"{host}:{_dead_pid()}", None) == "died (its process is gone)"  # ids before the start


def test_a_restarted_process_with_the_same_pid_is_not_the_worker_that_died():
    """In a container every restart is process 1: the start time tells them apart."""
    host, pid, started = parse_worker_id(worker_id())
    assert (host, pid) == (socket.gethostname(), os.getpid()) and started
    assert worker_gone(f"{host}:{pid}:{started}", None) is None
    assert worker_gone(f"{host}:{pid}:0", None) == "died (its process is gone)"


def test_a_worker_elsewhere_is_lost_after_three_silent_intervals_and_gone_once_exited():
    now = time.time()
    beating = {"state": "running", "heartbeat": now - 100, "interval": 60}
    silent = {"state": "running", "heartbeat": now - 181, "interval": 60}
    attrs = {"tuner.worker:far:1:a": beating, "tuner.worker:far:2:b": silent}
    attrs["tuner.worker:far:3:c"] = {"state": "exited", "heartbeat": now - 5, "interval": 60}
    seen = {w["id"]: w for w in workers_seen(attrs, now)}
    assert [seen[k]["state"] for k in ("far:1:a", "far:2:b", "far:3:c")] == ["running", "lost", "exited"]
    assert worker_gone("far:1:a", seen["far:1:a"]) is None
    assert worker_gone("far:2:b", seen["far:2:b"]).startswith("stopped sending heartbeats (last at ")
    assert worker_gone("far:3:c", seen["far:3:c"]) == "exited"
    assert worker_gone("far:4:d", None) is None  # no record yet: the benefit of the doubt


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


# --- candidates ---------------------------------------------------------------------------------


def _trial(number: int, state: str, value: float | None, best_epoch: int | None = 3) -> TrialRecord:
    return TrialRecord(number, state, value, {"n": number}, best_epoch=best_epoch)


def test_candidates_are_the_best_complete_trials_in_the_metrics_direction():
    trials = [_trial(0, "complete", 0.8), _trial(1, "pruned", 0.99), _trial(2, "complete", 0.9)]
    trials += [_trial(3, "failed", None), _trial(4, "complete", 0.7, best_epoch=None)]
    outcome = EngineResult(trials, trials[2])
    accuracy, mse = get_metric("accuracy", "multiclass"), get_metric("mse", "regression")
    assert [c.number for c in candidates(outcome, accuracy, 2)] == [2, 0]
    assert [c.number for c in candidates(outcome, mse, 5)] == [4, 0, 2]
    assert candidates(outcome, mse, 5)[0].epochs == 1  # no best epoch recorded: trains one epoch
    assert [c.number for c in candidates(outcome, accuracy, 0)] == [2]  # at least the best


def test_the_choice_is_the_best_mean_over_folds_not_the_best_validation_score():
    lucky = Candidate(0, {}, 3, value=0.95, scores=[0.80, 0.82])
    steady = Candidate(1, {}, 3, value=0.90, scores=[0.88, 0.90])
    assert choose(get_metric("accuracy", "binary"), [lucky, steady]) is steady
    assert choose(get_metric("mse", "regression"), [lucky, steady]) is lucky
    unchecked = Candidate(2, {}, 3, value=0.5)
    assert unchecked.mean == 0.5 and unchecked.std == 0.0


# --- passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://tuner:s3cret@db:5432/t", "postgresql://tuner:***@db:5432/t"),
        ("postgresql+psycopg://u:p%40ss@db/t", "postgresql+psycopg://u:***@db/t"),
        ("http://user:pw@mlflow:5000", "http://user:***@mlflow:5000"),
        ("postgresql://tuner@db/t", "postgresql://tuner@db/t"),
        ("mlruns/optuna.journal", "mlruns/optuna.journal"),
    ],
)
def test_urls_are_shown_without_their_password(url, shown):
    assert redact(url) == shown


def test_a_message_quoting_a_password_raw_or_decoded_is_scrubbed():
    url = "postgresql://u:p%40ss@db:notaport/t"  # a malformed port: urlsplit fails, the pattern does not
    assert password_of(url) == "p%40ss"
    message = "FATAL: password authentication failed (p@ss) for postgresql://u:p%40ss@db/t"
    assert scrub(message, url) == "FATAL: password authentication failed (***) for postgresql://u:***@db/t"
    assert redact(None) is None and password_of("no-url") is None


# --- sampler seeds ------------------------------------------------------------------------------


def test_a_new_study_keeps_the_seed_and_a_joined_one_never_replays_it():
    study = optuna.create_study()
    assert sampler_seed(42, study) == 42  # --n-jobs 1 repeats a search exactly
    assert sampler_seed(42, study, unique=True) != 42  # cluster workers: each its own
    study.add_trial(optuna.trial.create_trial(value=1.0))
    resumed = sampler_seed(42, study)
    assert resumed != 42 and 0 <= resumed < 2**31
    study.add_trial(optuna.trial.create_trial(value=1.0))
    assert sampler_seed(42, study) != resumed  # a second resume, again its own


# --- names --------------------------------------------------------------------------------------


def test_the_names_users_may_write_are_the_factories_names():
    assert set(ENGINES) == set(ENGINE_CLASSES)
    assert set(SAMPLERS) == set(factories.SAMPLERS)
    assert set(PRUNERS) == set(factories.PRUNERS)
