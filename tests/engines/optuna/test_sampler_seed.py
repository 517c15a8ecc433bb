"""How a study's sampler is seeded: a new study keeps the seed, a joined one never replays it.
(Resumed studies for real are in test_study.py.)
"""

from __future__ import annotations

import optuna

from tuner.engines.optuna.study import sampler_seed

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
