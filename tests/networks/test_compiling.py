"""How tuner compiles every network: each optimizer by name, each task's loss, metrics and output layer."""

from __future__ import annotations

import numpy as np
import pytest

from tuner import output_layer
from tuner.choices import OPTIMIZERS as OPTIMIZER_NAMES
from tuner.choices import TASKS
from tuner.errors import TunerError
from tuner.networks.compiling import OPTIMIZERS, compile_model, output_units
from tuner.processes.tensorflow_env import keras

# name -> (Keras class, momentum, nesterov); None: the class has no momentum
EXPECTED = {
    "sgd": ("SGD", 0.0, False),
    "momentum": ("SGD", 0.7, False),
    "nesterov": ("SGD", 0.7, True),
    "adagrad": ("Adagrad", None, None),
    "adadelta": ("Adadelta", None, None),
    "rmsprop": ("RMSprop", None, None),
    "adam": ("Adam", None, None),
    "adamax": ("Adamax", None, None),
    "nadam": ("Nadam", None, None),
    "adamw": ("AdamW", None, None),
    "lion": ("Lion", None, None),
}


def tiny(task: str = "multiclass", n_outputs: int = 3) -> keras.Model:
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, output_layer(task, n_outputs)(keras.layers.Dense(5)(inputs)))


def test_every_optimizer_name_is_compiled_and_expected():
    assert set(OPTIMIZERS) == set(OPTIMIZER_NAMES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_optimizer_is_built_with_its_learning_rate_and_momentum(name):
    model = compile_model(
        tiny(), "multiclass", optimizer=name.upper(), learning_rate=np.float64(0.02), momentum=0.7
    )
    cls, momentum, nesterov = EXPECTED[name]
    optimizer = model.optimizer
    assert type(optimizer).__name__ == cls
    assert float(optimizer.learning_rate) == pytest.approx(0.02)
    if momentum is not None:
        assert (optimizer.momentum, optimizer.nesterov) == (momentum, nesterov)
    assert optimizer.built  # its slots made before the first fit, not inside the traced step


@pytest.mark.parametrize(
    ("task", "loss", "expected"),
    [
        ("regression", None, "mse"),
        ("regression", "MAE", "mae"),
        ("regression", "huber", "huber"),
        ("binary", None, "binary_crossentropy"),
        ("multiclass", None, "sparse_categorical_crossentropy"),
        ("multilabel", None, "binary_crossentropy"),
    ],
)
def test_each_task_trains_on_its_loss(task, loss, expected):
    n_outputs = 1 if task == "binary" else 3
    assert compile_model(tiny(task, n_outputs), task, loss=loss).loss == expected


@pytest.mark.parametrize(
    ("task", "metrics"),
    [("regression", ["mse", "mae"]), ("binary", ["accuracy"]), ("multiclass", ["accuracy"])],
)
def test_each_task_has_its_metrics_and_a_compiled_model_trains(task, metrics):
    n_outputs = 1 if task == "binary" else 3
    model = compile_model(tiny(task, n_outputs), task, learning_rate=0.05, steps_per_execution=2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 3)) if task == "regression" else (X[:, 0] > 0).astype("int64")
    history = model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert sorted(m for m in history.history if m != "loss") == sorted(metrics)
    assert np.isfinite(history.history["loss"]).all()
    assert model.steps_per_execution == 2


@pytest.mark.parametrize(
    ("task", "n_outputs", "units", "activation"),
    [
        ("regression", 2, 2, "linear"),
        ("binary", 1, 1, "sigmoid"),
        ("binary", 2, 1, "sigmoid"),  # one unit, whatever the count of classes
        ("multiclass", 10, 10, "softmax"),
        ("multilabel", 4, 4, "sigmoid"),
    ],
)
def test_the_output_layer_fits_the_task(task, n_outputs, units, activation):
    layer = output_layer(task, n_outputs)
    assert (layer.units, layer.activation.__name__, layer.name) == (units, activation, "output")
    assert output_units(task, n_outputs) == units


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "adamx"}, "unknown optimizer 'adamx'; choose one of: sgd, momentum,"),
        ({"learning_rate": 0}, "learning_rate must be a positive number, got 0.0"),
        ({"learning_rate": -1e-3}, "learning_rate must be a positive number, got -0.001"),
        ({"learning_rate": float("inf")}, "learning_rate must be a positive number, got inf"),
        ({"loss": "mae"}, "loss='mae' is only for regression; multiclass uses its own loss"),
    ],
)
def test_a_setting_tuner_cannot_compile_with_is_refused(kwargs, message):
    with pytest.raises(TunerError) as err:
        compile_model(tiny(), "multiclass", **kwargs)
    assert message in str(err.value)


def test_an_unknown_task_or_regression_loss_is_refused():
    with pytest.raises(TunerError, match="unknown task 'ranking'; choose one of: " + ", ".join(TASKS)):
        compile_model(tiny(), "ranking")
    with pytest.raises(TunerError, match="unknown regression loss 'rmse'; choose one of: mse, mae, huber"):
        compile_model(tiny("regression"), "regression", loss="rmse")
