"""The one private name of MLflow tuner relies on (``tuner._compat.mlflow``)."""

from __future__ import annotations

from tuner._compat.mlflow import check_requirements


def test_the_requirement_check_we_warm_up_is_the_one_model_logging_calls():
    import logging

    import mlflow.utils.environment
    import mlflow.utils.requirements_utils

    from tuner.shipping.mlflow_model import model_requirements

    checked = mlflow.utils.requirements_utils.warn_dependency_requirement_mismatches
    assert mlflow.utils.environment.warn_dependency_requirement_mismatches is checked
    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(checked.__module__)  # MLflow's loggers do not propagate to caplog
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)  # tuner quiets MLflow's
    try:
        check_requirements(model_requirements())  # pinned to what is installed: nothing to say
        assert warnings == []
        check_requirements(["numpy==0.0.1"])
        assert any("numpy (current: " in w for w in warnings)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
