"""The multilayer perceptron of *Hands-On ML* ch. 10: the default network, and the first build function.

``build_mlp`` follows the contract every network follows (:mod:`tuner.networks`): the
hyperparameters in, what tuner knows of the data as keywords, an uncompiled model out.
``build_model`` is the book's recipe, compiled, for use on its own (``from tuner import build_model``).
"""

from __future__ import annotations

from collections.abc import Sequence

from tuner.choices import ACTIVATIONS
from tuner.errors import TunerError
from tuner.networks.compiling import choice, compile_model, output_layer
from tuner.processes.tensorflow_env import keras


def build_mlp(
    n_hidden: int = 1,
    n_neurons: int = 30,
    activation: str = "relu",
    dropout: float = 0.0,
    *,
    task: str,
    input_shape: Sequence[int],
    n_outputs: int,
) -> keras.Model:
    """``n_hidden`` Dense layers of ``n_neurons`` (0: a linear / logistic model); images are flattened.

    NumPy scalars are accepted (samplers produce them; Keras refuses ``np.int64`` layer
    sizes), so values are cast here, at the edge.
    """
    n_hidden, n_neurons, dropout = int(n_hidden), int(n_neurons), float(dropout)
    activation = choice("activation", activation, ACTIVATIONS)
    if n_hidden < 0:
        raise TunerError(f"n_hidden must be >= 0, got {n_hidden}")
    if n_neurons < 1:
        raise TunerError(f"n_neurons must be >= 1, got {n_neurons}")
    if not 0.0 <= dropout < 1.0:
        raise TunerError(f"dropout must be in [0, 1), got {dropout}")
    if int(n_outputs) < 1:
        raise TunerError(f"n_outputs must be >= 1, got {n_outputs}")
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape))
    x = keras.layers.Flatten()(inputs) if len(inputs.shape) > 2 else inputs
    for _ in range(n_hidden):
        x = keras.layers.Dense(n_neurons, activation=activation)(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, output_layer(task, n_outputs)(x))


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
        optimizer: one of :data:`tuner.choices.OPTIMIZERS` (``momentum`` and ``nesterov`` are SGD variants).
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
    """
    task = choice("task", task, ("regression", "binary", "multiclass", "multilabel"))
    model = build_mlp(
        n_hidden, n_neurons, activation, dropout, task=task, input_shape=input_shape, n_outputs=n_outputs
    )
    return compile_model(
        model,
        task,
        optimizer=optimizer,
        learning_rate=learning_rate,
        momentum=momentum,
        loss=loss,
        steps_per_execution=steps_per_execution,
    )
