"""build_model: every task, every optimizer, NumPy scalars, shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest

from tuner import build_model
from tuner.choices import OPTIMIZERS as OPTIMIZER_NAMES
from tuner.errors import TunerError
from tuner.networks.compiling import OPTIMIZERS
from tuner.trial.estimator import make_estimator

pytestmark = pytest.mark.slow  # real Keras training


def _data(task: str, n: int = 64, features: int = 5, outputs: int = 3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, features)).astype("float32")
    if task == "regression":
        return X, X[:, :1] * 2.0 + 1.0
    if task == "binary":
        return X, (X[:, 0] > 0).astype("float32")
    if task == "multiclass":
        return X, rng.integers(0, outputs, size=n)
    return X, (rng.random((n, outputs)) > 0.5).astype("float32")


@pytest.mark.parametrize(
    ("task", "activation", "loss"),
    [
        ("regression", "linear", "mse"),
        ("binary", "sigmoid", "binary_crossentropy"),
        ("multiclass", "softmax", "sparse_categorical_crossentropy"),
        ("multilabel", "sigmoid", "binary_crossentropy"),
    ],
)
def test_each_task_gets_its_output_layer_and_loss_and_trains(task, activation, loss):
    outputs = 1 if task in ("regression", "binary") else 3
    model = build_model(2, 8, 1e-2, "adam", task=task, input_shape=(5,), n_outputs=outputs)
    assert model.layers[-1].activation.__name__ == activation
    assert model.loss == loss
    assert model.output_shape == (None, outputs)
    X, y = _data(task)
    history = model.fit(X, y, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regression_losses(loss):
    model = build_model(1, 4, 1e-2, "sgd", task="regression", loss=loss)
    assert model.loss == loss


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_builds_and_trains_one_epoch(optimizer):
    model = build_model(1, 8, 1e-2, optimizer, task="multiclass", input_shape=(5,), n_outputs=3)
    X, y = _data("multiclass")
    model.fit(X, y, epochs=1, verbose=0)
    assert np.isfinite(model.evaluate(X, y, verbose=0)[0])


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_new_model_traces_its_train_step_once(optimizer):
    # Python runs train_step only while tracing it. Optimizer slots created inside the first
    # trace made TensorFlow trace it twice: half of every trial's first epoch.
    model = build_model(2, 8, 1e-2, optimizer, task="multiclass", input_shape=(5,), n_outputs=3)
    traces, train_step = [], model.train_step

    def counted(data):
        traces.append(1)
        return train_step(data)

    model.train_step = counted
    X, y = _data("multiclass")
    model.fit(X, y, batch_size=16, epochs=2, verbose=0)
    assert len(traces) == 1


@pytest.mark.parametrize(("rows", "epochs", "per_call"), [(100, 5, 1), (2000, 10, 63)])
def test_a_short_fit_runs_a_step_per_call_and_a_longer_one_an_epoch_per_call(rows, epochs, per_call):
    # 4 steps x 5 epochs: a loop over the steps would cost more to trace than it saves;
    # 63 steps (2000 rows at batch 32) x 10 epochs: one call per epoch.
    X, y = _data("binary", n=rows)
    estimator = make_estimator("binary", epochs=epochs, patience=None, validation_fraction=0.0)
    estimator.fit(X, y)
    assert estimator.model_.steps_per_execution == per_call
    assert len(estimator.history_["loss"]) == epochs


def test_optimizer_variants_are_configured():
    assert build_model(optimizer="momentum").optimizer.momentum == pytest.approx(0.9)
    assert build_model(optimizer="nesterov").optimizer.nesterov is True
    assert build_model(optimizer="sgd").optimizer.momentum == 0.0


def test_the_name_lists_match_the_factory():
    assert set(OPTIMIZERS) == set(OPTIMIZER_NAMES)


def test_numpy_scalars_are_accepted():
    model = build_model(np.int64(2), np.int64(37), np.float64(3e-3), np.str_("adam"), input_shape=(4,))
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [37, 37, 1]
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-3)


def test_zero_hidden_layers_is_a_linear_model():
    model = build_model(0, 10, 1e-3, input_shape=(4,))
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [1]


def test_images_are_flattened_and_dropout_added():
    model = build_model(1, 16, 1e-3, "adam", task="multiclass", input_shape=(8, 8), n_outputs=10, dropout=0.2)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Flatten", "Dense", "Dropout", "Dense"]
    X = np.random.default_rng(0).random((16, 8, 8)).astype("float32")
    assert model.predict(X, verbose=0).shape == (16, 10)


def test_hidden_activation_is_selectable():
    model = build_model(1, 4, activation="selu")
    assert model.layers[1].activation.__name__ == "selu"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "adamx"}, "unknown optimizer 'adamx'; choose one of: sgd"),
        ({"activation": "softplus2"}, "unknown activation"),
        ({"task": "ranking"}, "unknown task"),
        ({"n_neurons": 0}, "n_neurons must be >= 1"),
        ({"n_hidden": -1}, "n_hidden must be >= 0"),
        ({"learning_rate": 0.0}, "learning_rate must be a positive number"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"task": "binary", "loss": "mse"}, "only for regression"),
        ({"loss": "hinge"}, "unknown regression loss"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(TunerError, match=message):
        build_model(**kwargs)


def test_pickled_models_load_their_keras_part_in_safe_mode():
    """The logged best model is a pickle whose Keras model travels as a ``.keras`` archive
    (scikeras' pickling): it must load in Keras' safe mode, which refuses Python code in it."""
    import cloudpickle

    import tuner.trial.estimator  # noqa: F401 - scikeras' pickling of Keras models, as the model logging uses it
    from tuner.processes.tensorflow_env import keras

    model = build_model(1, 4, 1e-2, "adam", task="binary", input_shape=(5,))
    X, _ = _data("binary")
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    assert np.allclose(restored.predict(X, verbose=0), model.predict(X, verbose=0))

    inputs = keras.Input((5,))
    carrying_code = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    with pytest.raises(ValueError, match="safe_mode=False"):
        cloudpickle.loads(cloudpickle.dumps(carrying_code))
