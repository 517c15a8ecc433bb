"""The warm worker pool: which worker warms up model logging, and that the refit goes to it."""

from __future__ import annotations

import os

import pytest

from tuner.processes import pool as pool_module
from tuner.processes.pool import WorkerPool

pytestmark = pytest.mark.slow  # real worker processes


def _claim() -> bool:
    return pool_module.claim_warm_up()


def _pid() -> int:
    return os.getpid()


def test_only_the_first_worker_to_ask_warms_up_and_the_refit_goes_to_it():
    with WorkerPool(2) as pool:
        pids = [pool.submit(i, _pid).result(timeout=120) for i in range(2)]
        # Worker 1 runs out of trials first; worker 0 after it.
        assert pool.submit(1, _claim).result() is True
        assert pool.submit(0, _claim).result() is False
        # A task meant for the warmed worker goes to worker 1 whenever both are idle;
        # any other task goes to the first idle worker, as before.
        assert [pool.run_all(_pid, [()], warm_first=True)[0] for _ in range(3)] == [pids[1]] * 3
        assert pool.run_all(_pid, [()])[0] == pids[0]
