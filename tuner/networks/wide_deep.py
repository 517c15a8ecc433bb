"""The wide & deep network of *Hands-On ML* ch. 10 (Cheng et al., 2016), in Keras' functional API.

A deep path of Dense layers and a wide path of the raw inputs, concatenated before the
output: the network can learn deep patterns and simple rules at once. For tables only.
"""

from __future__ import annotations

from collections.abc import Sequence

from tuner.choices import ACTIVATIONS
from tuner.errors import TunerError
from tuner.networks.compiling import choice, output_layer
from tuner.processes.tensorflow_env import keras


def build_wide_deep(
    n_hidden: int = 2,
    n_neurons: int = 30,
    activation: str = "relu",
    dropout: float = 0.0,
    *,
    task: str,
    input_shape: Sequence[int],
    n_outputs: int,
) -> keras.Model:
    """``n_hidden`` Dense layers of ``n_neurons`` on the deep path; the inputs themselves on the wide one."""
    if len(input_shape) != 1:
        raise TunerError(
            f"wide_deep needs a table of features, and this data is images of shape {tuple(input_shape)}: "
            f"use --model cnn (or mlp, which flattens them)"
        )
    n_hidden, n_neurons, dropout = int(n_hidden), int(n_neurons), float(dropout)
    if n_hidden < 1:
        raise TunerError(f"n_hidden must be >= 1 (the deep path), got {n_hidden}")
    activation = choice("activation", activation, ACTIVATIONS)
    inputs = keras.Input(shape=(int(input_shape[0]),), name="features")
    deep = inputs
    for _ in range(n_hidden):
        deep = keras.layers.Dense(int(n_neurons), activation=activation)(deep)
        if dropout:
            deep = keras.layers.Dropout(dropout)(deep)
    wide_and_deep = keras.layers.Concatenate(name="wide_and_deep")([inputs, deep])
    return keras.Model(inputs, output_layer(task, n_outputs)(wide_and_deep))
