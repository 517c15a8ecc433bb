"""The convolutional network: images of one or several channels, blocks and pooling, tables refused, it learns."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tuner.data.sources import read_data
from tuner.errors import TunerError
from tuner.networks.cnn import build_cnn
from tuner.networks.reference import ModelRef
from tuner.trial.network import build_network

SMALL = {"n_blocks": 2, "filters": 4, "dense_units": 8}


@pytest.mark.parametrize(
    ("task", "n_outputs", "units"),
    [("regression", 2, 2), ("binary", 1, 1), ("multiclass", 10, 10), ("multilabel", 3, 3)],
)
@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 3)], ids=["n-h-w", "n-h-w-c"])
def test_each_task_and_image_shape_gets_its_output(task, n_outputs, units, shape):
    model = build_cnn(**SMALL, task=task, input_shape=shape, n_outputs=n_outputs)
    assert model.input_shape == (None, *shape)
    assert model.output_shape == (None, units)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert ("Reshape" in kinds) == (len(shape) == 2)  # one channel added to (h, w) images
    out = model(np.zeros((2, *shape), dtype="float32"))
    assert tuple(out.shape) == (2, units)


def test_each_block_doubles_the_filters_and_halves_the_image_while_it_can():
    model = build_cnn(3, 4, 3, "average", 0, task="binary", input_shape=(5, 5), n_outputs=1)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [4, 4, 8, 8, 16, 16]
    pools = [layer for layer in model.layers if type(layer).__name__ == "AveragePooling2D"]
    assert [p.output.shape[1] for p in pools] == [2, 1]  # 5 -> 2 -> 1; the third block keeps 1x1
    assert not [layer for layer in model.layers if type(layer).__name__ == "Dense" and layer.name != "output"]


def test_numpy_values_dropout_and_max_pooling():
    model = build_cnn(
        np.int64(1), np.int64(2), np.int64(3), "MAX", np.int64(6), np.float64(0.3),
        task="multiclass", input_shape=(6, 6, 1), n_outputs=4,
    )  # fmt: skip
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("MaxPooling2D") == 1 and kinds.count("Dropout") == 1 and kinds.count("Dense") == 2


@pytest.mark.parametrize("shape", [(4,), (64,)])
def test_a_table_is_refused_with_the_networks_that_take_it(shape):
    with pytest.raises(TunerError) as err:
        build_cnn(task="multiclass", input_shape=shape, n_outputs=3)
    assert str(err.value) == (
        f"cnn needs images, arrays of shape (n, h, w) or (n, h, w, c), and this data is a table of "
        f"{shape[0]} features: use --model mlp or wide_deep (for the bundled digits as images: "
        f"--data digits-images)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pooling": "min"}, "unknown pooling 'min'; choose one of: max, average"),
        ({"activation": "relux"}, "unknown activation 'relux'; choose one of: relu,"),
    ],
)
def test_values_it_cannot_build_are_refused(kwargs, message):
    with pytest.raises(TunerError, match=re.escape(message)):
        build_cnn(**kwargs, task="binary", input_shape=(4, 4), n_outputs=1)


@pytest.mark.slow  # real Keras training
def test_it_learns_the_bundled_digits_as_images():
    import keras

    X, y = read_data("digits-images", None)
    assert X.shape[1:] == (8, 8) and X.dtype == np.float32 and 0 <= X.min() <= X.max() <= 1
    keras.utils.set_random_seed(0)  # the same start on every run: the check is of learning, not of luck
    params = {**SMALL, "filters": 8, "learning_rate": 0.01, "optimizer": "adam"}
    model = build_network(ModelRef("cnn"), params, task="multiclass", input_shape=(8, 8), n_outputs=10)
    history = model.fit(X[:1200], y[:1200], epochs=6, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    held_out = np.argmax(model.predict(X[1200:], verbose=0), axis=1)
    assert np.mean(held_out == y[1200:]) > 0.7  # ten classes: a tenth by chance
