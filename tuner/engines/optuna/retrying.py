"""An Optuna RDB storage that rides out a database outage, then stops the search clearly.

Optuna's :class:`~optuna.storages.RDBStorage` raises on the first failed connection,
so a database restart or a network blip mid-search failed trials and crashed
workers. Here every storage call that fails to connect is retried with back-off,
for at most ``$TUNER_STORAGE_RETRY_SECONDS`` (60 by default) per outage: all the
calls of a process share one deadline, so a database that stays away stops the
search in about a minute, with :class:`StorageUnavailable` (exit 2) and every
finished trial kept. Pooled connections are pinged before use, so the first call
after a restart does not trip on a dead connection.

(Our own class, not a library's: Optuna offers no retrying storage, and SQLAlchemy's
``pool_pre_ping`` only replaces dead pooled connections, it does not wait for a
database to come back.)
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import optuna
from sqlalchemy.exc import InterfaceError, OperationalError

from tuner._compat.optuna import RDB_PRIVATE_CALLS
from tuner.errors import TunerError, first_line
from tuner.redact import redact, scrub

RETRY_ENV = "TUNER_STORAGE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 60.0
FIRST_DELAY_SECONDS, MAX_DELAY_SECONDS = 0.5, 8.0
CONNECTION_ERRORS = (OperationalError, InterfaceError)
# Every storage call: each opens its own session, so each is retried whole.
RETRIED = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "get_best_trial",
    "record_heartbeat",
)


class StorageUnavailable(TunerError):
    """The study's database stayed unreachable past the retry budget; finished trials are safe in it."""


class _Outage:
    """When this process first failed to reach the database; None while it answers."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.lock = threading.Lock()
        self.depth = threading.local()  # calls nested in a retried call are not retried again


_outage = _Outage()


def retry_budget() -> float:
    return float(os.environ.get(RETRY_ENV, DEFAULT_RETRY_SECONDS))


def _lost_connection(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or was raised from, a failure to reach the database.

    Optuna re-raises errors during a commit as ``StorageInternalError``, from the real one.
    """
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, CONNECTION_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _retried(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        if getattr(_outage.depth, "value", 0):
            return method(self, *args, **kwargs)
        delay = FIRST_DELAY_SECONDS
        while True:
            _outage.depth.value = 1
            try:
                result = method(self, *args, **kwargs)
            except Exception as exc:
                if not _lost_connection(exc):
                    raise
                with _outage.lock:
                    _outage.since = _outage.since or time.monotonic()
                    left = _outage.since + retry_budget() - time.monotonic()
                if left <= 0:
                    raise StorageUnavailable(
                        f"lost the Optuna storage {redact(self.url)} for {retry_budget():.0f} s "
                        f"({scrub(first_line(exc), self.url)}); finished trials are kept in it: when it "
                        f"is back, run the same command with --resume"
                    ) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, MAX_DELAY_SECONDS)
                continue
            finally:
                _outage.depth.value = 0
            _outage.since = None
            return result

    return call


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """:class:`~optuna.storages.RDBStorage` whose calls wait out a database outage (module docstring)."""

    def __init__(self, url: str, **kwargs: Any):
        engine_kwargs = {"pool_pre_ping": True, **kwargs.pop("engine_kwargs", {})}
        super().__init__(url, engine_kwargs=engine_kwargs, **kwargs)


for _name in RETRIED + RDB_PRIVATE_CALLS:
    setattr(RetryingRDBStorage, _name, _retried(getattr(optuna.storages.RDBStorage, _name)))
