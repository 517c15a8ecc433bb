"""A tracking server with authentication refuses wrong credentials in one line at start;
`--tensorboard DIR` writes each trial's Keras TensorBoard logs under DIR/<search>/<trial>."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from servers import free_port

from tuner.cli.main import cli

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "Adm1n-s3cret-pw"


@pytest.fixture
def auth_server(tmp_path: Path):
    """`mlflow server --app-name basic-auth` on loopback: anonymous and wrong users get 401."""
    port = free_port()
    ini = tmp_path / "auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'auth.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "a-test-secret"
    command = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--host", "127.0.0.1"]
    command += [
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'runs.db'}",
        "--workers",
        "1",
    ]
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the auth server did not start"
            time.sleep(0.5)
    yield url
    os.killpg(server.pid, 9)
    server.wait(30)


def _search(*extra: str, env: dict[str, str] | None = None):
    args = ["search", "--quiet", "--data", "iris", "--space", "mlp_quick", "--epochs", "2", *extra]
    return CliRunner(env=env).invoke(cli, args, prog_name="tuner")


def test_wrong_or_missing_credentials_are_one_error_line_at_start(auth_server, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    anonymous = _search("--tracking-uri", auth_server)
    assert anonymous.exit_code == 2 and len(anonymous.output.splitlines()) == 1, anonymous.output
    assert "refused no credentials (401 Unauthorized)" in anonymous.output
    wrong = _search(
        "--tracking-uri",
        auth_server,
        env={"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "no"},
    )
    assert wrong.exit_code == 2 and len(wrong.output.splitlines()) == 1, wrong.output
    assert "refused user 'admin' with that password (401 Unauthorized)" in wrong.output
    assert "Traceback" not in anonymous.output + wrong.output
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlruns" / "optuna.journal").exists()


def test_tensorboard_logs_each_trial_under_the_search(tmp_path):
    result = _search(
        "--trials", "2", "--n-jobs", "1", "--recheck", "1", "--name", "tb", "--tensorboard", "tb"
    )
    assert result.exit_code == 0, result.output
    for trial in ("trial-0", "trial-1"):
        events = list((tmp_path / "tb" / "tb" / trial).rglob("events.out.tfevents.*"))
        assert events and all(e.stat().st_size > 0 for e in events), trial
