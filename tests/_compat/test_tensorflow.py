"""The private TensorFlow APIs tuner relies on still exist and still do their job.

Each test fails when TensorFlow moves what ``tuner._compat.tensorflow`` reaches into.
"""

from __future__ import annotations

import numpy as np
import pytest

from tuner._compat.tensorflow import forget_custom_gradients, gradient_registry, restore_op_determinism
from tuner.trial.estimator import estimator_params, make_estimator

pytestmark = pytest.mark.slow  # real Keras training

X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = (X[:, 0] > 0).astype(int)


def _fit(**kwargs):
    values = {"n_hidden": 1, "n_neurons": 4, "optimizer": "adam", "batch_size": 32}
    return make_estimator("binary", epochs=1, **estimator_params(values), **kwargs).fit(X, y)


def test_the_gradient_registry_is_where_we_look_and_a_fit_fills_it():
    registry = gradient_registry()
    assert registry is not None, "TensorFlow moved ops._gradient_registry: memory will grow per trial"
    before = set(registry)
    from tuner.processes.tensorflow_env import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, y, epochs=1, verbose=0)
    added = [n for n in registry if n not in before]
    assert any(n.startswith("CustomGradient-") for n in added), "a traced train step no longer registers one"


def test_forget_custom_gradients_removes_what_a_fit_added():
    registry = gradient_registry()
    before = set(registry)
    with forget_custom_gradients():
        _fit(random_state=0)
    assert not [n for n in registry if n not in before and n.startswith("CustomGradient-")]


def test_a_seeded_fit_leaves_op_determinism_as_it_found_it():
    from tensorflow.python.framework import config

    assert not config.is_op_determinism_enabled()
    with restore_op_determinism():
        config.enable_op_determinism()  # what scikeras' seeding does
    assert not config.is_op_determinism_enabled()
    _fit(random_state=0)  # seeded: scikeras turns determinism on
    assert not config.is_op_determinism_enabled()
    _fit(random_state=None)  # and an unseeded fit afterwards still works
