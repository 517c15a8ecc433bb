"""A trial's network: the search's build function, called with the trial's values and compiled by tuner."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.networks.reference import ModelRef, resolve
from tuner.trial.network import SHORT_FIT_STEPS, build_network, steps_per_call

OWN = """
import keras


def build(width, *, input_shape, n_outputs, task):
    inputs = keras.Input(shape=input_shape)
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(hidden))
"""


def test_a_users_network_is_compiled_with_the_spaces_optimizer_and_the_tasks_loss(tmp_path):
    (tmp_path / "own.py").write_text(OWN)
    params = {"width": np.int64(7), "optimizer": "nesterov", "learning_rate": 0.05, "momentum": 0.8}
    model = build_network(
        resolve("own.py:build"),
        params,
        task="multiclass",
        input_shape=(4,),
        n_outputs=3,
        steps_per_execution=5,
    )
    assert model.layers[1].units == 7  # a NumPy integer reached Keras as Python's
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.nesterov
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert float(model.optimizer.momentum) == pytest.approx(0.8)
    assert model.loss == "sparse_categorical_crossentropy" and model.steps_per_execution == 5
    assert model.optimizer.built  # before the first fit: no second trace of the train step
    history = model.fit(np.random.rand(30, 4), np.arange(30) % 3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_the_mlp_is_the_default_network_and_takes_its_own_names():
    params = {"n_hidden": 2, "n_neurons": 5, "activation": "elu", "learning_rate": 0.01}
    model = build_network(ModelRef(), params, task="regression", input_shape=(3,), n_outputs=1)
    assert [layer.units for layer in model.layers[1:]] == [5, 5, 1]
    assert model.loss == "mse" and type(model.optimizer).__name__ == "Adam"


def test_a_short_fit_runs_one_step_per_call_and_a_long_one_an_epoch_per_call():
    assert steps_per_call(10, (SHORT_FIT_STEPS - 1) // 10) == 1
    assert steps_per_call(10, SHORT_FIT_STEPS // 10) == 10
