"""`tuner ui` starts a real MLflow server on loopback that serves our store, and stopping
`tuner ui` (a service manager's SIGTERM, Ctrl-C) stops every process it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
from mlflow.tracking import MlflowClient

from tuner.tracking.store import get_or_create_experiment, resolve_tracking_uri

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_ui(port: int) -> subprocess.Popen:
    # A session of its own, as under a service manager: a signal sent to it reaches tuner alone.
    return subprocess.Popen(
        [sys.executable, "-m", "tuner", "ui", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _groups(ui: subprocess.Popen, processes: list[psutil.Process] | None = None) -> set[int]:
    """The process groups of tuner and of ``processes`` (default: its descendants now)."""
    groups = {ui.pid}
    with contextlib.suppress(psutil.Error):
        processes = psutil.Process(ui.pid).children(recursive=True) if processes is None else processes
    for process in processes or []:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(process.pid))
    return groups


def _kill_groups(groups: set[int]) -> None:
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _stop_and_check(ui: subprocess.Popen, sig: signal.Signals, port: int) -> None:
    """Send ``sig`` to tuner alone; it must exit promptly with nothing it started left behind."""
    started = psutil.Process(ui.pid).children(recursive=True)  # recorded before the signal
    assert started, "tuner ui started no server"
    groups = _groups(ui, started)
    passed = False
    try:
        ui.send_signal(sig)
        began = time.monotonic()
        _, stderr = ui.communicate(timeout=30)
        assert ui.returncode == 0, stderr
        assert time.monotonic() - began < 15, "tuner ui took too long to stop"
        assert "MLflow UI stopped" in stderr
        assert not [p for p in started if _running(p)], "processes tuner ui started outlived it"
        with socket.socket() as sock:  # nothing listens on the port any more
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server rebinding it would
            sock.bind(("127.0.0.1", port))
        passed = True
    finally:
        if not passed:  # never leave a server behind: its process groups, with what joined them since
            _kill_groups(groups)


def test_ui_serves_the_local_store_on_loopback_until_sigterm_stops_all_it_started():
    uri = resolve_tracking_uri()  # ./mlruns in this test's own directory
    experiment = get_or_create_experiment(uri, "ui-check")
    MlflowClient(uri).create_run(experiment, run_name="search")
    port = _free_port()
    ui = _start_ui(port)
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui-check"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = json.load(response)
                break
            except OSError:
                assert ui.poll() is None, ui.stderr.read()
                assert time.monotonic() < deadline, "the UI did not answer within 120 s"
                time.sleep(1)
        assert body["experiment"]["name"] == "ui-check"
        assert body["experiment"]["experiment_id"] == experiment
        listening = {
            c.laddr.ip
            for c in psutil.net_connections("inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}  # loopback only
    except BaseException:
        _kill_groups(_groups(ui))
        raise
    _stop_and_check(ui, signal.SIGTERM, port)


def test_ctrl_c_stops_tuner_ui_and_its_server_even_while_it_starts():
    port = _free_port()
    ui = _start_ui(port)
    deadline = time.monotonic() + 60
    # Ctrl-C once uvicorn runs: the server is a tree of processes by then, still growing.
    while not any(
        "uvicorn" in " ".join(p.cmdline()) for p in psutil.Process(ui.pid).children(recursive=True)
    ):
        assert ui.poll() is None, ui.stderr.read()
        assert time.monotonic() < deadline, "MLflow's server did not start within 60 s"
        time.sleep(0.2)
    _stop_and_check(ui, signal.SIGINT, port)


@pytest.mark.parametrize("taken", [False, True], ids=["out-of-range", "in-use"])
def test_a_port_out_of_range_or_in_use_is_one_line_and_exit_2_before_mlflow_starts(taken):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1] if taken else 99999
        done = subprocess.run(
            [sys.executable, "-m", "tuner", "ui", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--port" in lines[0]
    assert ("in use" in lines[0]) == taken and "Traceback" not in done.stderr
