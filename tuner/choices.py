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
# The space's names tuner itself uses, whatever the network: it compiles with these ...
COMPILE_PARAMS = ("optimizer", "learning_rate", "momentum", "loss")
# ... and trains with these (routed to Keras' fit, not to the build function).
FIT_PARAMS = ("batch_size",)
# What tuner passes a build function from the data (when it asks for them); no space may name them.
DATA_ARGS = ("task", "input_shape", "n_outputs")
RESERVED_PARAMS = (*DATA_ARGS, "steps_per_execution")
# The shipped networks (tuner.networks.reference.FAMILIES builds them; a test checks the names agree).
MODELS = ("mlp", "wide_deep", "cnn")
