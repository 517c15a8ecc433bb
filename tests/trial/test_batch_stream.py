"""The stream of training batches: every row once per epoch, reshuffled, from either source."""

from __future__ import annotations

import numpy as np
import pytest

import tuner.trial.batch_stream
from tuner.trial.batch_stream import training_data


@pytest.mark.parametrize(
    "limit", [2**30, 0], ids=["rows shuffled in TensorFlow", "row numbers shuffled, rows from NumPy"]
)
def test_each_epoch_gives_every_row_once_in_batches_reshuffled(monkeypatch, limit):
    monkeypatch.setattr(tuner.trial.batch_stream, "COPY_LIMIT_BYTES", limit)
    X = np.arange(300, dtype="float32").reshape(100, 3)
    y, weights = np.arange(100), np.linspace(0.5, 1.5, 100).astype("float32")
    stream = iter(training_data(X, y, weights, 32))
    orders = []
    for _ in range(2):  # epochs
        batches = [[t.numpy() for t in next(stream)] for _ in range(4)]
        assert [len(xb) for xb, _, _ in batches] == [32, 32, 32, 4]
        for xb, yb, wb in batches:  # each row whole, with its own target and weight
            np.testing.assert_array_equal(xb, X[yb])
            np.testing.assert_array_equal(wb, weights[yb])
        orders.append(np.concatenate([yb for _, yb, _ in batches]))
        assert sorted(orders[-1]) == list(range(100))
    assert list(orders[0]) != list(orders[1])


def test_without_weights_a_batch_is_rows_and_targets():
    X, y = np.ones((10, 2), dtype="float32"), np.zeros(10)
    assert len(next(iter(training_data(X, y, None, 4)))) == 2
