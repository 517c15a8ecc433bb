"""A tracking store checked at start: reachable, writable, and signed in to, within seconds.

Without this, an unreachable server would be found only after minutes of MLflow's
retries, and a wrong password only at the first trial's run.
"""

from __future__ import annotations

import os
import tempfile

from tuner.errors import TunerError
from tuner.redact import redact
from tuner.tracking.store import local_artifact_root

REACHABLE_TIMEOUT_SECONDS = 3.0  # at start, a server that does not answer fails within 5 s
# The URI schemes MLflow has tracking stores for (a database URL may name its driver: postgresql+psycopg).
TRACKING_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks")


def check_reachable(tracking_uri: str) -> None:
    """Fail within seconds, not after minutes of retries, when the store cannot be reached or written.

    A tracking server gets one request with a short timeout and no retries; a local
    store, a test file written into its folder (as root, permission bits would not say).
    """
    scheme = tracking_uri.split("://", 1)[0] if "://" in tracking_uri else "file"
    if scheme.split("+", 1)[0] not in TRACKING_SCHEMES:
        raise TunerError(
            f"unknown tracking URI scheme in {redact(tracking_uri)!r}; give http(s)://host:port (a tracking "
            f"server), sqlite:///file.db, postgresql://... or leave it out for the local store in ./mlruns"
        )
    if tracking_uri.startswith(("http://", "https://")):
        import requests

        try:
            answer = requests.get(tracking_uri.rstrip("/") + "/health", timeout=REACHABLE_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise TunerError(
                f"cannot reach the MLflow tracking server {redact(tracking_uri)} "
                f"({type(exc).__name__}); start it, or fix --tracking-uri / $MLFLOW_TRACKING_URI"
            ) from None
        if answer.status_code == 404 or answer.status_code >= 500:
            raise TunerError(
                f"{redact(tracking_uri)} answered {answer.status_code} where an MLflow tracking server "
                f"answers its health check: fix --tracking-uri / $MLFLOW_TRACKING_URI"
            )
        _check_signed_in(tracking_uri)
        return
    folder = local_artifact_root(tracking_uri)
    if folder is not None:
        while not folder.exists():  # the folder that will hold it: nothing is made here
            folder = folder.parent
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise TunerError(
                f"cannot write to {folder} ({exc.strerror or type(exc).__name__}): the MLflow store "
                f"needs it; make it writable for this user, or point --tracking-uri elsewhere"
            ) from None


def _check_signed_in(tracking_uri: str) -> None:
    """A server with authentication (MLflow's ``basic-auth`` app) refuses anonymous or wrong
    credentials with 401, and a user without permission with 403: say so at start, in one line."""
    import requests

    user, auth = _credentials()
    url = tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments/search"
    try:
        answer = requests.get(url, params={"max_results": 1}, auth=auth, timeout=REACHABLE_TIMEOUT_SECONDS)
    except requests.RequestException:
        return  # it answered its health check: later calls retry and say what fails
    if answer.status_code == 401:
        given = f"user {user!r} with that password" if user else "no credentials"
        raise TunerError(
            f"the MLflow tracking server {redact(tracking_uri)} refused {given} (401 Unauthorized): set "
            f"$MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD to one of its users"
        )
    if answer.status_code == 403:
        raise TunerError(
            f"the MLflow tracking server {redact(tracking_uri)} denies user {user!r} (403 Forbidden): "
            f"give that user permission to read and write experiments, or use another user"
        )


def check_registry(tracking_uri: str) -> None:
    """``--register``: the store has a model registry (database stores do; a server is asked)."""
    if not tracking_uri.startswith(("http://", "https://")):
        if tracking_uri.startswith("file:") or "://" not in tracking_uri:
            raise TunerError(
                f"--register: {redact(tracking_uri)} is a file store, which offers no model registry; "
                f"use a database store (sqlite:///..., postgresql://...) or a tracking server"
            )
        return
    import requests

    _, auth = _credentials()
    url = tracking_uri.rstrip("/") + "/api/2.0/mlflow/registered-models/search"
    try:
        answer = requests.get(url, params={"max_results": 1}, auth=auth, timeout=REACHABLE_TIMEOUT_SECONDS)
    except requests.RequestException:
        return  # it answered its health check: the registration says what fails, if anything
    if answer.status_code in (404, 501):
        raise TunerError(
            f"--register: the tracking server {redact(tracking_uri)} offers no model registry "
            f"({answer.status_code}); drop --register, or use a server with a database backend"
        )


def _credentials() -> tuple[str | None, tuple[str, str] | None]:
    """The user MLflow's client signs in as (``$MLFLOW_TRACKING_USERNAME``/``PASSWORD``), if any."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    return user, (user, os.environ.get("MLFLOW_TRACKING_PASSWORD", "")) if user else None
