"""An Optuna storage, from its URL: checked before anything is written, then opened once.

:func:`check_storage` refuses, without writing, a wrong URL, a host that is down or
a wrong password (so a bad storage leaves no MLflow experiment or worker behind);
:func:`get_storage` opens one, journal file or database, and takes a storage as it
is. Messages never show the password: URLs are redacted, driver errors scrubbed.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sqlite3
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import optuna

from tuner.errors import TunerError, first_line
from tuner.redact import redact, scrub

JOURNAL_SUFFIXES = (".journal", ".log")
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
_STORAGE_FORMS = "sqlite:///file.db, postgresql://user@host/db or a path ending in .journal"
StaleTrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def default_storage_url(store_dir: Path, study: str) -> str:
    """``study``'s own journal file in ``mlruns/optuna/`` (safe for several local processes).

    One file per study, because opening a journal replays every line of it: with the one
    journal of every study that tuner kept before, each process of every search replayed
    the store's whole history, a cost that grew with every search (benchmarks/journals.py
    measures it). A study still in that shared ``mlruns/optuna.journal``
    is found there, and resumes there.
    """
    own = store_dir / "optuna" / _journal_name(study)
    shared = store_dir / "optuna.journal"
    if not own.exists() and shared.exists() and study in optuna.get_all_study_names(get_storage(str(shared))):
        return str(shared)
    return str(own)


def _journal_name(study: str) -> str:
    """A file name for any study name: quoted, and shortened with a hash past 200 bytes
    (file names are at most 255)."""
    name = quote(study, safe="")
    if len(name) > 200:
        name = f"{name[:180]}-{hashlib.sha256(study.encode()).hexdigest()[:16]}"
    return f"{name}.journal"


def local_file_of(url: str) -> str | None:
    """The file behind a journal or SQLite storage; None for a database server."""
    if "://" not in url:
        return str(Path(url).resolve())
    if url.startswith("sqlite:///"):
        return str(Path(url.removeprefix("sqlite:///")).resolve())
    return None


TABLE_RACE_ATTEMPTS = 4


def _lost_a_table_race(exc: BaseException) -> bool:
    """Two processes opening a new database at once both create Optuna's tables; one loses."""
    text = f"{exc} {exc.__cause__ or ''}"
    return any(marker in text for marker in ("UniqueViolation", "already exists", "duplicate key"))


def get_storage(
    storage: str | optuna.storages.BaseStorage,
    heartbeat: tuple[int, int, StaleTrialCallback] | None = None,
) -> optuna.storages.BaseStorage:
    """A storage given as is, or opened from its URL: a journal file (a path ending in
    .journal or .log) or any RDB URL (sqlite, postgresql, mysql), whose calls wait out a
    database outage (:mod:`tuner.engines.optuna.retrying`).

    With ``heartbeat`` (interval, grace period in seconds, and what to do with a stale
    trial), an RDB storage fails a trial whose worker stopped beating.
    """
    if not isinstance(storage, str):
        return storage
    url = storage
    if url.endswith(JOURNAL_SUFFIXES) and "://" not in url:
        path = Path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    from tuner.engines.optuna.retrying import RetryingRDBStorage

    beat: dict[str, Any] = {}
    if heartbeat is not None:
        interval, grace, on_stale = heartbeat
        beat = {"heartbeat_interval": interval, "grace_period": grace}
        beat["heartbeat_stale_trial_callback"] = on_stale
    attempt = 0
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat arguments
                return RetryingRDBStorage(url, **beat)
        except Exception as exc:  # noqa: BLE001 - a bad URL or unreachable database is the user's to fix
            attempt += 1
            if _lost_a_table_race(exc) and attempt < TABLE_RACE_ATTEMPTS:
                time.sleep(attempt)  # another process is creating Optuna's tables: they will be there
                continue
            raise TunerError(
                f"cannot open Optuna storage {redact(url)!r}: {scrub(first_line(exc), url)}. Give an RDB URL "
                f"(sqlite:///file.db, postgresql://user@host/db) or a path ending in .journal"
            ) from None


def check_storage(url: str) -> None:
    """Refuse an Optuna storage that cannot be opened, without writing to it."""
    shown = redact(url)
    if "://" not in url:
        if url.endswith(JOURNAL_SUFFIXES):
            return  # a journal file is created on first use, its folder too
        raise TunerError(
            f"--storage {shown!r} is neither a database URL nor a journal file; give {_STORAGE_FORMS} "
            f"(sqlite:///{url} for a SQLite file)"
        )

    def refuse(reason: str, fix: str = f"give {_STORAGE_FORMS}") -> TunerError:
        return TunerError(f"cannot open Optuna storage {shown!r}: {scrub(reason, url)}; {fix}")

    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        parsed = sqlalchemy.make_url(url)
        backend = parsed.get_backend_name()
        parsed.get_dialect()  # an unknown database kind fails here
    except Exception as exc:  # noqa: BLE001 - any parse failure is the URL's
        raise refuse(first_line(exc)) from None
    if backend == "sqlite":
        _check_sqlite(parsed.database, refuse)
        return
    try:
        engine = sqlalchemy.create_engine(url, poolclass=NullPool)  # loads the driver; no connection yet
    except Exception as exc:  # noqa: BLE001 - a driver that is not installed, a bad option
        raise refuse(first_line(exc), "install the database's driver, or fix the URL") from None
    try:
        port = parsed.port or _DEFAULT_PORTS.get(backend)
        if parsed.host and port:  # a quick, bounded answer for a host that is down or firewalled
            try:
                socket.create_connection((parsed.host, port), timeout=5).close()
            except OSError as exc:
                reason = f"nothing answers at {parsed.host}:{port} ({exc.strerror or exc})"
                raise refuse(reason, "start the database server, or fix the host and port") from None
        try:
            with engine.connect():
                pass  # signs in: a wrong user, password or database name fails here
        except Exception as exc:  # noqa: BLE001 - a refused login is the user's to fix
            raise refuse(first_line(exc), "fix the user, password or database name in the URL") from None
    finally:
        engine.dispose()


def _check_sqlite(database: str | None, refuse: Any) -> None:
    """A SQLite storage: a file in an existing folder that, if it exists, is a database."""
    if not database or database == ":memory:":
        raise refuse("an in-memory database", "worker processes cannot share it: give sqlite:///file.db")
    path = Path(database)
    if not path.parent.is_dir():
        raise refuse(f"folder {str(path.parent)!r} does not exist", "create it, or fix the path")
    if path.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
                db.execute("PRAGMA schema_version")
        except sqlite3.Error as exc:
            raise refuse(f"{path} is not a SQLite database ({exc})", "give a new file name") from None
