"""Optuna storage on a real PostgreSQL server, as cluster workers use it.

The server's URL comes from ``TUNER_TEST_POSTGRES`` (default: the one on this
project's machines, trust authentication). Each test creates and drops a database of
its own. An unreachable server fails these tests: it never skips them.
"""

from __future__ import annotations

import json

import optuna
import pytest
from click.testing import CliRunner

from tuner.cli.main import cli

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all

FAST = [
    "--space",
    "mlp_quick",
    "--data",
    "digits",
    "--epochs",
    "4",
    "--patience",
    "2",
    "--recheck",
    "1",
    "--quiet",
]


def search(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["search", *FAST, *args, "--output", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg", "postgresql+psycopg2"])
def test_a_search_runs_and_resumes_on_postgresql(database, scheme):
    url = database.replace("postgresql", scheme, 1)
    first = search("--storage", url, "--study", "pg", "--trials", "2", "--name", "pg")
    second = search("--storage", url, "--study", "pg", "--trials", "2", "--name", "pg", "--resume")
    assert second["search_run_id"] == first["search_run_id"]
    study = optuna.load_study(study_name="pg", storage=database)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state.is_finished() for t in study.trials)


def test_joining_a_study_holds_the_connections_of_one_storage(database):
    """A worker joins with a heartbeat, which needs a second storage. The first must not keep its
    connections until a garbage collection, which a worker's frozen set-up never gets: a cluster
    of workers would hold twice the connections it needs and run PostgreSQL out of them."""
    import gc

    import psycopg

    from tuner.engines.optuna.storage import get_storage
    from tuner.engines.optuna.study import load_study

    def connections() -> int:
        server, name = database.rsplit("/", 1)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
            return conn.execute(query, (name,)).fetchone()[0]

    one = get_storage(database)
    optuna.create_study(study_name="join", storage=one)
    held_by_one = connections()
    one.engine.dispose()
    assert connections() == 0
    gc.collect()
    gc.disable()
    try:
        joined = load_study("join", database)  # held: its own storage's connections count
        joined.get_trials()
        assert connections() == held_by_one
    finally:
        gc.enable()
