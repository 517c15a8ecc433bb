"""An Optuna storage checked before anything is written to it.

Opened late, a bad storage left an MLflow experiment and a started worker pool
behind; checked here (from :meth:`tuner.config.SearchConfig.validate`), a wrong URL,
a host that is down or a wrong password fails first. Messages never show the
password: URLs are redacted, driver errors scrubbed.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from pathlib import Path
from typing import Any

from tuner.errors import TunerError, first_line
from tuner.redact import redact, scrub

JOURNAL_SUFFIXES = (".journal", ".log")


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
_STORAGE_FORMS = "sqlite:///file.db, postgresql://user@host/db or a path ending in .journal"


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
