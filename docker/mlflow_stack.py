"""The MLflow tracking server of docker/compose.yaml, and its users (baked into tuner's image).

    python /usr/local/lib/tuner/mlflow_stack.py serve
    python /usr/local/lib/tuner/mlflow_stack.py provision

``serve`` creates the server's two databases on the stack's PostgreSQL when they are
missing (the backend store and the ``basic-auth`` app's user store), writes the auth
app's settings (no anonymous access: ``default_permission = NO_PERMISSIONS``) and
replaces itself with ``mlflow server --app-name basic-auth``, artifacts served by the
server from ``/srv/mlflow/artifacts`` (a volume). MLflow (3.17) ships no default admin
password: the admin is created at the first start from ``MLFLOW_AUTH_ADMIN_PASSWORD``;
a store that still has the admin password older MLflow versions shipped gets it replaced
by that one at start (MLflow's own upgrade path).

``provision`` (a one-shot service, as the admin) makes sure that the default admin
password is refused, that the worker user exists with the password of
``TUNER_MLFLOW_PASSWORD`` (created, or its password set again, so that changing the
.env file and running it again rotates it), that the experiment ``TUNER_EXPERIMENT``
exists and that the worker user may EDIT it (create runs, log metrics, artifacts and
models): nothing more, no admin rights, no other experiment. Run again, it changes
nothing.

Settings come from the environment only (docker/.env, see docker/.env.example).
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import quote

ARTIFACTS = "/srv/mlflow/artifacts"
AUTH_INI = "/tmp/basic_auth.ini"
LEGACY_ADMIN_PASSWORD = "password1234"  # what MLflow's basic_auth.ini shipped before 3.x


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"error: ${name} is not set (see docker/.env.example)")
    return value


def database_url(database: str, driver: str = "postgresql+psycopg") -> str:
    user, password = quote(env("POSTGRES_USER"), safe=""), quote(env("POSTGRES_PASSWORD"), safe="")
    host = os.environ.get("POSTGRES_HOST", "db")
    return f"{driver}://{user}:{password}@{host}:5432/{database}"


def create_databases(*names: str) -> None:
    import psycopg

    deadline = time.monotonic() + 120
    while True:
        try:
            conn = psycopg.connect(database_url("postgres", "postgresql"), autocommit=True, connect_timeout=5)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    with conn:
        for name in names:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
                print(f"created database {name}", flush=True)


def serve() -> None:
    backend_db = os.environ.get("MLFLOW_DB", "mlflow")
    auth_db = os.environ.get("MLFLOW_AUTH_DB", "mlflow_auth")
    env("MLFLOW_AUTH_ADMIN_PASSWORD")  # read by MLflow itself; fail here with one line
    env("MLFLOW_FLASK_SERVER_SECRET_KEY")
    create_databases(backend_db, auth_db)
    with open(os.open(AUTH_INI, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as ini:
        ini.write(
            "[mlflow]\n"
            "default_permission = NO_PERMISSIONS\n"
            f"database_uri = {database_url(auth_db)}\n"
            f"admin_username = {os.environ.get('MLFLOW_AUTH_ADMIN_USERNAME', 'admin')}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = AUTH_INI
    command = [
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        "0.0.0.0",
        "--port",
        "5000",
        "--backend-store-uri",
        database_url(backend_db),
        "--serve-artifacts",
        "--artifacts-destination",
        ARTIFACTS,
        "--workers",
        os.environ.get("MLFLOW_WORKERS", "2"),
        # Host headers it answers (against DNS rebinding): its name on the stack's network, and
        # the published port on this machine; add your own name in $MLFLOW_ALLOWED_HOSTS.
        "--allowed-hosts",
        os.environ.get("MLFLOW_ALLOWED_HOSTS")
        or "mlflow,mlflow:5000,localhost,localhost:*,127.0.0.1,127.0.0.1:*",
    ]
    os.execvp(command[0], command)


def wait_for(uri: str, timeout: float = 180) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{uri}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"error: the tracking server {uri} did not answer in {timeout:.0f} s")
        time.sleep(1)


def provision() -> None:
    import requests
    from mlflow.exceptions import RestException
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.tracking import MlflowClient

    uri = env("MLFLOW_TRACKING_URI").rstrip("/")
    admin = os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME", "admin")
    admin_password = env("MLFLOW_AUTH_ADMIN_PASSWORD")
    user, password = env("TUNER_MLFLOW_USER"), env("TUNER_MLFLOW_PASSWORD")
    experiment = env("TUNER_EXPERIMENT")
    wait_for(uri)

    who = f"{uri}/api/2.0/mlflow/users/get"
    if requests.get(who, params={"username": admin}, auth=(admin, LEGACY_ADMIN_PASSWORD), timeout=10).ok:
        sys.exit("error: the tracking server still accepts the default admin password")
    if (
        requests.get(who, params={"username": admin}, auth=(admin, admin_password), timeout=10).status_code
        != 200
    ):
        sys.exit(
            f"error: the tracking server refuses admin user {admin!r} with $MLFLOW_AUTH_ADMIN_PASSWORD; "
            "the admin's password is set at the store's first start only: give that one, or change it "
            "on the server (PATCH /api/2.0/mlflow/users/update-password)"
        )
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = admin, admin_password
    auth = AuthServiceClient(uri)
    try:
        auth.get_user(user)
        auth.update_user_password(user, password)
        print(f"user {user}: exists, password set", flush=True)
    except RestException:
        auth.create_user(user, password)
        print(f"user {user}: created", flush=True)

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    granted = auth.get_user_permission(user, "experiment", experiment_id).permission
    if granted not in ("EDIT", "MANAGE"):
        if granted not in ("NO_PERMISSIONS", "READ", "USE"):  # an explicit lower grant (DENY)
            auth.revoke_user_permission(user, "experiment", experiment_id)
        auth.grant_user_permission(user, "experiment", experiment_id, "EDIT")
    print(f"experiment {experiment!r} ({experiment_id}): {user} may edit it", flush=True)


if __name__ == "__main__":
    actions = {"serve": serve, "provision": provision}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(actions)}")
    actions[sys.argv[1]]()
