"""The wide & deep network: its two paths, the output per task, tables only, and it learns."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tuner.errors import TunerError
from tuner.networks.reference import ModelRef
from tuner.networks.wide_deep import build_wide_deep
from tuner.trial.network import build_network


@pytest.mark.parametrize(
    ("task", "n_outputs", "units"),
    [("regression", 2, 2), ("binary", 1, 1), ("multiclass", 3, 3), ("multilabel", 4, 4)],
)
def test_each_task_gets_its_output_shape(task, n_outputs, units):
    model = build_wide_deep(n_hidden=2, n_neurons=6, task=task, input_shape=(5,), n_outputs=n_outputs)
    assert model.output_shape == (None, units)
    dense = [layer for layer in model.layers if layer.name != "output" and hasattr(layer, "units")]
    assert [layer.units for layer in dense] == [6, 6]
    # the wide path: the 5 raw features beside the deep path's 6
    assert model.get_layer("wide_and_deep").output.shape[1:] == (5 + 6,)


def test_numpy_values_and_dropout_are_taken():
    model = build_wide_deep(
        np.int64(1), np.int64(3), "elu", np.float64(0.25), task="binary", input_shape=(2,), n_outputs=1
    )
    assert [type(layer).__name__ for layer in model.layers].count("Dropout") == 1


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 3)])
def test_images_are_refused_with_the_network_that_takes_them(shape):
    with pytest.raises(TunerError) as err:
        build_wide_deep(task="multiclass", input_shape=shape, n_outputs=10)
    assert str(err.value) == (
        f"wide_deep needs a table of features, and this data is images of shape {shape}: use --model cnn "
        f"(or mlp, which flattens them)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_hidden": 0}, "n_hidden must be >= 1 (the deep path), got 0"),
        ({"activation": "relux"}, "unknown activation 'relux'; choose one of: relu,"),
    ],
)
def test_values_it_cannot_build_are_refused(kwargs, message):
    with pytest.raises(TunerError, match=re.escape(message)):
        build_wide_deep(**kwargs, task="binary", input_shape=(3,), n_outputs=1)


@pytest.mark.slow  # real Keras training
def test_it_trains_as_every_network_does():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 4)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype("int64") + (X[:, 2] > 1)
    params = {"n_hidden": 1, "n_neurons": 8, "learning_rate": 0.03, "optimizer": "adam"}
    model = build_network(ModelRef("wide_deep"), params, task="multiclass", input_shape=(4,), n_outputs=3)
    history = model.fit(X, y, epochs=4, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(X[:3], verbose=0).sum(axis=1) == pytest.approx([1, 1, 1], abs=1e-5)
