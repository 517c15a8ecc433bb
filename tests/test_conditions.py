"""Conditional parameters: ``when:`` parsed and checked, then honoured by both engines and the first build.

Spaces are real files, sampled by a real Optuna study and a real scikit-learn ParameterSampler.
"""

from __future__ import annotations

from collections import Counter

import optuna
import pytest
from sklearn.model_selection import ParameterSampler

from tuner.conditions import describe_when, holds
from tuner.errors import TunerError
from tuner.space import load_space

OPTIMIZERS = ("adam", "momentum", "nesterov")
MOMENTUM = (
    "params:\n"
    "  optimizer: {type: categorical, choices: [adam, momentum, nesterov]}\n"
    "  momentum: {type: float, low: 0.5, high: 0.9, when: {optimizer: [momentum, nesterov]}}\n"
    "  n_hidden: {type: int, low: 1, high: 3}\n"
)
# A chain: depth exists for one kind, width for one depth; width must vanish with depth.
CHAIN = (
    "model: net.py:build\n"
    "params:\n"
    "  width: {type: int, low: 2, high: 4, when: {depth: [2]}}\n"  # declared before its parent
    "  kind: {type: categorical, choices: [plain, deep]}\n"
    "  depth: {type: int, low: 1, high: 2, when: {kind: deep}}\n"
)


def optuna_samples(space, n: int = 150) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: len(space.suggest(trial)), n_trials=n)
    return [t.params for t in study.trials]


def sklearn_samples(space, n: int = 300) -> list[dict]:
    return list(ParameterSampler(space.to_distributions(), n_iter=n, random_state=0))


def test_momentum_is_drawn_only_with_the_optimizers_that_use_it(space_file):
    space = load_space(space_file(MOMENTUM))
    for samples in (optuna_samples(space), sklearn_samples(space)):
        for s in samples:
            assert ("momentum" in s) == (s["optimizer"] in ("momentum", "nesterov")), s
            assert "n_hidden" in s and (0.5 <= s["momentum"] <= 0.9 if "momentum" in s else True)
        drawn = Counter(s["optimizer"] for s in samples)
        assert set(drawn) == set(OPTIMIZERS)  # every value of the parent is still drawn ...
        assert min(drawn.values()) > len(samples) / 5  # ... about as often as the others


def test_random_search_gets_one_grid_per_value_of_the_parent(space_file):
    grids = load_space(space_file(MOMENTUM)).to_distributions()
    assert isinstance(grids, list) and [g["optimizer"] for g in grids] == [[o] for o in OPTIMIZERS]
    assert [sorted(g) for g in grids] == [
        ["n_hidden", "optimizer"],
        ["momentum", "n_hidden", "optimizer"],
        ["momentum", "n_hidden", "optimizer"],
    ]


def test_a_chain_of_conditions_is_followed_to_its_end(space_file):
    space = load_space(space_file(CHAIN))
    assert space.order() == ["kind", "depth", "width"]
    for samples in (optuna_samples(space), sklearn_samples(space)):
        for s in samples:
            assert ("depth" in s) == (s["kind"] == "deep"), s
            assert ("width" in s) == (s.get("depth") == 2), s  # never without its parent
        assert {tuple(sorted(s)) for s in samples} == {
            ("kind",),
            ("depth", "kind"),
            ("depth", "kind", "width"),
        }


def test_the_first_values_follow_the_conditions(space_file):
    assert load_space(space_file(MOMENTUM)).first_values() == {"optimizer": "adam", "n_hidden": 1}
    first = load_space(
        space_file(MOMENTUM.replace("[adam, momentum, nesterov]", "[nesterov, adam, momentum]"))
    )
    assert first.first_values() == {"optimizer": "nesterov", "momentum": 0.5, "n_hidden": 1}
    chain = CHAIN.replace("[plain, deep]", "[deep, plain]").replace("low: 1, high: 2", "low: 2, high: 3")
    assert load_space(space_file(chain + "  colour: red\n")).first_values() == {
        "colour": "red",
        "kind": "deep",
        "depth": 2,
        "width": 2,
    }


def test_an_int_parent_and_a_single_value_are_taken(space_file):
    space = load_space(space_file(CHAIN))
    assert space.params["depth"].when == (("kind", ("deep",)),)
    assert space.params["width"].when == (("depth", (2,)),)
    assert dict(space.rows())["width"] == "int [2, 4], when depth in [2]"


