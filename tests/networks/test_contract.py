"""The contract between tuner and a build function: the signature against the space, and one real build.

The build functions are real model files written into the test's working folder
(``tests/helpers/model_files.py``), loaded as a search loads them.
"""

from __future__ import annotations

import sys

import model_files
import numpy as np
import pytest

from tuner.errors import TunerError
from tuner.networks.contract import (
    build_uncompiled,
    call_arguments,
    check_in_child,
    check_network,
    check_signature,
)
from tuner.networks.reference import ModelRef, _loaded, resolve

IRIS = {"task": "multiclass", "input_shape": (4,), "n_outputs": 3}
REF = ModelRef("net.py:build")


def model_file(text: str) -> ModelRef:
    with open("net.py", "w") as f:  # the working folder is the test's own tmp_path
        f.write(text)
    return resolve("net.py:build")


def needs_width(width, depth=2, *, task, input_shape, n_outputs):
    return width


def takes_anything(width, **kwargs):
    return kwargs


# --- the signature --------------------------------------------------------------------------


def test_a_required_parameter_the_space_lacks_is_refused():
    with pytest.raises(TunerError) as err:
        check_signature(REF, needs_width, ["depth", "learning_rate"], "space.yaml")
    assert str(err.value) == (
        "net.py:build requires width, which space.yaml neither samples nor fixes: add params.width "
        "to the space, or give the function a default"
    )


def test_a_sampled_name_the_function_does_not_take_is_refused():
    with pytest.raises(TunerError) as err:
        check_signature(REF, needs_width, ["width", "height"], "space.yaml")
    assert str(err.value) == (
        "space.yaml: params.height: net.py:build takes no parameter 'height' (it takes: depth, width); "
        "remove it from the space or add it to the function"
    )


def test_the_names_tuner_compiles_and_trains_with_need_not_be_taken():
    check_signature(REF, needs_width, ["width", "learning_rate", "optimizer", "batch_size"], "s.yaml")


def test_keyword_arguments_accept_any_name():
    check_signature(REF, takes_anything, ["width", "height", "colour"], "space.yaml")
    with pytest.raises(TunerError, match="requires width"):
        check_signature(REF, takes_anything, ["height"], "space.yaml")


def test_positional_only_parameters_are_refused():
    def positional(width, /, depth):
        return width

    with pytest.raises(TunerError, match="parameter\\(s\\) width are positional-only; tuner passes names"):
        check_signature(REF, positional, ["width", "depth"], "space.yaml")


def test_the_datas_facts_are_passed_only_when_asked_for():
    params = {"width": np.int64(4), "learning_rate": 0.01, "batch_size": 32}

    def asks_for_task(width, *, task):
        return width

    assert call_arguments(asks_for_task, params, IRIS) == {"width": 4, "task": "multiclass"}
    assert call_arguments(needs_width, params, IRIS) == {"width": 4, **IRIS}
    # **kwargs takes the space's own names, not tuner's, and none of the data's facts
    assert call_arguments(takes_anything, {**params, "colour": "red"}, IRIS) == {"width": 4, "colour": "red"}
    assert type(call_arguments(needs_width, params, IRIS)["width"]) is int  # Keras refuses np.int64


# --- one build ------------------------------------------------------------------------------


def test_a_good_function_builds_the_model_it_returns():
    model = build_uncompiled(model_file(model_files.GOOD), {"width": 5, "learning_rate": 0.1}, IRIS)
    assert model.output_shape == (None, 3)
    assert [layer.units for layer in model.layers[1:]] == [5, 3]
    check_network(model_file(model_files.GOOD), {"width": 5}, ["width"], "space.yaml", IRIS)


def test_a_function_that_raises_shows_its_message_and_what_it_was_called_with():
    with pytest.raises(TunerError) as err:
        build_uncompiled(model_file(model_files.RAISES), {"width": 5, "optimizer": "adam"}, IRIS)
    assert str(err.value) == (
        "net.py:build raised ValueError: width 5 is too odd (called with width=5, task='multiclass')"
    )


def test_a_function_that_returns_no_model_is_refused():
    with pytest.raises(TunerError) as err:
        build_uncompiled(model_file(model_files.NOT_A_MODEL), {"width": 5}, IRIS)
    assert str(err.value).startswith("net.py:build returned a dict, not a Keras model: return keras.Model(")


