"""What the worker fork server imports once for every worker it forks (:mod:`tuner.processes.fork_server`).

Imports only: TensorFlow, Keras and the libraries a trial uses. Nothing here starts
TensorFlow's runtime, its thread pools or a GPU; each worker does that after the fork
(:mod:`tuner.processes.tensorflow_env`), which is what makes forking from here safe. Not skops (the model
folder's, a slow import): the workers wait for these imports before their first trial, and
only the one worker that refits needs it, at the end.
"""

from __future__ import annotations

import os

from tuner.processes.quiet import quiet_stderr_fd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

with quiet_stderr_fd():  # TensorFlow's C++ start-up notices
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

import mlflow  # noqa: E402, F401
import optuna  # noqa: E402, F401
import scikeras.wrappers  # noqa: E402, F401
import sklearn.compose  # noqa: E402, F401
