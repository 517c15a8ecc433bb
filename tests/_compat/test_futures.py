"""The private names of the standard library's process pools tuner relies on (``tuner._compat.futures``)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor

import psutil
import pytest

from tuner._compat.futures import executor_process, forkserver_pid
from tuner.processes.fork_server import start_early, start_method, worker_context

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
