"""Keras callbacks that every trial runs: per-epoch MLflow logging and Optuna pruning."""

from __future__ import annotations

import math
from typing import Any

import optuna

from tuner import interrupts
from tuner.tf_env import keras
from tuner.tracking import log_metrics


class MlflowEpochLogger(keras.callbacks.Callback):
    """Log every Keras metric of an epoch in one batched MLflow call, step = epoch (1-based)."""

    def __init__(self, tracking_uri: str, run_id: str):
        super().__init__()
        self.tracking_uri = tracking_uri
        self.run_id = run_id

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        log_metrics(self.tracking_uri, self.run_id, dict(logs or {}), step=epoch + 1)


class OptunaPruning(keras.callbacks.Callback):
    """Report the monitored validation metric to Optuna each epoch; stop hopeless trials.

    Raising ``optuna.TrialPruned`` out of ``model.fit`` is how Optuna expects a
    pruned trial to end; the trial unit records it as pruned before re-raising.
    """

    def __init__(self, trial: optuna.trial.BaseTrial, monitor: str):
        super().__init__()
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        step = epoch + 1
        self.trial.report(float(value), step=step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {step}: {self.monitor}={float(value):.4g}")


class StopOnNaN(keras.callbacks.Callback):
    """End training once the loss is NaN or infinite (quietly: Keras' own prints to stdout)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


class StopOnSignal(keras.callbacks.Callback):
    """Stop training at the next batch once Ctrl-C or SIGTERM asked (see tuner.interrupts)."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        interrupts.check()
