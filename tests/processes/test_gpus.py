"""One GPU per worker process, round robin: the assignment, and real processes taking their turn.

No GPU is needed: the processes only read which device they were given. What ran on a
real GPU is in docs/cluster.md.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from tuner.processes.gpus import assign, claim_gpu, share_gpus, visible_gpus
from tuner.processes.pool import WorkerPool


def test_round_robin_over_the_gpus():
    assert [assign(i, ["0", "1", "2"]) for i in range(7)] == ["0", "1", "2", "0", "1", "2", "0"]
    assert assign(3, []) is None


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == []


def _claim(_: int) -> str | None:
    return claim_gpu()


@pytest.mark.slow  # real worker processes
def test_processes_started_together_take_one_gpu_each_round_robin():
    with share_gpus(["0", "1", "2"]):
        with multiprocessing.get_context("spawn").Pool(5) as pool:
            claimed = pool.map(_claim, range(5), chunksize=1)
    assert sorted(claimed) == ["0", "0", "1", "1", "2"]
    assert "TUNER_GPUS" not in os.environ  # the parent's environment is as before


def _device() -> tuple[int, str | None]:
    time.sleep(0.5)  # busy for a while, so a second task goes to the other process once it is warm
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.slow  # real worker processes
@pytest.mark.parametrize("listed, expected", [("0,1", {"0", "1"}), ("5", {"5"})])
def test_a_worker_pool_gives_its_processes_the_gpus_in_turn(monkeypatch, listed, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", listed)  # as on a machine with these GPUs
    pool, devices = WorkerPool(2), {}
    try:
        deadline = time.monotonic() + 120
        while len(devices) < 2 and time.monotonic() < deadline:  # until both processes answered
            devices.update(pool.run_all(_device, [(), ()]))
    finally:
        pool.close()
    assert len(devices) == 2 and set(devices.values()) == expected
