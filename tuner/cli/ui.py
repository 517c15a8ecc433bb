"""``tuner ui``: the MLflow UI on the tracking store, bound to loopback."""

from __future__ import annotations

import socket
import sys

import click

from tuner.cli.options import tracking_option
from tuner.errors import TunerError

UI_STOP_GRACE_SECONDS = 10.0  # for MLflow's server, workers and job consumers to exit on SIGTERM


@click.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind; loopback by default."
)
@tracking_option
def ui(port: int, host: str, tracking_uri: str | None) -> None:
    """Open the MLflow UI on the tracking store (Ctrl-C or SIGTERM stops it and all it started)."""
    from tuner.cli.process_tree import serve_until_stopped
    from tuner.redact import redact
    from tuner.tracking.store import client_for, local_artifact_root, resolve_tracking_uri

    check_port(host, port)
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://", "databricks")):
        raise TunerError(f"{redact(uri)} is a tracking server already: open it in a browser")
    client_for(uri)  # a local store's folder, so that a first `tuner ui` shows an empty store
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",  # one person's UI: MLflow's default of 4 server processes only slows its start
    ]
    artifacts = local_artifact_root(uri)
    if artifacts is not None:  # experiments created from the UI keep their artifacts in mlruns/ too
        command += ["--artifacts-destination", str(artifacts)]
    click.echo(f"MLflow UI for {redact(uri)} at http://{host}:{port} (Ctrl-C to stop)", err=True)
    for name, link in search_links(uri, f"http://{host}:{port}"):
        click.echo(f"  {name}: {link}", err=True)
    raise SystemExit(serve_until_stopped(command, UI_STOP_GRACE_SECONDS))


def check_port(host: str, port: int) -> None:
    """A port MLflow can serve on: in range and free on ``host`` (MLflow would fail with its own
    lines and exit 1; a user's mistake is one line and exit 2 here)."""
    if not 1 <= port <= 65535:
        raise TunerError(f"--port must be between 1 and 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as MLflow's server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise TunerError(
                f"cannot serve on {host}:{port} ({exc.strerror}): another program uses it; pick a free one "
                f"with --port"
            ) from None


def search_links(tracking_uri: str, base: str, latest: int = 5) -> list[tuple[str, str]]:
    """Links to the trials of the latest searches (their shared view, tuner.tracking.shared_views);
    an experiment from before tuner wrote views gets the link to its training runs."""
    from tuner.tracking.shared_views import TRIALS, VIEW_TAG, view_link
    from tuner.tracking.store import client_for, runs_link

    experiments = client_for(tracking_uri).search_experiments(order_by=["last_update_time DESC"])
    named = [e for e in experiments if e.name != "Default"][:latest]
    return [
        (
            e.name,
            view_link(base, e.experiment_id)
            if VIEW_TAG.format(key=TRIALS) in e.tags
            else runs_link(base, e.experiment_id),
        )
        for e in named
    ]


COMMANDS = [ui]
