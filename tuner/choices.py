"""Names users may write in search spaces and on the command line.

Kept apart from ``tuner.model`` so that checking a space file or parsing CLI flags
does not import TensorFlow.
"""

from __future__ import annotations

TASKS = ("regression", "binary", "multiclass", "multilabel")
OPTIMIZERS = (
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "adadelta",
    "rmsprop",
    "adam",
    "adamax",
    "nadam",
    "adamw",
    "lion",
)
ACTIVATIONS = ("relu", "sigmoid", "tanh", "selu", "elu", "gelu", "swish")
REGRESSION_LOSSES = ("mse", "mae", "huber")
