"""Keras callbacks that every trial runs: per-epoch MLflow logging, timing and Optuna pruning."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np
import optuna

from tuner import interrupts
from tuner.networks.compiling import task_metrics
from tuner.processes.tensorflow_env import keras
from tuner.serving.model_folder import predict
from tuner.tracking.runs import Run


class ValidationScores(keras.callbacks.Callback):
    """``val_loss`` and ``val_<metric>`` every epoch, from one direct call of the model.

    Keras validates through an input pipeline built anew every epoch and a traced
    test step; for a small model that costs more than the training itself. This
    gives the same numbers (the compiled loss, fresh copies of the compiled metrics)
    for a fraction of it. It must come first, so later callbacks see its logs.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, task: str):
        super().__init__()
        self.X, self.y = X, y
        self.metrics = task_metrics(task)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        y_pred = predict(self.model, self.X)
        loss = self.model.compute_loss(x=self.X, y=self.y, y_pred=y_pred, training=False)
        logs["val_loss"] = float(loss)
        for metric in self.metrics:
            metric.reset_state()
            metric.update_state(self.y, y_pred)
            logs[f"val_{metric.name}"] = float(metric.result())


class MlflowEpochLogger(keras.callbacks.Callback):
    """Log every Keras metric of an epoch in one batched MLflow call, step = epoch (1-based)."""

    def __init__(self, run: Run):
        super().__init__()
        self.run = run
        self.seconds = 0.0  # spent logging, for the trial's time split

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        started = time.perf_counter()
        self.run.log_epoch(dict(logs or {}), step=epoch + 1)
        self.seconds += time.perf_counter() - started


class EpochClock(keras.callbacks.Callback):
    """Where a fit's epochs spend their time: tracing the new model, training, logging.

    The first epoch also traces the train and evaluation steps: its excess over a
    typical later epoch is counted as tracing (all of it, when there is no later
    epoch). Training is the rest, minus what the MLflow logger spent.
    """

    def __init__(self, logger: MlflowEpochLogger | None = None):
        super().__init__()
        self.logger = logger
        self.epochs: list[float] = []
        self._started = 0.0
        self.began_at = 0.0  # wall clock as the fit's first step began: the search's start-up ends there

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.began_at = time.time()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs.append(time.perf_counter() - self._started)

    def split(self) -> dict[str, float]:
        if not self.epochs:
            return {"tracing_s": 0.0, "training_s": 0.0, "logging_s": 0.0}
        typical = statistics.median(self.epochs[1:]) if len(self.epochs) > 1 else 0.0
        tracing = max(0.0, self.epochs[0] - typical)
        logging = self.logger.seconds if self.logger is not None else 0.0
        return {
            "tracing_s": tracing,
            "training_s": max(0.0, sum(self.epochs) - tracing - logging),
            "logging_s": logging,
        }


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
