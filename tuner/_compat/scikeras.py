"""The private scikeras names tuner relies on, kept together so they are easy to watch.

Each is checked by ``tests/_compat/``, which fails when scikeras renames or
re-signs it (checked against scikeras 0.13).

* :data:`OVERRIDDEN_HOOKS`: the wrapper's methods the trial unit
  (:mod:`tuner.trial.estimator`) overrides. ``_fit_keras_model`` runs between scikeras'
  encoding of the data and Keras' ``fit``: ours feeds Keras one endless stream of
  batches and validates with one direct model call per epoch. ``_predict_raw`` runs
  between encoding and Keras' ``predict``: ours calls the model directly, with no input
  pipeline and no trace. If scikeras renamed one, nothing would fail: our override
  would simply never be called, trials would train without their callbacks (no
  per-epoch validation, early stopping, pruning or curves in MLflow) and predictions
  would trace and build a pipeline again.
* :func:`validate_features` wraps ``BaseWrapper._validate_data``, the input check
  scikeras' own ``_predict_raw`` makes and ours must make too. No public API does the
  same: scikit-learn's ``validate_data`` checks the feature count and names only, not
  the dtype and shape scikeras recorded at fit.
* :func:`fit_callbacks` and :func:`fit_seed` read what scikeras' own
  ``_fit_keras_model`` gives Keras (``_fit_callbacks``, ``_random_state``), so ours
  gives the same. Renamed, every fit would fail with an AttributeError.

``_keras_build_fn`` (the build method scikeras looks for when ``model`` is None) is
private by name too, but scikeras documents it for subclasses, and a rename fails
every fit loudly; the real fit in the tests covers it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FIT_HOOK = "_fit_keras_model"
PREDICT_HOOK = "_predict_raw"
OVERRIDDEN_HOOKS = (FIT_HOOK, PREDICT_HOOK)


def validate_features(wrapper: Any, X: Any) -> np.ndarray:
    """``X`` checked as scikeras checks features before a prediction: cast to numbers, and
    refused (ValueError) when its dtype, dimensions or shape past the rows differ from the fit's."""
    X, _ = wrapper._validate_data(X=X, y=None)  # noqa: SLF001 - the one place
    return X


def fit_callbacks(wrapper: Any) -> list[Any]:
    """The Keras callbacks given to the wrapper for fitting (``callbacks``, ``fit__callbacks``)."""
    return wrapper._fit_callbacks  # noqa: SLF001 - the one place


def fit_seed(wrapper: Any) -> int | None:
    """The integer seed scikeras made of ``random_state`` for this fit; None when unseeded."""
    return wrapper._random_state  # noqa: SLF001 - the one place
