"""tuner: hyperparameter search for Keras models, every trial recorded in MLflow.

``from tuner import build_model`` gives the model factory; TensorFlow is imported
only when it is first used, so the CLI starts fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["build_model", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "build_model":
        from tuner.model import build_model

        return build_model
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")
