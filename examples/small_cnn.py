"""A small CNN for 8x8 digit images: tuner passes the sampled values and the data's shape."""

import keras

import tuner


def build_cnn(filters=16, kernel_size=3, dense_units=64, dropout=0.2, *, task, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)  # (8, 8): one channel
    x = keras.layers.Reshape((*input_shape, 1))(inputs)
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    outputs = tuner.output_layer(task, n_outputs)(x)  # softmax over the 10 digits
    return keras.Model(inputs, outputs)  # uncompiled: tuner compiles it
