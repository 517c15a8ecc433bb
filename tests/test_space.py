"""Search-space files: shipped ones load, both engines agree.

Bad space files (and every other bad input) are the catalogue in tests/e2e/test_bad_input.py.
"""

from __future__ import annotations

import optuna
import pytest
from sklearn.model_selection import ParameterSampler

from tuner.conditions import holds
from tuner.space import CategoricalParam, FloatParam, IntParam, load_space, shipped_spaces

BOOK_SPACE = "mlp_regression"


def test_shipped_spaces_load():
    names = {p.stem for p in shipped_spaces()}
    assert {"mlp_regression", "mlp_classification"} <= names
    for path in shipped_spaces():
        assert load_space(path).params


def test_the_books_space_is_shipped():
    space = load_space(BOOK_SPACE)
    assert space.params["n_hidden"] == IntParam(0, 3)
    assert space.params["n_neurons"] == IntParam(1, 100)
    assert space.params["learning_rate"] == FloatParam(3e-4, 3e-2, log=True)
    assert isinstance(space.params["optimizer"], CategoricalParam)


def _check_bounds(space, values):
    for name, value in values.items():
        spec = space.params[name]
        if isinstance(spec, CategoricalParam):
            assert value in spec.choices, (name, value)
        else:
            assert spec.low <= value <= spec.high, (name, value)
            if isinstance(spec, IntParam):
                assert float(value).is_integer() and (value - spec.low) % spec.step == 0


@pytest.mark.parametrize("path", shipped_spaces(), ids=lambda p: p.stem)
def test_both_engines_search_the_same_names_within_the_same_bounds(path):
    space = load_space(path)
    scikit_samples = list(ParameterSampler(space.to_distributions(), n_iter=200, random_state=0))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    optuna_samples = [space.suggest(study.ask()) for _ in range(200)]
    for sample in scikit_samples + optuna_samples:  # every parameter whose conditions hold, no other
        assert set(sample) == {name for name, p in space.params.items() if holds(p.when, sample)}
        _check_bounds(space, sample)
    # Log-scaled ranges: both engines put about half their draws below the geometric midpoint.
    lr = space.params["learning_rate"]
    midpoint = (lr.low * lr.high) ** 0.5
    for samples in (scikit_samples, optuna_samples):
        below = sum(s["learning_rate"] < midpoint for s in samples) / len(samples)
        assert 0.35 < below < 0.65


def test_int_log_and_step_are_honoured_by_both_engines(space_file):
    space = load_space(
        space_file(
            "params:\n"
            "  n_neurons: {type: int, low: 4, high: 512, log: true}\n"
            "  n_hidden: {type: int, low: 0, high: 6, step: 2}\n"
            "  dropout: {type: float, low: 0.0, high: 0.5, step: 0.25}\n"
        )
    )
    scikit = list(ParameterSampler(space.to_distributions(), n_iter=300, random_state=1))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    both = scikit + [space.suggest(study.ask()) for _ in range(300)]
    for sample in both:
        _check_bounds(space, sample)
        assert sample["n_hidden"] in (0, 2, 4, 6)
        assert sample["dropout"] in (0.0, 0.25, 0.5)
    assert sum(s["n_neurons"] < 45 for s in scikit) > 100  # log-uniform: most mass at the low end


def test_fixed_values_sit_beside_searched_ones(space_file):
    space = load_space(space_file("params:\n  n_hidden: {type: int, low: 1, high: 2}\n  optimizer: adam\n"))
    assert space.fixed == {"optimizer": "adam"}
    assert list(space.to_distributions()) == ["n_hidden"]
