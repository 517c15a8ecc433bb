"""``tuner ui``: the MLflow UI on the tracking store, bound to loopback."""

from __future__ import annotations

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


def search_links(tracking_uri: str, base: str, latest: int = 5) -> list[tuple[str, str]]:
    """Links to the runs of the latest searches, in the view that shows training runs.

    MLflow 3.17's UI opens every experiment on its GenAI overview until the browser's
    "Model training" switch is set once, whatever the experiment's tags say; these
    links open the runs table directly.
    """
    from tuner.tracking.store import client_for, runs_link

    experiments = client_for(tracking_uri).search_experiments(order_by=["last_update_time DESC"])
    named = [e for e in experiments if e.name != "Default"][:latest]
    return [(e.name, runs_link(base, e.experiment_id)) for e in named]


COMMANDS = [ui]