def test_holds_needs_every_parent_to_have_drawn_a_named_value():
    when = (("optimizer", ("nesterov",)), ("n_hidden", (1, 2)))
    assert holds(when, {"optimizer": "nesterov", "n_hidden": 2})
    assert not holds(when, {"optimizer": "nesterov", "n_hidden": 3})
    assert not holds(when, {"n_hidden": 1})  # a parent that was not drawn
    assert holds((), {})
    assert describe_when(when) == ", when optimizer in ['nesterov'] and n_hidden in [1, 2]"


BAD_WHEN = [
    pytest.param(
        "  momentum: {type: float, low: 0.5, high: 0.9, when: {optimiser: [nesterov]}}\n",
        "params.momentum.when.optimiser: 'optimiser' is not a searched parameter of this space; known: "
        "optimizer, n_hidden, momentum",
        id="unknown-parent",
    ),
    pytest.param(
        "  momentum: {type: float, low: 0.5, high: 0.9, when: {optimizer: [nesterov, adamw]}}\n",
        "params.momentum.when.optimizer: optimizer never draws 'adamw'; it draws adam, momentum, nesterov",
        id="value-never-drawn",
    ),
    pytest.param(
        "  dropout: {type: float, low: 0.0, high: 0.5}\n"
        "  momentum: {type: float, low: 0.5, high: 0.9, when: {dropout: [0.1]}}\n",
        "params.momentum.when.dropout: dropout is a float; a condition needs a categorical or int parameter",
        id="float-parent",
    ),
    pytest.param(
        "  momentum: {type: float, low: 0.5, high: 0.9, when: {optimizer: []}}\n",
        "params.momentum.when.optimizer: give at least one value",
        id="empty-list",
    ),
    pytest.param(
        "  momentum: {type: float, low: 0.5, high: 0.9, when: {}}\n",
        "params.momentum.when: expected a mapping of parameter to its values",
        id="empty-mapping",
    ),
    pytest.param(
        "  momentum: {type: float, low: 0.5, high: 0.9, when: [optimizer]}\n",
        "params.momentum.when: expected a mapping of parameter to its values",
        id="a-list",
    ),
    pytest.param(
        "  activation: relu\n  momentum: {type: float, low: 0.5, high: 0.9, when: {activation: [relu]}}\n",
        "'activation' is not a searched parameter of this space",
        id="fixed-parent",
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD_WHEN)
def test_a_bad_condition_is_refused_with_its_key(space_file, extra, message):
    text = "params:\n  optimizer: {type: categorical, choices: [adam, momentum, nesterov]}\n"
    text += "  n_hidden: {type: int, low: 1, high: 3}\n" + extra
    path = space_file(text)
    with pytest.raises(TunerError) as err:
        load_space(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


@pytest.mark.parametrize(
    ("a", "b", "c", "circle"),
    [
        ("{b: [1]}", "{a: [1]}", "", "a -> b -> a"),
        ("{a: [1]}", "", "", "a -> a"),
        ("{b: [1]}", "{c: [1]}", "{a: [1]}", "a -> b -> c -> a"),
        ("{c: [1], b: [1]}", "{a: [1]}", "", "a -> b -> a"),  # through its second parent
    ],
)
def test_a_circular_condition_is_refused(space_file, a, b, c, circle):
    def param(when: str) -> str:
        return "{type: categorical, choices: [1, 2]" + (f", when: {when}" if when else "") + "}"

    text = f"model: net.py:build\nparams:\n  a: {param(a)}\n  b: {param(b)}\n  c: {param(c)}\n"
    with pytest.raises(TunerError) as err:
        load_space(space_file(text))
    assert str(err.value).endswith(f"params.a.when: circular condition: {circle}")


def test_conditions_on_too_many_values_are_refused_since_the_random_engine_needs_a_grid_each(space_file):
    path = space_file(
        "model: net.py:build\nparams:\n  width: {type: int, low: 1, high: 2000}\n"
        "  extra: {type: int, low: 1, high: 3, when: {width: [5]}}\n"
    )
    with pytest.raises(TunerError, match="give 2000 combinations .*at most 1000"):
        load_space(path)
