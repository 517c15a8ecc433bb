"""Which names a space may use for which network, and the checks tuner makes of the values it knows.

Every space here is a real file; ``model:`` in the file and the override (``--model``) both decide.
"""

from __future__ import annotations

import math

import pytest

from tuner.choices import RESERVED_PARAMS as RESERVED
from tuner.errors import TunerError
from tuner.param_checks import BOUNDS, TUNABLE, Bounds, check_value, exponent_hint
from tuner.space import load_space

USER = "net.py:build"


def test_the_reserved_names_are_the_datas_and_the_fast_steps():
    assert RESERVED == ("task", "input_shape", "n_outputs", "steps_per_execution")


def test_a_users_network_may_use_any_names_and_values(space_file):
    space = load_space(
        space_file(
            f"model: {USER}\nparams:\n"
            "  filters: {type: categorical, choices: [8, 16]}\n"
            "  n_hidden: {type: categorical, choices: [two, three]}\n"  # the mlp's name, the user's meaning
            "  block: {type: categorical, choices: [res, plain]}\n"
            "  scale: -3.5\n"
        )
    )
    assert space.model == USER
    assert set(space.params) == {"filters", "n_hidden", "block"} and space.fixed == {"scale": -3.5}


def test_the_override_decides_the_names_over_the_files_model(space_file):
    path = space_file("model: mlp\nparams:\n  filters: {type: categorical, choices: [8, 16]}\n")
    with pytest.raises(TunerError, match="params.filters: not a parameter of the mlp network"):
        load_space(path)
    assert load_space(path, "cnn").model == "cnn"
    assert load_space(path, USER).params["filters"].choices == (8, 16)


@pytest.mark.parametrize("name", RESERVED)
@pytest.mark.parametrize("model", ["mlp", "cnn", USER])
def test_a_reserved_name_is_refused_for_every_network(space_file, name, model):
    path = space_file(f"model: {model}\nparams:\n  n_neurons: {{type: int, low: 1, high: 3}}\n  {name}: 2\n")
    with pytest.raises(TunerError) as err:
        load_space(path)
    assert str(err.value) == (
        f"{path}: params.{name}: {name} is reserved: tuner passes task, input_shape, n_outputs to the "
        f"network from the data (and sets steps_per_execution itself); remove it from the space"
    )


def test_the_mlp_refuses_a_name_it_does_not_take_and_lists_its_own(space_file):
    path = space_file("params:\n  n_layers: {type: int, low: 0, high: 3}\n")
    with pytest.raises(TunerError) as err:
        load_space(path)
    assert str(err.value) == (
        f"{path}: params.n_layers: not a parameter of the mlp network; allowed: {', '.join(TUNABLE)} "
        f"(another network takes other names: set model: in the space, or --model)"
    )


@pytest.mark.parametrize(
    ("model", "param", "message"),
    [
        (USER, "learning_rate: 0", "params.learning_rate: value 0 is out of range: learning_rate must be > 0"),
        (USER, "optimizer: adamx", "params.optimizer: unknown optimizer 'adamx'; allowed: sgd,"),
        (USER, "batch_size: {type: float, low: 1, high: 8}", "batch_size takes a int, so type float does not fit"),
        ("cnn", "momentum: 1.5", "params.momentum: value 1.5 is out of range: momentum must be in [0, 1]"),
        ("wide_deep", "n_hidden: {type: int, low: -1, high: 2}", "low -1 is out of range: n_hidden must be >= 0"),
        ("wide_deep", "activation: relux", "params.activation: unknown activation 'relux'"),
        (USER, "scale: .inf", "params.scale: expected a finite number, got inf"),
    ],
)  # fmt: skip
def test_the_values_tuner_uses_are_checked_for_every_network(space_file, model, param, message):
    path = space_file(f"model: {model}\nparams:\n  width: {{type: int, low: 1, high: 3}}\n  {param}\n")
    with pytest.raises(TunerError) as err:
        load_space(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


@pytest.mark.parametrize("model", ["3", "''", "[cnn]"])
def test_a_model_that_is_not_a_name_is_refused(space_file, model):
    with pytest.raises(TunerError, match="model: expected a name: mlp, wide_deep, cnn, file.py:function"):
        load_space(space_file(f"model: {model}\nparams:\n  n_hidden: {{type: int, low: 1, high: 2}}\n"))


def test_bounds_admit_and_describe_their_values():
    assert BOUNDS["dropout"].admits(0.0) and not BOUNDS["dropout"].admits(1.0)
    assert BOUNDS["dropout"].describe() == "in [0, 1)"
    assert not BOUNDS["learning_rate"].admits(0) and BOUNDS["learning_rate"].describe() == "> 0"
    assert Bounds(1).admits(math.inf) and Bounds(1).describe() == ">= 1"


def test_a_yaml_exponent_without_a_dot_gets_its_spelling():
    assert exponent_hint("1e-3") == "; YAML reads 1e-3 as text: write 1.0e-3"
    assert exponent_hint("5E4") == "; YAML reads 5E4 as text: write 5.0e+4"
    assert exponent_hint("relu") == exponent_hint(0.001) == ""


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("n_hidden", True, "expected a number, got True"),
        ("n_hidden", 1.5, "expected an integer, got 1.5; write a whole number"),
        ("activation", "relux", "unknown activation 'relux'; allowed: relu,"),
        ("dropout", math.nan, "expected a finite number, got nan"),
        ("learning_rate", "1e-3", "YAML reads 1e-3 as text: write 1.0e-3"),
    ],
)
def test_a_fixed_value_of_a_known_name_is_checked(name, value, message):
    with pytest.raises(TunerError) as err:
        check_value("s.yaml", f"params.{name}", name, value)
    assert str(err.value).startswith(f"s.yaml: params.{name}: ") and message in str(err.value)