def test_an_output_of_the_wrong_shape_says_the_right_one():
    with pytest.raises(TunerError) as err:
        build_uncompiled(model_file(model_files.WRONG_SHAPE), {"width": 5}, IRIS)
    assert str(err.value) == (
        "net.py:build returned outputs of shape (None, 7); a multiclass task needs (None, 3), 3 units, "
        "one per class: end with tuner.output_layer(task, n_outputs), a Dense(3, activation='softmax')"
    )
    binary = {"task": "binary", "input_shape": (4,), "n_outputs": 1}
    with pytest.raises(TunerError, match=r"a binary task needs \(None, 1\), one unit: .*'sigmoid'"):
        build_uncompiled(model_file(model_files.WRONG_SHAPE), {"width": 5}, binary)


def test_a_multiclass_output_that_is_not_probabilities_is_refused():
    ref = model_file(model_files.NO_SOFTMAX)
    build_uncompiled(ref, {"width": 5}, IRIS)  # the shape fits
    with pytest.raises(TunerError) as err:
        check_network(ref, {"width": 5}, ["width"], "space.yaml", IRIS)
    assert str(err.value) == (
        "net.py:build: the outputs are not probabilities, as a multiclass task's loss needs: end with "
        "activation='softmax' (tuner.output_layer(task, n_outputs) does)"
    )
    regression = {"task": "regression", "input_shape": (4,), "n_outputs": 3}
    check_network(ref, {"width": 5}, ["width"], "space.yaml", regression)  # any number will do


def test_a_lambda_layer_is_refused():
    with pytest.raises(TunerError) as err:
        check_network(model_file(model_files.LAMBDA), {"width": 5}, ["width"], "space.yaml", IRIS)
    assert str(err.value).startswith("net.py:build: layer 'doubler' is a Lambda layer")
    assert "@keras.saving.register_keras_serializable()" in str(err.value)


def test_an_unregistered_custom_layer_is_refused_and_a_registered_one_accepted():
    with pytest.raises(TunerError) as err:
        check_network(model_file(model_files.UNREGISTERED_LAYER), {"width": 5}, ["width"], "s.yaml", IRIS)
    assert str(err.value) == (
        "net.py:build: layer class Doubler is not registered with Keras, so the returned model could not "
        "be loaded: decorate it with @keras.saving.register_keras_serializable()"
    )
    check_network(model_file(model_files.REGISTERED_LAYER), {"width": 5}, ["width"], "s.yaml", IRIS)


def test_the_signature_is_checked_before_the_function_runs():
    with pytest.raises(TunerError, match="requires width"):  # not the ValueError a call raises
        check_network(model_file(model_files.RAISES), {}, [], "space.yaml", IRIS)


# --- in a process of its own ----------------------------------------------------------------


@pytest.mark.slow  # a process of its own, with TensorFlow
def test_the_check_in_a_child_raises_its_error_here_and_runs_no_user_code_here(tmp_path):
    counter = tmp_path / "runs.txt"
    (tmp_path / "net.py").write_text(model_files.counting(str(counter)))
    good = resolve("net.py:build")
    check_in_child(good, {"width": 3}, ["width"], "space.yaml", IRIS)
    assert counter.read_text() == "ran\n"  # the child ran the file ...
    assert (good.spec, good.sha256) not in _loaded  # ... and this process never did
    assert f"tuner_model_net_{good.sha256[:12]}" not in sys.modules

    with pytest.raises(TunerError) as err:
        check_in_child(model_file(model_files.WRONG_SHAPE), {"width": 3}, ["width"], "space.yaml", IRIS)
    assert str(err.value).startswith("net.py:build returned outputs of shape (None, 7); a multiclass task")


def test_a_parameter_sampled_only_under_a_condition_needs_a_default_in_the_function(tmp_path):
    (tmp_path / "deep.py").write_text(
        "def build(units_1, units_2, *, task, input_shape, n_outputs):\n    pass\n"
    )
    ref = resolve(str(tmp_path / "deep.py") + ":build")
    with pytest.raises(
        TunerError, match=r"params.units_2 is sampled only under its when: .* give units_2 a default"
    ):
        check_signature(ref, ref.load(), ["units_1", "units_2"], "s.yaml", conditional=("units_2",))
    check_signature(ref, ref.load(), ["units_1", "units_2"], "s.yaml")  # both always drawn: fine
