"""Search-space files: shipped ones load, bad ones fail clearly, both engines agree."""

from __future__ import annotations

import optuna
import pytest
from sklearn.model_selection import ParameterSampler

from tuner.errors import TunerError
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
    for sample in scikit_samples + optuna_samples:
        assert set(sample) == set(space.params)
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "params:\n  n_hidden: {type: integer, low: 0, high: 3}\n",
            r"params.n_hidden: unknown type 'integer'; allowed: int, float, categorical",
        ),
        ("params:\n  n_hidden: {type: int, low: 5, high: 3}\n", r"params.n_hidden: low \(5\) > high \(3\)"),
        (
            "params:\n  learning_rate: {type: float, low: 0, high: 0.1, log: true}\n",
            r"params.learning_rate: log scale needs low > 0",
        ),
        (
            "params:\n  n_layers: {type: int, low: 0, high: 3}\n",
            r"params.n_layers: not a parameter of build_model; allowed: n_hidden",
        ),
        (
            "params:\n  optimizer: {type: categorical, choices: []}\n",
            r"params.optimizer: 'choices' must be a non-empty list",
        ),
        (
            "params:\n  optimizer: {type: categorical, choices: [adam, adamx]}\n",
            r"params.optimizer.choices\[1\]: unknown optimizer 'adamx'",
        ),
        ("params:\n  n_hidden: {type: int, low: 0}\n", r"params.n_hidden: missing 'high'"),
        ("params:\n  n_hidden: {type: int, low: 0.5, high: 3}\n", r"'low' must be an integer"),
        (
            "params:\n  learning_rate: {type: int, low: 1, high: 3}\n",
            r"learning_rate takes a float, so type int does not fit",
        ),
        (
            "params:\n  n_neurons: {type: int, low: 1, high: 9, log: true, step: 2}\n",
            r"'step' cannot be combined with log",
        ),
        (
            "params:\n  n_hidden: {type: int, low: 0, high: 3, scale: log}\n",
            r"unknown field\(s\) scale for type int",
        ),
        ("params:\n  optimizer: adam\n", r"every parameter is fixed"),
        ("params: {}\n", r"params: must be a non-empty mapping"),
        ("space:\n  n_hidden: 1\n", r"space: unknown top-level key"),
        ("params: [\n", r"not valid YAML at line"),
        ("- a list\n", r"expected a mapping"),
    ],
)
def test_bad_files_fail_on_load_with_file_key_and_what_is_allowed(space_file, text, message):
    path = space_file(text)
    with pytest.raises(TunerError, match=message) as excinfo:
        load_space(path)
    assert str(path) in str(excinfo.value)


def test_missing_file():
    with pytest.raises(TunerError, match="search space file not found: nope.yaml"):
        load_space("nope.yaml")
