"""The trial unit: a scikeras estimator whose ``fit`` is one recorded trial.

Both engines fit this estimator, so fitting, EarlyStopping, pruning, MLflow logging,
memory hygiene and error handling live here once:

* ``RandomizedSearchCV`` clones it and calls ``fit`` per candidate and fold;
* the Optuna engine builds one per trial and calls ``fit`` with the validation split
  and the trial (for pruning).

A fit with a :class:`~tuner.tracking.runs.RunTarget` opens an MLflow run, logs its
hyperparameters, one batched call of metrics per epoch, then its final scores,
weights and state: ``complete``, ``pruned`` or ``failed`` with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuner.processes.tensorflow_env import keras  # first: it quiets TensorFlow before scikeras imports it

# isort: split
import numpy as np
import optuna
from scikeras.utils.random_state import tensorflow_random_state
from scikeras.wrappers import KerasClassifier, KerasRegressor
from sklearn.exceptions import NotFittedError

from tuner._compat.scikeras import fit_callbacks, fit_seed, validate_features
from tuner._compat.tensorflow import forget_custom_gradients, restore_op_determinism
from tuner.choices import FIT_PARAMS
from tuner.errors import TrialFailed
from tuner.networks.reference import ModelRef
from tuner.processes.worker_id import worker_id
from tuner.serving.model_folder import predict
from tuner.tracking.runs import WORKER_ATTR, Run, RunTarget, recorded_run
from tuner.trial.batch_stream import training_data
from tuner.trial.callbacks import (
    EpochClock,
    MlflowEpochLogger,
    OptunaPruning,
    StopOnNaN,
    StopOnSignal,
    ValidationScores,
)
from tuner.trial.metrics import get_metric
from tuner.trial.model_reuse import Reuse, reused_or_built
from tuner.trial.network import build_network, steps_per_call
from tuner.trial.targets import StandardizedTarget

MODEL_PREFIX = "model__"
DEFAULT_BATCH_SIZE = 32  # Keras' own default
# EarlyStopping watches the validation loss, as Keras does by default: it is smooth where
# accuracy moves in steps of one validation row, so it stops later and better. The trial's
# score (and what the pruner sees) stays the search metric, at the restored epoch.
EARLY_STOPPING_MONITOR = "val_loss"


def release_memory() -> None:
    """Drop Keras' global state and collect garbage (Keras does), so memory stays flat across trials."""
    keras.backend.clear_session(free_memory=True)


def estimator_params(values: dict[str, Any]) -> dict[str, Any]:
    """Map search-space names to estimator parameters (``model__`` routes to the network's build)."""
    return {(k if k in FIT_PARAMS else MODEL_PREFIX + k): v for k, v in values.items()}


def _held_out_fold(fold_ids: np.ndarray) -> int:
    """The CV fold a fit is *not* trained on: the one fold number missing from its rows."""
    present = set(np.unique(fold_ids).tolist())
    return next(i for i in range(len(present) + 1) if i not in present)


def _json_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _summary(history: dict[str, list[float]], metric: Any, started: float) -> dict[str, float]:
    """Final metrics of a trial: duration, epochs run, the best epoch (lowest validation
    loss: the weights EarlyStopping restores) and the metric there."""
    losses = history.get(EARLY_STOPPING_MONITOR) or []
    summary = {
        "duration_s": time.perf_counter() - started,
        "epochs_run": float(len(history.get("loss", []))),
    }
    if losses:
        best = int(np.argmin(losses))
        summary["best_epoch"] = best + 1.0
        if len(history.get(metric.monitor) or []) > best:
            summary[f"best_{metric.monitor}"] = float(history[metric.monitor][best])
    return summary


def _restore_best_weights(model: keras.Model, callbacks: list) -> None:
    """Put back the weights EarlyStopping kept, as it does itself when training ends.

    A pruned fit ends by an exception out of ``model.fit``, so Keras never calls
    ``on_train_end`` and the model holds its last epoch's weights.
    """
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.best_weights is not None:
            model.set_weights(callback.best_weights)


