"""Regression targets as the network trains on them: scaled to zero mean and unit variance."""

from __future__ import annotations

import numpy as np
from scikeras.utils.transformers import RegressorTargetEncoder


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
