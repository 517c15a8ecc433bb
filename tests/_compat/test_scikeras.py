"""The private scikeras names tuner relies on still exist and still work: each test fails when
scikeras moves, renames or re-signs what ``tuner._compat.scikeras`` reaches into.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from scikeras.wrappers import BaseWrapper

import tuner.trial.estimator
from tuner._compat.scikeras import OVERRIDDEN_HOOKS, fit_callbacks, fit_seed, validate_features
from tuner.processes.tensorflow_env import keras
from tuner.trial.estimator import (
    TunerClassifier,
    TunerRegressor,
    _TrialMixin,
    estimator_params,
    make_estimator,
)

X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")


y = (X[:, 0] > 0).astype(int)


EPOCHS = 3


class _EpochCounter(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def _estimator(task: str = "binary", **kwargs):
    values = {"n_hidden": 1, "n_neurons": 4, "optimizer": "adam", "batch_size": 16}
    return make_estimator(task, epochs=EPOCHS, patience=None, **estimator_params(values), **kwargs)


@pytest.fixture(scope="module")
def fitted():
    """A classifier fitted through the real scikeras ``fit``, watching what our hook does."""
    streams, counter = [], _EpochCounter()
    real = tuner.trial.estimator.training_data

    def spy(*args, **kwargs):
        streams.append(real(*args, **kwargs))
        return streams[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tuner.trial.estimator, "training_data", spy)
        est = _estimator(random_state=0, callbacks=[counter]).fit(
            X[:48], y[:48], validation_data=(X[48:], y[48:])
        )
    return est, streams, counter


# scikeras


@pytest.mark.parametrize("name", OVERRIDDEN_HOOKS)
def test_the_hooks_we_override_are_scikeras_own_with_the_parameters_ours_take(name):
    theirs = getattr(BaseWrapper, name, None)
    assert theirs is not None, f"scikeras no longer has BaseWrapper.{name}: our override is never called"
    ours = getattr(_TrialMixin, name)
    assert [(p.name, p.kind) for p in inspect.signature(theirs).parameters.values()] == [
        (p.name, p.kind) for p in inspect.signature(ours).parameters.values()
    ], f"scikeras re-signed BaseWrapper.{name}"
    for wrapper in (TunerClassifier, TunerRegressor):  # and ours is the one their fit and predict find
        assert getattr(wrapper, name) is ours


@pytest.mark.slow  # real Keras training or processes
def test_a_fit_goes_through_our_hook_its_endless_stream_and_its_validation(fitted):
    est, streams, counter = fitted
    assert len(streams) == 1, "scikeras' fit did not call our _fit_keras_model"
    assert est.history_["loss"] and len(est.history_["loss"]) == EPOCHS
    # val_loss only exists when our hook adds the per-epoch validation (scikeras' own hook validates nothing)
    assert len(est.history_["val_loss"]) == EPOCHS
    assert counter.epochs == list(range(EPOCHS)), "a callback given to the estimator did not reach Keras"


@pytest.mark.slow  # real Keras training or processes
def test_fit_callbacks_and_seed_are_what_the_estimator_was_given(fitted):
    est, _, counter = fitted
    assert fit_callbacks(est) == [counter]
    assert fit_seed(est) == 0
    assert fit_seed(_estimator(random_state=None).fit(X, y)) is None


@pytest.mark.slow  # real Keras training or processes
def test_a_prediction_goes_through_our_hook_never_keras_predict(fitted, monkeypatch):
    est, _, _ = fitted

    def refuse(*args, **kwargs):
        raise AssertionError("keras.Model.predict was called: scikeras no longer calls our _predict_raw")

    monkeypatch.setattr(keras.Model, "predict", refuse)
    assert est.predict(X).shape == (64,)
    assert est.predict_proba(X).shape == (64, 2)
    regressor = _estimator("regression").fit(X, X[:, 0])
    assert regressor.predict(X).shape == (64,)


@pytest.mark.slow  # real Keras training or processes
def test_validate_features_checks_rows_against_the_fit(fitted):
    est, _, _ = fitted
    checked = validate_features(est, X[:5])
    assert isinstance(checked, np.ndarray) and checked.shape == (5, 4)
    with pytest.raises(ValueError, match=r"X has shape \(3,\)"):
        validate_features(est, X[:5, :3])
    with pytest.raises(ValueError, match="casting from float64 to float32 is not safe"):
        validate_features(est, X[:5].astype("float64"))
