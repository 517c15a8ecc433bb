"""How the finish step's candidates are scored and chosen, directly: no training, no server.
(The finish run for real is in test_finish.py.)
"""

from __future__ import annotations

from tuner.search.finish import Candidate, candidates, choose
from tuner.search.outcomes import EngineResult, TrialRecord
from tuner.trial.metrics import get_metric

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
