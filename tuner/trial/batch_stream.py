"""The training rows as Keras reads them in a fit: an endless, reshuffled stream of batches."""

from __future__ import annotations

from typing import Any

import numpy as np

from tuner.processes.tensorflow_env import tf

# Training rows up to this size stream from a TensorFlow copy, shuffled row by row: the
# fastest steps. Larger tables shuffle their row numbers and gather each batch from NumPy:
# the copy and the shuffle buffer would each hold the whole table again (benchmarks/scale.py
# measures a worker's peak memory and speed both ways).
COPY_LIMIT_BYTES = 64 * 2**20


def training_data(X: np.ndarray, y: np.ndarray, sample_weight: Any, batch_size: int) -> Any:
    """The training rows as an endless stream of batches, reshuffled every epoch.

    With ``steps_per_epoch`` given, Keras keeps one iterator over it for the whole
    fit; over plain arrays it builds a new input pipeline every epoch, which for a
    small model costs about as much as the epoch itself.
    """
    arrays = tuple(np.asarray(a) for a in ((X, y) if sample_weight is None else (X, y, sample_weight)))
    if sum(a.nbytes for a in arrays) < COPY_LIMIT_BYTES:
        return tf.data.Dataset.from_tensor_slices(arrays).shuffle(len(X)).batch(batch_size).repeat()
    order = tf.data.Dataset.range(len(X)).shuffle(len(X)).batch(batch_size).repeat()
    types = tuple(tf.as_dtype(a.dtype) for a in arrays)

    def gather(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(a[batch] for a in arrays)

    def batch_of(batch: Any) -> tuple[Any, ...]:
        rows = tf.numpy_function(gather, [batch], types, stateful=False)
        for tensor, array in zip(rows, arrays, strict=True):
            tensor.set_shape([None, *array.shape[1:]])
        return tuple(rows)

    return order.map(batch_of).prefetch(2)
