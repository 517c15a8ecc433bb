"""The private names tuner relies on in scikeras, Optuna, MLflow and the standard library's
process pools still exist and still work.

Each test fails when a library moves, renames or re-signs what ``tuner.scikeras_internals``,
``tuner.optuna_internals``, ``tuner.mlflow_internals`` or ``tuner.futures_internals`` reaches into. (TensorFlow's are in
tests/test_tf_internals.py.)
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import re
import signal
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import optuna
import psutil
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from scikeras.wrappers import BaseWrapper

import tuner.estimator
from tuner.estimator import TunerClassifier, TunerRegressor, _TrialMixin, estimator_params, make_estimator
from tuner.forkserver import start_early, start_method, worker_context
from tuner.futures_internals import executor_process, forkserver_pid
from tuner.mlflow_internals import check_requirements
from tuner.optuna_internals import RDB_PRIVATE_CALLS, fail_trial, study_storage, trial_id
from tuner.scikeras_internals import OVERRIDDEN_HOOKS, fit_callbacks, fit_seed, validate_features
from tuner.tf_env import keras

X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = (X[:, 0] > 0).astype(int)
EPOCHS = 3


class _EpochCounter(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def _estimator(task: str = "binary", **kwargs):
    values = {"n_hidden": 1, "n_neurons": 4, "optimizer": "adam", "batch_size": 16}
    return make_estimator(task, epochs=EPOCHS, patience=None, **estimator_params(values), **kwargs)


@pytest.fixture(scope="module")
def fitted():
    """A classifier fitted through the real scikeras ``fit``, watching what our hook does."""
    streams, counter = [], _EpochCounter()
    real = tuner.estimator.training_data

    def spy(*args, **kwargs):
        streams.append(real(*args, **kwargs))
        return streams[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tuner.estimator, "training_data", spy)
        est = _estimator(random_state=0, callbacks=[counter]).fit(
            X[:48], y[:48], validation_data=(X[48:], y[48:])
        )
    return est, streams, counter


# scikeras


@pytest.mark.parametrize("name", OVERRIDDEN_HOOKS)
def test_the_hooks_we_override_are_scikeras_own_with_the_parameters_ours_take(name):
    theirs = getattr(BaseWrapper, name, None)
    assert theirs is not None, f"scikeras no longer has BaseWrapper.{name}: our override is never called"
    ours = getattr(_TrialMixin, name)
    assert [(p.name, p.kind) for p in inspect.signature(theirs).parameters.values()] == [
        (p.name, p.kind) for p in inspect.signature(ours).parameters.values()
    ], f"scikeras re-signed BaseWrapper.{name}"
    for wrapper in (TunerClassifier, TunerRegressor):  # and ours is the one their fit and predict find
        assert getattr(wrapper, name) is ours


@pytest.mark.slow  # real Keras training or processes
def test_a_fit_goes_through_our_hook_its_endless_stream_and_its_validation(fitted):
    est, streams, counter = fitted
    assert len(streams) == 1, "scikeras' fit did not call our _fit_keras_model"
    assert est.history_["loss"] and len(est.history_["loss"]) == EPOCHS
    # val_loss only exists when our hook adds the per-epoch validation (scikeras' own hook validates nothing)
    assert len(est.history_["val_loss"]) == EPOCHS
    assert counter.epochs == list(range(EPOCHS)), "a callback given to the estimator did not reach Keras"


@pytest.mark.slow  # real Keras training or processes
def test_fit_callbacks_and_seed_are_what_the_estimator_was_given(fitted):
    est, _, counter = fitted
    assert fit_callbacks(est) == [counter]
    assert fit_seed(est) == 0
    assert fit_seed(_estimator(random_state=None).fit(X, y)) is None


@pytest.mark.slow  # real Keras training or processes
def test_a_prediction_goes_through_our_hook_never_keras_predict(fitted, monkeypatch):
    est, _, _ = fitted

    def refuse(*args, **kwargs):
        raise AssertionError("keras.Model.predict was called: scikeras no longer calls our _predict_raw")

    monkeypatch.setattr(keras.Model, "predict", refuse)
    assert est.predict(X).shape == (64,)
    assert est.predict_proba(X).shape == (64, 2)
    regressor = _estimator("regression").fit(X, X[:, 0])
    assert regressor.predict(X).shape == (64,)


@pytest.mark.slow  # real Keras training or processes
def test_validate_features_checks_rows_against_the_fit(fitted):
    est, _, _ = fitted
    checked = validate_features(est, X[:5])
    assert isinstance(checked, np.ndarray) and checked.shape == (5, 4)
    with pytest.raises(ValueError, match=r"X has shape \(3,\)"):
        validate_features(est, X[:5, :3])
    with pytest.raises(ValueError, match="casting from float64 to float32 is not safe"):
        validate_features(est, X[:5].astype("float64"))


# Optuna


@pytest.fixture(params=["in-memory", "journal", "sqlite"])
def study(request, tmp_path):
    storage = {
        "in-memory": None,
        "journal": optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna.journal"))
        ),
        "sqlite": f"sqlite:///{tmp_path / 'optuna.db'}",
    }[request.param]
    return optuna.create_study(storage=storage)


def test_fail_trial_fails_another_process_running_trial_with_its_attrs(study):
    study.ask()
    running = study.get_trials(deepcopy=False)[0]
    assert running.state == TrialState.RUNNING
    fail_trial(study, running, {"tuner.reason": "worker died (signal 9)"})
    failed = study.get_trials()[0]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs == {"tuner.reason": "worker died (signal 9)"}
    with pytest.raises(UpdateFinishedTrialError):  # another process failed it first
        fail_trial(study, failed, {"tuner.reason": "again"})
    assert study.get_trials()[0].user_attrs == {"tuner.reason": "worker died (signal 9)"}


def test_fail_trial_refuses_a_trial_that_ended(study):
    study.tell(study.ask(), 1.0)
    complete = study.get_trials()[0]
    with pytest.raises(UpdateFinishedTrialError):
        fail_trial(study, complete, {})
    assert study.get_trials()[0].state == TrialState.COMPLETE


def test_a_study_storage_and_trial_ids_are_where_we_look(study):
    study.ask()
    study.ask()
    storage = study_storage(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    for trial in study.get_trials():
        assert storage.get_trial(trial_id(trial)).number == trial.number


@pytest.mark.parametrize("name", RDB_PRIVATE_CALLS)
def test_the_private_rdb_calls_we_retry_exist(name):
    assert callable(getattr(optuna.storages.RDBStorage, name, None)), f"Optuna's RDBStorage has no {name}"


def test_every_private_call_optunas_cache_makes_to_an_rdb_storage_is_retried():
    """A new one would reach the database unretried through the cache in front of every RDB storage."""
    from optuna.storages._cached_storage import _CachedStorage

    called = set(re.findall(r"self\._backend\.(_\w+)\(", inspect.getsource(_CachedStorage)))
    assert called and called <= set(RDB_PRIVATE_CALLS), called - set(RDB_PRIVATE_CALLS)


# concurrent.futures


@pytest.mark.slow  # real Keras training or processes
def test_executor_process_is_the_live_worker_of_a_one_process_executor_and_keeps_its_exit_code():
    with ProcessPoolExecutor(1, multiprocessing.get_context("spawn")) as executor:
        future = executor.submit(os.getpid)
        process = executor_process(executor)  # as the worker pool asks: right after the first submit
        assert future.result(timeout=120) == process.pid
        assert process.is_alive()
        os.kill(process.pid, signal.SIGKILL)
        # The executor's own thread may reap the process first (as the pool's reason reading
        # knows): its exit code shows a moment after join returns. Wait for it, then assert.
        deadline = time.monotonic() + 30
        while process.exitcode is None and time.monotonic() < deadline:
            process.join(0.1)
        assert process.exitcode == -signal.SIGKILL  # what "worker died (signal 9)" is made of


@pytest.mark.slow  # a real fork server importing TensorFlow
def test_forkserver_pid_is_the_running_fork_server_that_forks_our_workers():
    if start_method() != "forkserver":
        pytest.skip("GPUs are visible here: workers are spawned, there is no fork server")
    start_early()
    pid = forkserver_pid()
    assert pid is not None and psutil.Process(pid).ppid() == os.getpid()
    with ProcessPoolExecutor(1, worker_context()) as executor:
        worker = executor.submit(os.getppid).result(timeout=120)
    assert worker == pid  # forked by the server, not by this process


def test_the_requirement_check_we_warm_up_is_the_one_model_logging_calls():
    import logging

    import mlflow.utils.environment
    import mlflow.utils.requirements_utils

    from tuner.models import model_requirements

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


def test_tracking_spells_mlflows_run_statuses_as_mlflow_does():
    """tuner.tracking names MLflow's statuses itself so that it can load without MLflow."""
    from mlflow.entities import RunStatus

    from tuner.tracking import MLFLOW_RUNNING, MLFLOW_STATUS

    assert MLFLOW_RUNNING == RunStatus.to_string(RunStatus.RUNNING)
    assert sorted(MLFLOW_STATUS.values()) == sorted(
        RunStatus.to_string(s) for s in (RunStatus.FINISHED, RunStatus.KILLED, RunStatus.FAILED)
    )


@pytest.mark.parametrize("command", [["study", "status", "--study", "s"], ["study", "list"]])
def test_study_status_and_list_import_neither_mlflow_scikit_learn_nor_tensorflow(tmp_path, command):
    """A scheduler's user runs these in a loop: they answer in about a second (3.9 s when they
    imported MLflow and scikit-learn with the rest of the cluster module)."""
    import subprocess
    import sys

    storage = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), 2)
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "tuner",
            *command,
            "--storage",
            storage,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert '"study": "s"' in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "optuna" in imported and not imported & {"mlflow", "sklearn", "tensorflow", "keras"}
