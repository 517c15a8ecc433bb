"""How tuner compiles every network: the space's optimizer and learning rate, the task's loss and metrics.

Kept apart from the build functions so that a user's network and a shipped one train
alike: the same loss (the validation loss EarlyStopping and pruning watch), the same
metrics, the same fast steps and the optimizer built before the first fit.
"""

from __future__ import annotations

from collections.abc import Callable

from tuner.choices import OPTIMIZERS as OPTIMIZER_NAMES
from tuner.choices import REGRESSION_LOSSES, TASKS
from tuner.errors import TunerError
from tuner.processes.tensorflow_env import keras

DEFAULTS = {"optimizer": "adam", "learning_rate": 3e-3, "momentum": 0.9, "loss": None}


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


def choice(kind: str, value: object, allowed: tuple[str, ...] | list[str]) -> str:
    """``value`` as one of ``allowed`` names (any case), or a TunerError listing them."""
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


def output_units(task: str, n_outputs: int) -> int:
    """Units of the output layer: one for binary, else one per target, class or label."""
    return 1 if task == "binary" else int(n_outputs)


def output_activation(task: str) -> str:
    """What the output layer ends in: the task's loss expects it (regression targets are standardized)."""
    return {"regression": "linear", "multiclass": "softmax"}.get(task, "sigmoid")


def output_layer(task: str, n_outputs: int, name: str = "output") -> keras.layers.Dense:
    """The output layer a network for ``task`` ends with: its units and activation, as tuner's loss expects."""
    return keras.layers.Dense(output_units(task, n_outputs), activation=output_activation(task), name=name)


def task_loss(task: str, loss: str | None) -> str:
    """The loss each task trains on; only regression lets the space choose (mse, mae, huber)."""
    if task == "regression":
        return choice("regression loss", loss or "mse", REGRESSION_LOSSES)
    if loss is not None:
        raise TunerError(f"loss={loss!r} is only for regression; {task} uses its own loss")
    if task == "multiclass":
        return "sparse_categorical_crossentropy"
    return "binary_crossentropy"  # binary (one unit) and multilabel (one unit per label)


def compile_model(
    model: keras.Model,
    task: str,
    *,
    optimizer: str = "adam",
    learning_rate: float = 3e-3,
    momentum: float = 0.9,
    loss: str | None = None,
    steps_per_execution: int = 1,
) -> keras.Model:
    """Compile ``model`` for ``task`` with the named optimizer; NumPy scalars are cast here, at the edge."""
    choice("task", task, TASKS)
    learning_rate = float(learning_rate)
    if not learning_rate > 0 or learning_rate == float("inf"):
        raise TunerError(f"learning_rate must be a positive number, got {learning_rate}")
    model.compile(
        optimizer=OPTIMIZERS[choice("optimizer", optimizer, OPTIMIZER_NAMES)](learning_rate, float(momentum)),
        loss=task_loss(task, loss),
        metrics=task_metrics(task),
        steps_per_execution=int(steps_per_execution),
    )
    # The optimizer's slots, created now rather than inside the first traced train step: a
    # tf.function that creates variables is traced twice, and that second trace was a large
    # part of every new model's first epoch (docs/performance.md).
    model.optimizer.build(model.trainable_variables)
    return model
