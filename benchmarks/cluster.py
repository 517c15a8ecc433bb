"""Cluster workers, measured: pace with 1, 2, 3 workers; storage and tracking cost per trial; SIGKILL to retry.

Everything real and local: a PostgreSQL study (``$TUNER_TEST_POSTGRES``, default the
server on this project's machines), an ``mlflow server`` on loopback with its backend
in PostgreSQL, and ``tuner worker`` processes. Tiny trials (digits, 2 epochs) make the
fixed costs show. Run: ``python benchmarks/cluster.py [--trials 12]``. It prints one
table per question; figures are side by side from one run (the machine is noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from statistics import median

import optuna
import psycopg

from tuner.engines.optuna.storage import get_storage

SERVER = os.environ.get("TUNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TINY = ["--space", "mlp_quick", "--data", "digits", "--epochs", "2", "--patience", "2", "--pruner", "none"]
BEAT = ["--heartbeat-interval", "1", "--grace-period", "3"]


def new_database() -> str:
    name = f"tuner_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return SERVER.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def start_tracking_server(backend: str, artifacts: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    command += ["--backend-store-uri", backend.replace("postgresql", "postgresql+psycopg", 1)]
    command += ["--artifacts-destination", str(artifacts)]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return server, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("mlflow server did not start")


def tuner(env: dict[str, str], *args: str, cwd: str) -> None:
    subprocess.run([sys.executable, "-m", "tuner", *args], env=env, cwd=cwd, check=True, capture_output=True)


def workers(env: dict[str, str], study: str, n: int, cwd: str) -> list[subprocess.Popen]:
    command = [sys.executable, "-m", "tuner", "worker", "--study", study]
    return [
        subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(n)
    ]


def finished(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return optuna.load_study(study_name=study, storage=get_storage(storage)).get_trials(states=states)


def pace(env: dict[str, str], storage: str, n_workers: int, trials: int, cwd: str) -> dict[str, float]:
    """Trials per minute: over the whole launch, and between the first trial's start and the last's end."""
    study = f"pace{n_workers}"
    tuner(env, "study", "create", "--study", study, *TINY, "--trials", str(trials), cwd=cwd)
    started = time.time()
    for w in workers(env, study, n_workers, cwd):
        w.wait()
    wall = time.time() - started
    done = finished(storage, study)
    first = min(t.datetime_start.timestamp() for t in done)
    last = max(t.datetime_complete.timestamp() for t in done)
    return {
        "workers": n_workers,
        "trials": len(done),
        "wall_s": wall,
        "per_min_launch": 60 * len(done) / wall,
        "per_min_running": 60 * len(done) / (last - first),
    }


def overhead(env: dict[str, str], storage: str, trials: int, cwd: str) -> dict[str, float]:
    """Per trial, in ms: the trial's wall time less its model's tracing and training (one worker)."""
    study = f"cost-{uuid.uuid4().hex[:6]}"
    tuner(env, "study", "create", "--study", study, *TINY, "--trials", str(trials), cwd=cwd)
    for w in workers(env, study, 1, cwd):
        w.wait()
    rest = []
    for t in finished(storage, study)[1:]:  # the first trial also pays the process's first connections
        timing = t.user_attrs["timing"]
        rest.append((t.duration.total_seconds() - timing["training_s"] - timing["tracing_s"]) * 1000)
    logging = [t.user_attrs["timing"]["logging_s"] * 1000 for t in finished(storage, study)[1:]]
    return {"outside_training_ms": median(rest), "epoch_logging_ms": median(logging)}


def kill_to_retry(env: dict[str, str], storage: str, cwd: str) -> float:
    """Seconds from SIGKILL of a worker mid-trial to the start of its trial's retry (heartbeat 1 s, grace 3 s)."""
    study = "kill"
    long = [*TINY, "--epochs", "20", "--patience", "20", *BEAT, "--trials", "4"]
    tuner(env, "study", "create", "--study", study, *long, cwd=cwd)
    procs = workers(env, study, 2, cwd)
    victim = None
    while victim is None:
        running = optuna.load_study(study_name=study, storage=storage).get_trials(
            states=(optuna.trial.TrialState.RUNNING,)
        )
        victim = next((t for t in running if "tuner.worker" in t.user_attrs), None)
        time.sleep(0.1)
    pid = int(victim.user_attrs["tuner.worker"].split(":")[1])
    owner = next(p for p in procs if os.getpgid(pid) == p.pid)
    os.killpg(owner.pid, signal.SIGKILL)
    killed = time.time()
    for p in procs:
        p.wait()
    trials = optuna.load_study(study_name=study, storage=storage).get_trials()
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == victim.number)
    return retry.datetime_start.timestamp() - killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="trials per pace measurement")
    args = parser.parse_args()
    backend, study_db = new_database(), new_database()
    local_db = new_database()
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_tracking_server(backend, Path(tmp) / "artifacts")
        try:
            remote = {**os.environ, "TUNER_STORAGE": study_db, "MLFLOW_TRACKING_URI": url}
            paces = [pace(remote, study_db, n, args.trials, tmp) for n in (1, 2, 3)]
            print(
                "| workers | trials | wall s | trials/min (launch to exit) | trials/min (first start to last end) |"
            )
            print("|---|---|---|---|---|")
            for p in paces:
                print(
                    f"| {p['workers']} | {p['trials']} | {p['wall_s']:.1f} | {p['per_min_launch']:.1f} | {p['per_min_running']:.1f} |"
                )
            journal = str(Path(tmp) / "local" / "optuna.journal")
            local = {**os.environ, "TUNER_STORAGE": journal}
            local.pop("MLFLOW_TRACKING_URI", None)
            local_cwd = Path(tmp) / "local"
            local_cwd.mkdir()
            costs = {
                "PostgreSQL + tracking server (HTTP)": overhead(remote, study_db, args.trials, tmp),
                "PostgreSQL + local store": overhead(
                    {**remote, "TUNER_STORAGE": local_db, "MLFLOW_TRACKING_URI": ""},
                    local_db,
                    args.trials,
                    str(local_cwd),
                ),
                "journal file + local store (default)": overhead(local, journal, args.trials, str(local_cwd)),
            }
            print(
                "\n| storage + tracking | per trial outside training (median ms) | of which epoch logging (ms) |"
            )
            print("|---|---|---|")
            for name, c in costs.items():
                print(f"| {name} | {c['outside_training_ms']:.0f} | {c['epoch_logging_ms']:.0f} |")
            seconds = kill_to_retry(remote, study_db, tmp)
            print(
                f"\nSIGKILL of a worker mid-trial to the start of its retry: {seconds:.1f} s (heartbeat 1 s, grace 3 s)"
            )
            print(json.dumps({"pace": paces, "overhead": costs, "kill_to_retry_s": seconds}))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
            for db in (backend, study_db, local_db):
                drop_database(db)


if __name__ == "__main__":
    main()
