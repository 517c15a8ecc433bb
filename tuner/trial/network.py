"""The model factory: a few hyperparameters in, a compiled Keras MLP out.

``build_model`` knows nothing of scikit-learn, Optuna or MLflow, so it can be used
on its own (``from tuner import build_model``) and tested in isolation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from tuner.choices import ACTIVATIONS, REGRESSION_LOSSES, TASKS
from tuner.choices import OPTIMIZERS as OPTIMIZER_NAMES
from tuner.errors import TunerError
from tuner.processes.tensorflow_env import keras


def _sgd(lr: float, momentum: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(learning_rate=lr)


def _momentum(lr: float, momentum: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(learning_rate=lr, momentum=momentum)


def _nesterov(lr: float, momentum: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(learning_rate=lr, momentum=momentum, nesterov=True)


def _without_momentum(cls: type) -> Callable[[float, float], keras.optimizers.Optimizer]:
    def make(lr: float, momentum: float) -> keras.optimizers.Optimizer:
        return cls(learning_rate=lr)

    return make


OPTIMIZERS: dict[str, Callable[[float, float], keras.optimizers.Optimizer]] = {
    "sgd": _sgd,
    "momentum": _momentum,
    "nesterov": _nesterov,
    "adagrad": _without_momentum(keras.optimizers.Adagrad),
    "adadelta": _without_momentum(keras.optimizers.Adadelta),
    "rmsprop": _without_momentum(keras.optimizers.RMSprop),
    "adam": _without_momentum(keras.optimizers.Adam),
    "adamax": _without_momentum(keras.optimizers.Adamax),
    "nadam": _without_momentum(keras.optimizers.Nadam),
    "adamw": _without_momentum(keras.optimizers.AdamW),
    "lion": _without_momentum(keras.optimizers.Lion),
}


def _choice(kind: str, value: object, allowed: Sequence[str]) -> str:
    name = str(value).lower()
    if name not in allowed:
        raise TunerError(f"unknown {kind} {value!r}; choose one of: {', '.join(allowed)}")
    return name


def task_metrics(task: str) -> list[keras.metrics.Metric]:
    """Fresh copies of the metrics a model for ``task`` is compiled with."""
    if task == "regression":
        return [keras.metrics.MeanSquaredError(name="mse"), keras.metrics.MeanAbsoluteError(name="mae")]
    if task == "multiclass":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    return [keras.metrics.BinaryAccuracy(name="accuracy")]  # binary and multilabel


def _output_and_loss(task: str, loss: str | None) -> tuple[str, str]:
    """The output activation and loss each task needs."""
    if task == "regression":
        return "linear", _choice("regression loss", loss or "mse", REGRESSION_LOSSES)
    if loss is not None:
        raise TunerError(f"loss={loss!r} is only for regression; {task} uses its own loss")
    if task == "multiclass":
        return "softmax", "sparse_categorical_crossentropy"
    return "sigmoid", "binary_crossentropy"  # binary (one unit) and multilabel (one unit per label)


def build_model(
    n_hidden: int = 1,
    n_neurons: int = 30,
    learning_rate: float = 3e-3,
    optimizer: str = "adam",
    *,
    task: str = "regression",
    input_shape: Sequence[int] = (8,),
    n_outputs: int = 1,
    activation: str = "relu",
    dropout: float = 0.0,
    loss: str | None = None,
    momentum: float = 0.9,
    steps_per_execution: int = 1,
) -> keras.Model:
    """Return a compiled MLP for ``task``.

    Args:
        n_hidden: number of hidden Dense layers (0 gives a linear / logistic model).
        n_neurons: units in each hidden layer.
        learning_rate: the optimizer's learning rate.
        optimizer: one of ``OPTIMIZERS`` (``momentum`` and ``nesterov`` are SGD variants).
        task: ``regression``, ``binary``, ``multiclass`` or ``multilabel``.
        input_shape: shape of one sample; inputs with more than one axis are flattened.
        n_outputs: regression targets, classes (multiclass) or labels (multilabel);
            binary always uses one sigmoid unit.
        activation: hidden-layer activation.
        dropout: dropout rate after each hidden layer (0 disables it).
        loss: regression loss (``mse``, ``mae`` or ``huber``); classification tasks
            always use cross-entropy.
        momentum: momentum of the ``momentum`` and ``nesterov`` optimizers.
        steps_per_execution: batches run per call into the compiled graph; more cuts
            Python overhead for small models.

    NumPy scalars are accepted for every argument (samplers produce them; Keras
    refuses ``np.int64`` layer sizes), so values are cast here, at the edge.
    """
    task = _choice("task", task, TASKS)
    n_hidden, n_neurons, n_outputs = int(n_hidden), int(n_neurons), int(n_outputs)
    learning_rate, dropout, momentum = float(learning_rate), float(dropout), float(momentum)
    optimizer = _choice("optimizer", optimizer, OPTIMIZER_NAMES)
    activation = _choice("activation", activation, ACTIVATIONS)
    if n_hidden < 0:
        raise TunerError(f"n_hidden must be >= 0, got {n_hidden}")
    if n_neurons < 1:
        raise TunerError(f"n_neurons must be >= 1, got {n_neurons}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise TunerError(f"learning_rate must be a positive number, got {learning_rate}")
    if not 0.0 <= dropout < 1.0:
        raise TunerError(f"dropout must be in [0, 1), got {dropout}")
    if n_outputs < 1:
        raise TunerError(f"n_outputs must be >= 1, got {n_outputs}")
    output_activation, loss_fn = _output_and_loss(task, loss)
    units = 1 if task == "binary" else n_outputs

    inputs = keras.Input(shape=tuple(int(d) for d in input_shape))
    x = keras.layers.Flatten()(inputs) if len(inputs.shape) > 2 else inputs
    for _ in range(n_hidden):
        x = keras.layers.Dense(n_neurons, activation=activation)(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(units, activation=output_activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate, momentum),
        loss=loss_fn,
        metrics=task_metrics(task),
        steps_per_execution=int(steps_per_execution),
    )
    # The optimizer's slots, created now rather than inside the first traced train step: a
    # tf.function that creates variables is traced twice, and that second trace was a large
    # part of every new model's first epoch (docs/performance.md).
    model.optimizer.build(model.trainable_variables)
    return model


# Below this many planned training steps (epochs x steps per epoch), Keras runs one step per
# call into the graph. Several steps per call trace a loop around the step (more tracing per
# new model) and save time on every step: benchmarks/steps_per_call.py measures both, and the
# loop pays from a few hundred steps; early stopping and pruning end many fits before their plan.
SHORT_FIT_STEPS = 300


def steps_per_call(steps_per_epoch: int, epochs: int) -> int:
    """Training steps per call into the compiled graph: one epoch's, unless the whole fit is short."""
    return 1 if steps_per_epoch * epochs < SHORT_FIT_STEPS else steps_per_epoch
