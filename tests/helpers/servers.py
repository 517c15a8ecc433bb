"""Real servers for tests: PostgreSQL databases (the shared server's, or a private server a test
may stop), `mlflow server` on a loopback port, and a free port to put them on."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

# A real PostgreSQL server (trust authentication on this project's machines). Unreachable, the
# tests that use it fail: they never skip.
POSTGRES = os.environ.get("TUNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def new_database() -> str:
    """Create an empty database on the server; return its URL (no driver name)."""
    import psycopg

    name = f"tuner_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def study_trials(url: str, study: str, states: tuple | None = None) -> list:
    """The trials of ``study`` in the database at ``url``, read on a connection closed afterwards.

    ``optuna.load_study(storage=url)`` opens an engine whose pooled connection stays open until
    the garbage collector finds it: a test polling that way every 0.2 s runs the server out of
    connections ("too many clients already") while its workers need them.
    """
    import optuna

    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials(states=states)
    finally:
        storage.engine.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A real `mlflow server` on a loopback port, which a test can stop and start again there."""

    def __init__(self, backend: str, artifacts: Path, log: Path):
        self.backend, self.artifacts, self.log = backend, artifacts, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--backend-store-uri", self.backend, "--artifacts-destination", str(self.artifacts)]
        command += ["--workers", "1"]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=2)
                return
            except OSError:
                assert self.process.poll() is None, f"mlflow server exited: {self.log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.3)

    def stop(self) -> None:
        """Every process of the server, gone; the port refuses connections."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.process = None


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, a free port), which a
    test may stop and start: the shared server on 5432 stays up for everyone else."""

    BIN = (
        sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        if Path("/usr/lib/postgresql").exists()
        else None
    )

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tuner-pg-"))
        os.chmod(self.dir, 0o755)
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        subprocess.run(["chown", "postgres", str(self.dir)], check=True)
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _as_postgres(self, tool: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.BIN / tool), *args]
        subprocess.run(command, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"
        )

    def stop(self) -> None:
        """At once, as a crash or a lost network would: connections are cut, nothing is flushed politely."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        subprocess.run(["rm", "-rf", str(self.dir)], check=True)
