"""tuner: hyperparameter search for Keras models, every trial recorded in MLflow.

The Python API::

    from tuner import SearchConfig, run_search
    result = run_search(SearchConfig(data="digits", trials=10))

Everything here is imported when first used (PEP 562), so ``tuner --help`` and
``import tuner`` stay fast; TensorFlow loads with the first model built.

``__version__`` is the installed distribution's version (one source: ``pyproject.toml``,
read back from the install's metadata); a checkout that is not installed reports
``0+unknown``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SearchConfig", "SearchResult", "build_model", "output_layer", "run_search", "__version__"]

_LAZY = {
    "SearchConfig": "tuner.config",
    "SearchResult": "tuner.search.outcomes",
    "build_model": "tuner.networks.mlp",
    "output_layer": "tuner.networks.compiling",
    "run_search": "tuner.jobs.local",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        from tuner.distribution import installed_version

        return installed_version() or "0+unknown"
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
