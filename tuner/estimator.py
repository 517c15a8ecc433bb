"""The trial unit: a scikeras estimator whose ``fit`` is one recorded trial.

Both engines fit this estimator, so fitting, EarlyStopping, pruning, MLflow logging,
memory hygiene and error handling live here once:

* ``RandomizedSearchCV`` clones it and calls ``fit`` per candidate and fold;
* the Optuna engine builds one per trial and calls ``fit`` with the validation split
  and the trial (for pruning).

A fit with a :class:`~tuner.tracking.RunTarget` opens an MLflow run, logs its
hyperparameters, one batched call of metrics per epoch, then its final scores,
weights and state: ``complete``, ``pruned`` or ``failed`` with the reason.
"""

from __future__ import annotations

import contextlib
import gc
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from tuner.tf_env import keras  # first: it quiets TensorFlow before scikeras imports it

# isort: split
import numpy as np
import optuna
from scikeras.utils.transformers import RegressorTargetEncoder
from scikeras.wrappers import KerasClassifier, KerasRegressor

from tuner.callbacks import MlflowEpochLogger, OptunaPruning, StopOnNaN, StopOnSignal
from tuner.errors import TrialFailed
from tuner.metrics import get_metric
from tuner.model import build_model
from tuner.space import FIT_PARAMS
from tuner.tf_internals import forget_custom_gradients, restore_op_determinism
from tuner.tracking import Run, RunTarget, recorded_run

MODEL_PREFIX = "model__"


def release_memory() -> None:
    """Drop Keras' global state and collect garbage, so memory stays flat across trials."""
    keras.backend.clear_session(free_memory=True)
    gc.collect()


def estimator_params(values: dict[str, Any]) -> dict[str, Any]:
    """Map search-space names to estimator parameters (``model__`` routes to build_model)."""
    return {(k if k in FIT_PARAMS else MODEL_PREFIX + k): v for k, v in values.items()}


def _held_out_fold(fold_ids: np.ndarray) -> int:
    """The CV fold a fit is *not* trained on: the one fold number missing from its rows."""
    present = set(np.unique(fold_ids).tolist())
    return next(i for i in range(len(present) + 1) if i not in present)


def _json_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _summary(history: dict[str, list[float]], metric: Any, started: float) -> dict[str, float]:
    """Final metrics of a trial: duration, epochs run, the best epoch and its value."""
    curve = history.get(metric.monitor) or []
    summary = {
        "duration_s": time.perf_counter() - started,
        "epochs_run": float(len(history.get("loss", []))),
    }
    if curve:
        best = int(np.argmax(curve) if metric.greater_is_better else np.argmin(curve))
        summary.update(best_epoch=best + 1.0, **{f"best_{metric.monitor}": float(curve[best])})
    return summary


