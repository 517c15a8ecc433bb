"""A user's network file with a layer Keras does not ship (``Scale``, registered), and one without."""

from __future__ import annotations

from pathlib import Path

# Plain Keras, no tuner: the file must run where the model loads, tuner or not.
NET = """
import keras


@keras.saving.register_keras_serializable()
class Scale(keras.layers.Layer):
    def __init__(self, factor=0.5, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _head(x, n_hidden, n_neurons, n_outputs):
    for _ in range(n_hidden):
        x = keras.layers.Dense(n_neurons, activation="relu")(x)
    return keras.layers.Dense(n_outputs, activation="softmax")(x)


def build(n_hidden=1, n_neurons=8, *, input_shape, n_outputs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, _head(Scale()(inputs), n_hidden, n_neurons, n_outputs))


def build_plain(n_hidden=1, n_neurons=8, *, input_shape, n_outputs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, _head(inputs, n_hidden, n_neurons, n_outputs))
"""


def write_net(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(NET)
    return path
