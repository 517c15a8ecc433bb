"""`tuner ui` starts a real MLflow server on loopback that serves our store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from mlflow.tracking import MlflowClient

from tuner.tracking import get_or_create_experiment, resolve_tracking_uri


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_serves_the_local_store_on_loopback():
    uri = resolve_tracking_uri()  # ./mlruns in this test's own directory
    experiment = get_or_create_experiment(uri, "ui-check")
    MlflowClient(uri).create_run(experiment, run_name="search")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tuner", "ui", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui-check"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = json.load(response)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the UI did not answer within 120 s"
                time.sleep(1)
        assert body["experiment"]["name"] == "ui-check"
        assert body["experiment"]["experiment_id"] == experiment
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
