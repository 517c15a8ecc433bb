"""Shared fixtures: every test runs in its own directory, so ./mlruns is private to it.

Helpers that tests import (servers, paths, browser, infra) live in tests/helpers/, which
pytest puts on sys.path (``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from servers import MlflowServer, drop_database, new_database

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, empty database of its own for one test."""
    url = new_database()
    yield url
    drop_database(url)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory and no inherited tracking URI; seeded RNGs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    random.seed(0)
    np.random.seed(0)
    return tmp_path


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


@pytest.fixture
def space_file(tmp_path: Path):
    """Write a search-space YAML file and return its path."""

    def write(text: str, name: str = "space.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on a free loopback port: backend in PostgreSQL, artifacts served from a folder."""
    backend = new_database()
    server = MlflowServer(
        backend.replace("postgresql", "postgresql+psycopg", 1),
        tmp_path_factory.mktemp("artifacts"),
        tmp_path_factory.mktemp("server") / "server.log",
    )
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        drop_database(backend)
