"""The one private name of MLflow tuner relies on.

Logging a model checks its requirements against the installed packages with
``mlflow.utils.requirements_utils.warn_dependency_requirement_mismatches``, whose first
call in a process indexes every installed distribution (slow). A pool worker that
runs out of trials calls it ahead of the finish (:func:`tuner.shipping.mlflow_model.warm_up_logging`).
Checked by ``tests/_compat/``; if MLflow moves it, the warm-up does less and
logging the model takes that much longer.
"""

from __future__ import annotations


def check_requirements(requirements: list[str]) -> None:
    """MLflow's own check of ``requirements`` against this environment (warns on a mismatch)."""
    from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

    warn_dependency_requirement_mismatches(requirements)
