"""A small convolutional network for images: blocks of convolutions and pooling, then a dense head.

Images come as arrays of shape ``(n, h, w)`` (one channel) or ``(n, h, w, c)``. Each
block doubles the filters of the one before and halves the image while it is at least
two pixels wide, so 8x8 digits and 28x28 MNIST take the same space.
"""

from __future__ import annotations

from collections.abc import Sequence

from tuner.choices import ACTIVATIONS
from tuner.errors import TunerError
from tuner.networks.compiling import choice, output_layer
from tuner.processes.tensorflow_env import keras

POOLING = {"max": keras.layers.MaxPooling2D, "average": keras.layers.AveragePooling2D}


def build_cnn(
    n_blocks: int = 2,
    filters: int = 32,
    kernel_size: int = 3,
    pooling: str = "max",
    dense_units: int = 64,
    dropout: float = 0.0,
    activation: str = "relu",
    *,
    task: str,
    input_shape: Sequence[int],
    n_outputs: int,
) -> keras.Model:
    """``n_blocks`` of two ``kernel_size`` convolutions (``filters``, doubled per block) and pooling;
    then ``dropout`` and a Dense head of ``dense_units`` (0: none) before the output."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) not in (2, 3):
        raise TunerError(
            f"cnn needs images, arrays of shape (n, h, w) or (n, h, w, c), and this data is a table of "
            f"{shape[0] if shape else 0} features: use --model mlp or wide_deep (for the bundled digits as "
            f"images: --data digits-images)"
        )
    activation = choice("activation", activation, ACTIVATIONS)
    pool = POOLING[choice("pooling", pooling, tuple(POOLING))]
    inputs = keras.Input(shape=shape)
    x = keras.layers.Reshape((*shape, 1))(inputs) if len(shape) == 2 else inputs
    for block in range(int(n_blocks)):
        for _ in range(2):
            x = keras.layers.Conv2D(
                int(filters) * 2**block, int(kernel_size), padding="same", activation=activation
            )(x)
        if min(x.shape[1], x.shape[2]) >= 2:
            x = pool(2)(x)
    x = keras.layers.Flatten()(x)
    if float(dropout):
        x = keras.layers.Dropout(float(dropout))(x)
    if int(dense_units):
        x = keras.layers.Dense(int(dense_units), activation=activation)(x)
    return keras.Model(inputs, output_layer(task, n_outputs)(x))