class _TrialMixin:
    """Adds the trial behaviour to a scikeras wrapper; see the module docstring."""

    def __init__(
        self,
        model: Any = None,
        *,
        task: str = "regression",
        metric: str | None = None,
        patience: int = 10,
        validation_fraction: float = 0.2,
        steps_per_execution: int = 1,
        run_target: RunTarget | None = None,
        pruning_trial: optuna.trial.BaseTrial | None = None,
        verbose: int = 0,
        **kwargs: Any,
    ):
        super().__init__(model=model, verbose=verbose, **kwargs)  # type: ignore[call-arg]
        self.task = task
        self.metric = metric
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.steps_per_execution = steps_per_execution
        self.run_target = run_target
        self.pruning_trial = pruning_trial

    # scikeras calls this (with ``meta`` and the ``model__`` parameters) to build.
    def _keras_build_fn(self, meta: dict[str, Any], **params: Any) -> keras.Model:
        params.pop("compile_kwargs", None)  # scikeras' own extras; build_model compiles itself
        params.pop("params", None)
        if self.task in ("multiclass", "multilabel"):
            n_outputs = meta["n_classes_"]
        elif self.task == "regression":
            n_outputs = meta["n_targets_"]
        else:
            n_outputs = 1
        return build_model(
            task=self.task,
            input_shape=meta["X_shape_"][1:],
            n_outputs=n_outputs,
            steps_per_execution=self.steps_per_execution,
            **params,
        )

    def hyperparameters(self) -> dict[str, Any]:
        """What this trial tried, under the names used in search spaces."""
        params = self.get_params()  # type: ignore[attr-defined]
        out = {
            k[len(MODEL_PREFIX) :]: _json_scalar(v) for k, v in params.items() if k.startswith(MODEL_PREFIX)
        }
        out.update({k: _json_scalar(params[k]) for k in FIT_PARAMS if params.get(k) is not None})
        return out

    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, *, validation_data: Any = None, fold_ids: Any = None
    ):
        """Train with EarlyStopping (and pruning, for Optuna) and record the trial.

        Args:
            validation_data: ``(X, y)`` watched every epoch; without it the last
                ``validation_fraction`` of the rows is held out (as in CV folds).
            fold_ids: per row, the number of the CV fold it is held out in; the
                random engine passes it so each fold's run is named after its fold.
        """
        metric = get_metric(self.metric, self.task)
        X, y = np.asarray(X), np.asarray(y)
        if validation_data is None:
            n_valid = max(1, int(round(len(y) * self.validation_fraction)))
            validation_data = (X[-n_valid:], y[-n_valid:])
            X, y = X[:-n_valid], y[:-n_valid]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[:-n_valid]
        X_valid, y_valid = np.asarray(validation_data[0]), np.asarray(validation_data[1])
        self.n_targets_ = y.shape[1] if y.ndim == 2 else 1  # scikeras passes it to the build as meta
        release_memory()

        with self._recorded_run(metric, fold_ids) as run:
            self.run_id_ = run.run_id if run else None  # set first: a caller finds a failed fit's run
            recorder = keras.callbacks.History()
            started = time.perf_counter()
            try:
                self._train(X, y, sample_weight, X_valid, y_valid, self._callbacks(metric, recorder, run))
                self.val_score_ = self._check_outcome(recorder.history, metric, X_valid, y_valid)
            finally:
                summary = _summary(recorder.history, metric, started)
                self.best_epoch_ = int(summary.get("best_epoch", summary["epochs_run"]))
                if run:
                    run.metrics.update(summary)
            if run:
                run.metrics["val_score"] = self.val_score_
                self._log_weights(run)
        return self

    def _recorded_run(self, metric: Any, fold_ids: Any) -> contextlib.AbstractContextManager[Run | None]:
        """The MLflow run of this fit, or nothing when the fit is not tracked."""
        target = self.run_target
        if target is None:
            return contextlib.nullcontext()
        if fold_ids is not None:
            fold = _held_out_fold(np.asarray(fold_ids))
            target = target.child(f"fold-{fold}", "fold", target.parent_run_id)  # type: ignore[arg-type]
        params = {**self.hyperparameters(), "epochs": self.epochs, "patience": self.patience}  # type: ignore[attr-defined]
        params.update(task=self.task, metric=metric.name, seed=self.random_state)  # type: ignore[attr-defined]
        return recorded_run(target, params, pruned=(optuna.TrialPruned,))

    def _callbacks(self, metric: Any, recorder: Any, run: Run | None) -> list[keras.callbacks.Callback]:
        # The recorder first, so an epoch is on record even when a later callback prunes it.
        callbacks = [
            recorder,
            keras.callbacks.EarlyStopping(
                monitor=metric.monitor,
                mode="max" if metric.greater_is_better else "min",
                patience=self.patience,
                restore_best_weights=True,
            ),
            StopOnNaN(),
            StopOnSignal(),
        ]
        if run is not None:
            callbacks.append(MlflowEpochLogger(run.tracking_uri, run.run_id))
        if self.pruning_trial is not None:
            callbacks.append(OptunaPruning(self.pruning_trial, metric.monitor))
        return callbacks

    def _train(self, X: Any, y: Any, sample_weight: Any, X_valid: Any, y_valid: Any, callbacks: list) -> None:
        self._trial_extras = (X_valid, y_valid, callbacks)
        try:
            with restore_op_determinism(), forget_custom_gradients():
                super().fit(X, y, sample_weight=sample_weight)  # type: ignore[misc]
        finally:
            del self._trial_extras

    def _check_outcome(
        self, history: dict[str, list[float]], metric: Any, X_valid: Any, y_valid: Any
    ) -> float:
        """The validation score, or TrialFailed when training produced nothing usable."""
        losses = history.get("loss", [])
        if not all(math.isfinite(v) for v in losses):
            raise TrialFailed(f"training diverged: the loss became NaN or inf at epoch {len(losses)}")
        score = metric.compute(y_valid, self.predict(X_valid))  # type: ignore[attr-defined]
        if not math.isfinite(score):
            raise TrialFailed(f"the validation {metric.name} is not a number")
        return score

    def _log_weights(self, run: Run) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.weights.h5"
            self.model_.save_weights(path)  # type: ignore[attr-defined]
            run.log_file(path, "weights")

    # scikeras' hook between encoding the data and calling Keras' fit.
    def _fit_keras_model(self, X: Any, y: Any, **kwargs: Any) -> None:
        X_valid, y_valid, callbacks = self._trial_extras
        kwargs["validation_data"] = (
            self.feature_encoder_.transform(X_valid),  # type: ignore[attr-defined]
            self.target_encoder_.transform(y_valid),  # type: ignore[attr-defined]
        )
        own = self._fit_callbacks  # type: ignore[has-type]
        self._fit_callbacks = [*own, *callbacks]
        try:
            super()._fit_keras_model(X, y, **kwargs)  # type: ignore[misc]
        finally:
            self._fit_callbacks = own


class StandardizedTarget(RegressorTargetEncoder):
    """Regression targets scaled to zero mean and unit variance for training.

    Targets in the hundreds (diabetes) make SGD diverge at ordinary learning rates.
    Predictions are scaled back, so scores are in the target's own units; the
    per-epoch curves (loss, mse, mae) are in standardized units.
    """

    def fit(self, y: np.ndarray) -> StandardizedTarget:
        super().fit(y)
        values = np.asarray(y, dtype="float64")
        self.mean_ = values.mean(axis=0)
        self.scale_ = np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        return (super().transform(y) - self.mean_) / self.scale_

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        return super().inverse_transform(np.asarray(y) * self.scale_ + self.mean_)


class TunerRegressor(_TrialMixin, KerasRegressor):
    """KerasRegressor over :func:`tuner.model.build_model`, fitting as a recorded trial."""

    @property
    def target_encoder(self) -> StandardizedTarget:
        return StandardizedTarget()


class TunerClassifier(_TrialMixin, KerasClassifier):
    """KerasClassifier over :func:`tuner.model.build_model`, fitting as a recorded trial."""


def make_estimator(task: str, **kwargs: Any) -> TunerRegressor | TunerClassifier:
    """The right wrapper for ``task``; ``kwargs`` are estimator parameters."""
    cls = TunerRegressor if task == "regression" else TunerClassifier
    return cls(task=task, **kwargs)
