"""docker/ for real: the image built here, a search in it, the compose stack finishing a study,
`docker stop` of a worker mid-trial, and nothing left behind.

No image registry is reachable here: the base image is made offline with debootstrap
(tests/helpers/infra.py, kept under a tag), and so is a PostgreSQL image for the stack (users get the
official one). The engine is Debian's docker.io, docker-compose is Debian's 1.29.
.ci/stages/docker.sh installs them; this module starts dockerd when none answers, and stops it
at the end, with its bridge and iptables rules.

    python -m pytest -m docker tests/deploy/test_docker.py
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from infra import (
    REPO,
    Compose,
    DockerEngine,
    Timings,
    base_image,
    docker_leftovers,
    free_port,
    image_size_mb,
    postgres_image,
    sh,
    temporary_folder,
    wait_until,
    write_env_file,
)
from mlflow.tracking import MlflowClient

from tuner.engines.optuna.record import PARENT_RUN_ATTR, REASON_ATTR, REQUEUED_ATTR

# Run by .ci/stages/docker.sh, which installs Docker's engine; deselected by default (pyproject's addopts),
# and never skipped: where Docker's engine is missing the test fails.
pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "tuner-test/tuner:cpu"
TINY = "--epochs 3 --recheck 1"
SLOW = "--epochs 400 --patience 400 --pruner none --recheck 1"


@pytest.fixture(scope="module")
def timings() -> Timings:
    return Timings()


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    with temporary_folder("tuner-docker-") as folder:
        docker = DockerEngine(folder)
        docker.start()
        try:
            yield docker
        finally:
            ours = docker.process is not None
            docker.stop()
            if ours:  # an engine of ours leaves no bridge, no iptables rule, no chain behind
                assert docker_leftovers() == []


@pytest.fixture(scope="module")
def image(engine, timings, tmp_path_factory) -> str:
    """docker/build.sh as a user runs it, on the offline base: the CPU image, its wheels
    downloaded first with this machine's pip, at the versions of the lock (constraints.txt)."""
    base = base_image(tmp_path_factory.mktemp("base"), timings)
    start = time.monotonic()
    env = {**os.environ, "PYTHON": sys.executable, "DOCKER_BUILDKIT": "0"}
    done = sh(
        REPO / "docker" / "build.sh",
        "--base",
        base,
        "--tag",
        IMAGE,
        "--wheelhouse",
        env=env,
        timeout=1800,
    )
    timings.record("tuner image build (docker/build.sh, CPU)", time.monotonic() - start)
    print(done.stdout[-600:])
    print(f"image {IMAGE}: {image_size_mb(IMAGE):.0f} MB")
    return IMAGE


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return sh("docker", *args, check=check, timeout=timeout)


