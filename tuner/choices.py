"""Names users may write in search spaces and on the command line.

Kept apart from ``tuner.trial.network`` and the engines so that checking a space file, a config or CLI flags
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
# The factories live with their engines (tuner.engines, tuner.engines.optuna.factories); a test
# checks that these names and theirs are the same.
ENGINES = ("optuna", "random")
SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc")
PRUNERS = ("hyperband", "median", "successive-halving", "none")
# The shipped networks (tuner.networks.reference.FAMILIES builds them; a test checks the names agree).
MODELS = ("mlp", "wide_deep", "cnn")
