"""Runs and their states, as MLflow spells them."""

from __future__ import annotations


def test_tracking_spells_mlflows_run_statuses_as_mlflow_does():
    """tuner.tracking.runs names MLflow's statuses itself so that it can load without MLflow."""
    from mlflow.entities import RunStatus

    from tuner.tracking.runs import MLFLOW_RUNNING, MLFLOW_STATUS

    assert MLFLOW_RUNNING == RunStatus.to_string(RunStatus.RUNNING)
    assert sorted(MLFLOW_STATUS.values()) == sorted(
        RunStatus.to_string(s) for s in (RunStatus.FINISHED, RunStatus.KILLED, RunStatus.FAILED)
    )