def test_the_compose_files_hold_no_credentials_and_need_a_study_name():
    docker_dir = REPO / "docker"
    example = dict(
        line.split("=", 1)
        for line in (docker_dir / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    text = (docker_dir / "compose.yaml").read_text()
    for key, value in example.items():
        if "PASSWORD" in key or "SECRET" in key:
            assert value not in text
    compose = [
        "docker-compose",
        "--env-file",
        str(docker_dir / ".env.example"),
        "-f",
        str(docker_dir / "compose.yaml"),
    ]
    gpu = [*compose, "-f", str(docker_dir / "compose.gpu.yaml")]
    for command in (compose, gpu):
        assert (
            "worker --study nightly-1"
            in sh(*command, "config", env={**os.environ, "TUNER_STUDY": "nightly-1"}).stdout
        )
    unnamed = sh(
        *compose, "config", check=False, env={k: v for k, v in os.environ.items() if k != "TUNER_STUDY"}
    )
    assert unnamed.returncode != 0 and "TUNER_STUDY" in unnamed.stderr


def test_the_image_runs_tuner_as_a_non_root_user_under_tini_without_build_leftovers(image):
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["Entrypoint"] == ["tini", "--", "tuner"]
    assert config["User"] == "10001:10001"
    assert "Usage: tuner" in docker("run", "--rm", image, "--help").stdout
    leftovers = docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "command -v gcc cc make g++; ls -d /build /src /root/.cache /home/tuner/.cache; "
        "ls /var/lib/apt/lists | grep -v -x -e lock -e partial; "
        "ls -d /opt/venv/lib/python3*/site-packages/tensorflow/include; true",
        check=False,
    ).stdout
    assert leftovers.strip() == ""  # no compiler, builder files, pip cache, apt lists, TF headers


def test_a_two_trial_search_runs_in_the_image_on_a_read_only_root(image, timings):
    """As a Kubernetes pod runs it (deploy/k8s): read-only root, writable /tmp and home only."""
    start = time.monotonic()
    done = docker(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/home/tuner:uid=10001,gid=10001",
        image,
        "search",
        "--data",
        "iris",
        "--space",
        "mlp_quick",
        "--epochs",
        "3",
        "--trials",
        "2",
        "--n-jobs",
        "1",
        timeout=600,
    )
    timings.record("2-trial search in the image", time.monotonic() - start)
    assert "Best parameters" in done.stdout and "Test accuracy" in done.stdout, done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack(engine, image, timings, tmp_path_factory) -> Iterator[tuple[Compose, dict[str, str]]]:
    """docker/compose.yaml with an env file of fresh credentials, torn down with its volumes."""
    folder = tmp_path_factory.mktemp("stack")
    port = free_port()
    values = {
        "POSTGRES_USER": "tuner",
        "POSTGRES_PASSWORD": secrets.token_hex(12),
        "POSTGRES_DB": "tuner",
        "MLFLOW_ADMIN_USER": "admin",
        "MLFLOW_ADMIN_PASSWORD": secrets.token_hex(12),
        "TUNER_MLFLOW_USER": "tuner",
        "TUNER_MLFLOW_PASSWORD": secrets.token_hex(12),
        "MLFLOW_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_BIND": "127.0.0.1",
        "MLFLOW_PORT": str(port),
        "TUNER_EXPERIMENT": "ci",
        "TUNER_SPACE": "mlp_quick",
        "TUNER_DATA": "iris",
        "TUNER_IMAGE": image,
        "POSTGRES_IMAGE": postgres_image(base_image(folder, timings), timings),
    }
    compose = Compose(f"tunertest{secrets.token_hex(3)}", write_env_file(folder / "env", values))
    values["url"] = f"http://127.0.0.1:{port}"
    try:
        yield compose, values
    finally:
        logs = compose("logs", "--no-color", "--tail", "40", check=False, env={"TUNER_STUDY": "-"})
        print(logs.stdout[-6000:])
        compose(
            "down", "--volumes", "--remove-orphans", "--timeout", "30", check=False, env={"TUNER_STUDY": "-"}
        )
        assert (
            docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={compose.project}").stdout
            == ""
        )
        assert compose.project not in docker("volume", "ls", "-q").stdout
        assert compose.project not in docker("network", "ls", "--format", "{{.Name}}").stdout


def study_trials(compose: Compose, study: str) -> dict:
    """The study as Optuna stores it, read from inside the stack (its database is not published)."""
    script = (
        "import json, os, optuna\n"
        f"s = optuna.load_study(study_name={study!r}, storage=os.environ['TUNER_STORAGE'])\n"
        "print(json.dumps({'attrs': s.user_attrs, 'trials': [dict(number=t.number, state=t.state.name, "
        "params=t.params, user_attrs=t.user_attrs, fixed=t.system_attrs.get('fixed_params'), "
        "complete=t.datetime_complete.timestamp() if t.datetime_complete else None) for t in s.trials]}, default=str))\n"
    )
    done = compose(
        "run",
        "--rm",
        "--no-deps",
        "--entrypoint",
        "python",
        "worker",
        "-c",
        script,
        env={"TUNER_STUDY": study},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def client(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """The workers' user, as MLflow's client signs in: from the environment."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", values["TUNER_MLFLOW_USER"])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", values["TUNER_MLFLOW_PASSWORD"])
    return MlflowClient(values["url"])


def test_the_compose_stack_finishes_a_study_with_two_workers(stack, timings, monkeypatch):
    compose, values = stack
    study = "ci-night"
    env = {"TUNER_STUDY": study, "TUNER_TRIALS": "4", "TUNER_CREATE_ARGS": TINY}
    start = time.monotonic()
    compose("up", "-d", "--scale", "worker=2", "worker", "finish", env=env, timeout=900)
    timings.record(
        "compose: up -d until the workers run (db, mlflow, provision, create)", time.monotonic() - start
    )
    finish = compose.container("finish")
    assert docker("wait", finish, timeout=900).stdout.strip() == "0", docker(
        "logs", finish, check=False
    ).stderr[-3000:]
    timings.record("compose: up to a finished study (2 workers, 4 tiny trials)", time.monotonic() - start)
    for index in (1, 2):
        state = json.loads(docker("inspect", compose.container("worker", index)).stdout)[0]["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0)

    found = study_trials(compose, study)
    trials = found["trials"]
    finished = [t for t in trials if t["state"] in ("COMPLETE", "PRUNED")]
    assert 4 <= len(finished) <= 5 and not [t for t in trials if t["state"] == "RUNNING"], trials
    params = [json.dumps(t["params"], sort_keys=True) for t in finished]
    assert len(set(params)) == len(params), "two containers sampled the same point"
    print("workers:", sorted({t["user_attrs"].get("tuner.worker") for t in finished}))

    # The runs, through the published port, as the worker user.
    mlflow = client(values, monkeypatch)
    parent = found["attrs"][PARENT_RUN_ATTR]
    run = mlflow.get_run(parent)
    assert run.info.status == "FINISHED"
    children = mlflow.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    trial_runs = {r.data.tags["optuna.trial"] for r in children if r.data.tags.get("tuner.kind") == "trial"}
    assert trial_runs == {str(t["number"]) for t in trials}
    assert any(m.source_run_id == parent for m in mlflow.search_logged_models([run.info.experiment_id]))

    # No anonymous access, no default admin password, no admin rights for the workers' user.
    search = f"{values['url']}/api/2.0/mlflow/experiments/search"
    assert requests.get(search, params={"max_results": 1}, timeout=10).status_code == 401
    assert (
        requests.get(
            search, params={"max_results": 1}, auth=("tuner", "wrong-password-1"), timeout=10
        ).status_code
        == 401
    )
    assert (
        requests.get(
            search, params={"max_results": 1}, auth=("admin", "password1234"), timeout=10
        ).status_code
        == 401
    )
    created = requests.post(
        f"{values['url']}/api/2.0/mlflow/users/create",
        json={"username": "intruder", "password": "intruder-password-1"},
        auth=(values["TUNER_MLFLOW_USER"], values["TUNER_MLFLOW_PASSWORD"]),
        timeout=10,
    )
    assert created.status_code == 403

    # The database is on the internal network only: no published port, no route out.
    db = json.loads(docker("inspect", compose.container("db")).stdout)[0]
    assert not db["HostConfig"]["PortBindings"]
    assert list(db["NetworkSettings"]["Networks"]) == [f"{compose.project}_backend"]
    assert (
        json.loads(docker("network", "inspect", f"{compose.project}_backend").stdout)[0]["Internal"] is True
    )


def test_docker_stop_of_a_worker_records_its_trial_as_interrupted(stack, timings, monkeypatch):
    compose, values = stack
    study = "ci-stopped"
    env = {"TUNER_STUDY": study, "TUNER_TRIALS": "2", "TUNER_CREATE_ARGS": SLOW}
    compose("up", "-d", "--scale", "worker=1", "worker", env=env, timeout=900)
    mlflow = client(values, monkeypatch)
    experiment = mlflow.get_experiment_by_name(values["TUNER_EXPERIMENT"]).experiment_id
    running = (
        f"tags.`optuna.study` = '{study}' and tags.`tuner.kind` = 'trial' and attributes.status = 'RUNNING'"
    )
    [victim] = wait_until("a running trial", lambda: mlflow.search_runs([experiment], running), 300, 0.5)
    time.sleep(1)  # well inside its training
    worker = compose.container("worker")
    assert docker("exec", worker, "cat", "/proc/1/comm").stdout.strip() == "tini"  # PID 1: the init
    stopped_at = time.time()
    docker("stop", "-t", "60", worker)
    timings.record("docker stop of a worker (SIGTERM to exit)", time.time() - stopped_at)
    state = json.loads(docker("inspect", worker).stdout)[0]["State"]
    assert state["ExitCode"] == 130, docker("logs", worker, check=False).stderr[-3000:]

    run = mlflow.get_run(victim.info.run_id)
    assert run.info.status == "FAILED" and run.data.tags["tuner.reason"].startswith("interrupted")
    timings.record("docker stop to the interrupted trial's run closed", run.info.end_time / 1000 - stopped_at)
    trials = study_trials(compose, study)["trials"]
    number = int(victim.data.tags["optuna.trial"])
    stopped = trials[number]
    assert stopped["state"] == "FAIL" and stopped["user_attrs"][REASON_ATTR].startswith("interrupted")
    timings.record(
        "docker stop to the interrupted trial recorded in the study", stopped["complete"] - stopped_at
    )
    [queued] = [t for t in trials if t["user_attrs"].get(REQUEUED_ATTR) == number]
    assert queued["state"] == "WAITING" and queued["fixed"] == stopped["params"]
