"""Import Keras once, quietly, on the TensorFlow backend.

TensorFlow's C++ runtime prints start-up chatter (oneDNN, missing CUDA drivers)
straight to file descriptor 2 before its own log settings apply, so
``TF_CPP_MIN_LOG_LEVEL`` alone cannot hide it. We silence fd 2 for the duration of
the import only; a failing import still raises its Python exception as usual.
Modules that need Keras import it from here, and modules that don't (the CLI's
``--help``) never pay for TensorFlow.
"""

from __future__ import annotations

import os

from tuner.processes.gpus import THREADS_ENV, claim_gpu
from tuner.processes.quiet import quiet_stderr_fd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Threads TensorFlow may use in this process: worker processes set it (tuner.processes.pool)
# so that parallel trials share the cores instead of fighting over them. Unset: TensorFlow's default.


claim_gpu()  # a worker process started by tuner sees one GPU of its machine's, round robin
with quiet_stderr_fd():
    import keras
    import tensorflow as tf

    if os.environ.get(THREADS_ENV):
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ[THREADS_ENV]))
        tf.config.threading.set_inter_op_parallelism_threads(int(os.environ[THREADS_ENV]))
    for gpu in tf.config.list_physical_devices("GPU"):  # several small trials may share one GPU
        tf.config.experimental.set_memory_growth(gpu, True)
    tf.constant(0)  # device discovery prints too; get it over with here
    tf.get_logger().setLevel("ERROR")  # e.g. retracing notices: every trial builds a new model

__all__ = ["keras", "tf"]
