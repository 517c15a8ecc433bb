"""A traced model reused by the next fit of the same network: the same fit, without the trace."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.processes.pool import _lanes, _next_task
from tuner.trial import model_reuse
from tuner.trial.estimator import make_estimator


@pytest.fixture(autouse=True)
def nothing_kept():
    model_reuse.forget()
    yield
    model_reuse.forget()


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 6)).astype("float32")
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)


def _fit(reuse: str, seed: int, neurons: int = 16, data: int = 0):
    X, y = _data(data)
    # Adam (optimizer slots) and dropout (seed generators): both must start as a new model's
    estimator = make_estimator(
        "multiclass", epochs=4, patience=None, validation_fraction=0.0, reuse=reuse, random_state=seed,
        model__n_hidden=2, model__n_neurons=neurons, model__optimizer="adam", model__dropout=0.3,
    )  # fmt: skip
    return estimator.fit(X, y)


def _outputs(estimator) -> np.ndarray:
    return estimator.predict_proba(_data(9)[0])


def test_a_kept_model_trains_again_as_a_new_one_would_without_a_new_trace():
    first = _fit("keep", seed=1, data=1)  # another fold: other rows, another seed
    train_function = first.model_.train_function
    again = _fit("keep", seed=2)
    assert again.model_ is first.model_ and again.model_.train_function is train_function
    assert np.array_equal(_outputs(again), _outputs(_fit("no", seed=2)))


def test_another_network_is_built_anew():
    first = _fit("keep", seed=1)
    assert _fit("keep", seed=1, neurons=17).model_ is not first.model_


def test_a_taken_model_is_its_fit_alone():
    kept = _fit("keep", seed=1)
    taken = _fit("take", seed=3)  # the refit: reuses the fold's model, and keeps none
    assert taken.model_ is kept.model_
    assert np.array_equal(_outputs(taken), _outputs(_fit("no", seed=3)))
    assert _fit("keep", seed=4).model_ is not taken.model_  # the saved model is never trained again


def test_lanes_are_contiguous_runs_and_a_free_worker_takes_the_end_of_the_longest_other():
    # 3 candidates x 2 folds on 2 workers, worker 1 warmed up: it re-checks the leader
    lanes = _lanes(6, [1, 0])
    assert [lanes[n] for n in range(6)] == [1, 1, 1, 0, 0, 0]
    queue = [(n, ()) for n in range(6)]
    assert _next_task(queue, 1, lanes) == 0 and _next_task(queue, 0, lanes) == 3
    mine_done = [(n, ()) for n in (1, 2)]  # worker 0 ran its lane; worker 1 is on task 0
    assert _next_task(mine_done, 0, lanes) == 1  # task 2: the end of worker 1's lane
    assert _next_task(queue, 0, {}) == 0  # without lanes: the first