class _TrialMixin:
    """Adds the trial behaviour to a scikeras wrapper; see the module docstring."""

    # What the scikeras wrapper this is mixed into gives it: parameters, fitted attributes and
    # methods, declared for type checkers only (annotations without values add no attribute).
    epochs: int
    batch_size: int | None
    random_state: Any
    initialized_: bool
    model_: keras.Model
    feature_encoder_: Any
    target_encoder_: Any
    history_: dict[str, list[float]]
    get_params: Callable[..., dict[str, Any]]
    predict: Callable[..., np.ndarray]

    def __init__(
        self,
        model: Any = None,
        *,
        task: str = "regression",
        metric: str | None = None,
        patience: int | None = 10,
        validation_fraction: float = 0.2,
        run_target: RunTarget | None = None,
        pruning_trial: optuna.trial.BaseTrial | None = None,
        tensorboard_dir: str | None = None,
        epoch_validation: bool = True,
        reuse: Reuse = "no",
        network: ModelRef | None = None,
        verbose: int = 0,
        **kwargs: Any,
    ):
        super().__init__(model=model, verbose=verbose, **kwargs)  # type: ignore[call-arg]
        self.task = task
        self.metric = metric
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.run_target = run_target
        self.pruning_trial = pruning_trial
        self.tensorboard_dir = tensorboard_dir  # the search's folder: each fit logs in a subfolder
        # False: the validation rows are scored once, after the last epoch (a re-check fold needs
        # no curve, early stop or pruning, and the per-epoch scoring is a third of its time)
        self.epoch_validation = epoch_validation
        self.reuse = reuse  # a traced model of the same network, as tuner.trial.model_reuse says
        self.network = network  # the build function (None: the mlp)

    # scikeras calls this (with ``meta`` and the ``model__`` parameters) to build.
    def _keras_build_fn(self, meta: dict[str, Any], **params: Any) -> keras.Model:
        params.pop("compile_kwargs", None)  # scikeras' own extras; tuner compiles itself
        params.pop("params", None)
        network = self.network or ModelRef()
        if self.task in ("multiclass", "multilabel"):
            n_outputs = meta["n_classes_"]
        elif self.task == "regression":
            n_outputs = meta["n_targets_"]
        else:
            n_outputs = 1
        settings = dict(
            task=self.task,
            input_shape=tuple(int(d) for d in meta["X_shape_"][1:]),
            n_outputs=int(n_outputs),
            steps_per_execution=steps_per_call(self.steps_per_epoch_, self.epochs),
        )
        key = repr((network.identity, sorted(params.items()), sorted(settings.items())))  # the same network
        return reused_or_built(lambda: build_network(network, params, **settings), key, self.reuse)

    def hyperparameters(self) -> dict[str, Any]:
        """What this trial tried, under the names used in search spaces."""
        params = self.get_params()
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

        Without validation rows (``validation_fraction=0`` and no ``validation_data``)
        it trains for exactly ``epochs``, as the refit of the best trial does; so does
        ``patience=None``, with validation rows watched but no early stop.
        """
        metric = get_metric(self.metric, self.task)
        X, y = np.asarray(X), np.asarray(y)
        if validation_data is None and self.validation_fraction > 0:
            n_valid = max(1, int(round(len(y) * self.validation_fraction)))
            validation_data = (X[-n_valid:], y[-n_valid:])
            X, y = X[:-n_valid], y[:-n_valid]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[:-n_valid]
        valid = (
            None
            if validation_data is None
            else (np.asarray(validation_data[0]), np.asarray(validation_data[1]))
        )
        self.n_targets_ = y.shape[1] if y.ndim == 2 else 1  # scikeras passes it to the build as meta
        self.steps_per_epoch_ = max(1, math.ceil(len(y) / self._batch_size()))
        release_memory()

        with self._recorded_run(metric, fold_ids) as run:
            self.run_id_ = run.run_id if run else None  # set first: a caller finds a failed fit's run
            recorder, started = keras.callbacks.History(), time.perf_counter()
            callbacks = self._callbacks(metric, recorder, run, valid is not None and self.epoch_validation)
            callbacks += self._tensorboard(fold_ids)
            try:
                self._train(X, y, sample_weight, valid, callbacks)
                self.val_score_ = self._check_outcome(recorder.history, metric, valid)
            except optuna.TrialPruned:
                if run:  # a pruned trial keeps its weights too: its best epoch's, as a complete one does
                    _restore_best_weights(self.model_, callbacks)
                    self._log_weights(run)
                raise
            finally:
                summary = _summary(recorder.history, metric, started)
                self.best_epoch_ = int(summary.get("best_epoch", summary["epochs_run"]))
                clock = next(c for c in callbacks if isinstance(c, EpochClock))
                self.timing_ = {**clock.split(), "fit_s": summary["duration_s"]}
                if run:
                    run.metrics.update({**summary, **self.timing_})
                self.timing_["began_at"] = clock.began_at  # a time of day: not a metric
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
        if WORKER_ATTR not in dict(target.tags):  # which process ran it (a joblib worker, say)
            target = dataclasses.replace(target, tags=(*target.tags, (WORKER_ATTR, worker_id())))
        params = {**self.hyperparameters(), "epochs": self.epochs, "patience": self.patience}
        params.update(task=self.task, metric=metric.name, seed=self.random_state)
        return recorded_run(target, params, pruned=(optuna.TrialPruned,))

    def _callbacks(self, metric: Any, recorder: Any, run: Run | None, validated: bool) -> list:
        """The trial's callbacks, in the order Keras must call them."""
        # The recorder first, so an epoch is on record even when a later callback prunes it.
        callbacks = [recorder, StopOnNaN(), StopOnSignal()]
        if validated and self.patience is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=EARLY_STOPPING_MONITOR,
                    mode="min",
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        logger = MlflowEpochLogger(run) if run is not None else None
        if logger is not None:
            callbacks.append(logger)
        callbacks.append(EpochClock(logger))  # before the pruner, which may end the epoch by raising
        if self.pruning_trial is not None and validated:
            callbacks.append(OptunaPruning(self.pruning_trial, metric.monitor))
        return callbacks

    def _tensorboard(self, fold_ids: Any) -> list:
        """Keras' own TensorBoard callback, for those who prefer it: ``<dir>/<trial>`` (folds below
        their candidate), epoch by epoch; none unless ``--tensorboard`` asked for it."""
        if not self.tensorboard_dir:
            return []
        name = self.run_target.run_name if self.run_target is not None else "fit"
        if fold_ids is not None:
            name = f"{name}/fold-{_held_out_fold(np.asarray(fold_ids))}"
        log_dir = Path(self.tensorboard_dir) / name
        return [keras.callbacks.TensorBoard(str(log_dir), write_graph=False, update_freq="epoch")]

    def _train(self, X: Any, y: Any, sample_weight: Any, valid: tuple | None, callbacks: list) -> None:
        self._trial_extras = (valid, callbacks)
        try:
            with restore_op_determinism(), forget_custom_gradients():
                super().fit(X, y, sample_weight=sample_weight)  # type: ignore[misc]
        finally:
            del self._trial_extras

    def _check_outcome(
        self, history: dict[str, list[float]], metric: Any, valid: tuple | None
    ) -> float | None:
        """The validation score (None without validation rows); TrialFailed if training gave nothing usable."""
        losses = history.get("loss", [])
        if not all(math.isfinite(v) for v in losses):
            raise TrialFailed(f"training diverged: the loss became NaN or inf at epoch {len(losses)}")
        if valid is None:
            return None
        raw = self._predict_raw(valid[0])  # as scikeras' predict: raw outputs, then decoded
        score = metric.compute(valid[1], self.target_encoder_.inverse_transform(raw))
        # The loss there too, from the same outputs: smooth where the score moves a row at a time.
        y_valid = self.target_encoder_.transform(valid[1])
        self.val_loss_ = float(self.model_.compute_loss(y=y_valid, y_pred=raw, training=False))
        if not math.isfinite(score):
            raise TrialFailed(f"the validation {metric.name} is not a number")
        return score

    def _log_weights(self, run: Run) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.weights.h5"
            self.model_.save_weights(path)
            run.log_file(path, "weights")

    def _batch_size(self) -> int:
        return int(self.batch_size or DEFAULT_BATCH_SIZE)

    # scikeras' hook between encoding the data and calling Keras' fit (scikeras_internals.FIT_HOOK);
    # ours feeds Keras one endless stream of batches and validates with one direct model call per epoch.
    def _fit_keras_model(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        warm_start: bool,
        epochs: int,
        initial_epoch: int,
        **kwargs: Any,
    ) -> None:
        valid, callbacks = self._trial_extras
        if valid is not None and self.epoch_validation:
            encoded = (self.feature_encoder_.transform(valid[0]), self.target_encoder_.transform(valid[1]))
            callbacks = [ValidationScores(*encoded, self.task), *callbacks]
        seed = fit_seed(self)
        seeded = tensorflow_random_state(seed) if seed is not None else contextlib.nullcontext()
        with seeded:
            history = self.model_.fit(
                training_data(X, y, sample_weight, self._batch_size()),
                epochs=initial_epoch + epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=self.steps_per_epoch_,
                shuffle=False,  # the stream reshuffles itself
                callbacks=[*fit_callbacks(self), *callbacks],
                verbose=0,
            )
        if not warm_start or not hasattr(self, "history_") or initial_epoch == 0:
            self.history_ = defaultdict(list)
        for key, values in history.history.items():
            self.history_[key] += values

    # scikeras' hook for raw predictions (scikeras_internals.PREDICT_HOOK): direct model calls,
    # no input pipeline, no trace.
    def _predict_raw(self, X: Any, **kwargs: Any) -> np.ndarray:
        if not self.initialized_:
            raise NotFittedError("Estimator needs to be fit before `predict` can be called")
        X = validate_features(self, X)
        return predict(self.model_, self.feature_encoder_.transform(X))


class TunerRegressor(_TrialMixin, KerasRegressor):
    """KerasRegressor over the search's network (:mod:`tuner.trial.network`), fitting as a recorded trial."""

    @property
    def target_encoder(self) -> StandardizedTarget:
        return StandardizedTarget()


class TunerClassifier(_TrialMixin, KerasClassifier):
    """KerasClassifier over the search's network (:mod:`tuner.trial.network`), fitting as a recorded trial."""


def make_estimator(task: str, **kwargs: Any) -> TunerRegressor | TunerClassifier:
    """The right wrapper for ``task``; ``kwargs`` are estimator parameters."""
    cls = TunerRegressor if task == "regression" else TunerClassifier
    return cls(task=task, **kwargs)
