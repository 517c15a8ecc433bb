"""The ``tuner`` command line: thin commands over the Python API.

Heavy libraries (TensorFlow, MLflow) are imported inside commands, so ``tuner --help``
answers at once. A :class:`~tuner.errors.TunerError` ends the command with a
one-line ``error:`` message and exit status 2; Ctrl-C (or SIGTERM during a search)
exits with 130.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import click

from tuner.errors import TunerError

USER_ERROR = 2


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TunerError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


output_option = click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Human-readable table, or JSON on stdout for scripts.",
)
tracking_option = click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    help="MLflow tracking URI. Default: $MLFLOW_TRACKING_URI, else the local store in ./mlruns.",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuner")
def cli() -> None:
    """Hyperparameter search for Keras models, every trial recorded in MLflow.

    \b
    Quick start:
      tuner search --space search_spaces/mlp_classification.yaml --data digits --trials 20
      tuner best --name mlp_classification-digits
      tuner ui
    """


def config_options(command: Any) -> Any:
    """One click option per :class:`~tuner.config.SearchConfig` field: its default, help and choices."""
    from dataclasses import MISSING, fields

    from tuner.config import SearchConfig

    for f in reversed([f for f in fields(SearchConfig) if f.metadata["cli"]]):
        meta, flag = f.metadata, "--" + f.name.replace("_", "-")
        kind = {"int": int, "int | None": int, "float": float, "float | None": float}.get(str(f.type))
        extra: dict[str, Any] = {"is_flag": True} if f.type == "bool" else {"type": kind}
        if meta["choices"]:
            extra["type"] = click.Choice(meta["choices"])
        default = None if f.default is MISSING else f.default
        shown = default is not None and f.type != "bool"
        command = click.option(
            flag,
            f.name,
            default=default,
            show_default=shown,
            help=meta["help"],
            envvar=meta["envvar"],
            **extra,
        )(command)
    return command


@cli.command()
@config_options
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@output_option
def search(output: str, quiet: bool, **options: Any) -> None:
    """Search a space on a dataset; print the best trials, parameters and test score.

    \b
    Examples:
      tuner search --space search_spaces/mlp_classification.yaml --data digits --trials 20
      tuner search --engine random --cv 3 --n-jobs 2 --trials 10 --data digits
      tuner search --space mlp_regression --data diabetes --metric mae --pruner median
      tuner search --study my-study --resume --trials 10
    """
    from tuner.interrupts import handle_signals
    from tuner.search import SearchConfig, run_search

    config = SearchConfig(**options, show_progress=not quiet and output == "table")
    with handle_signals(raise_at_once=True):  # SIGTERM from a scheduler ends the search like Ctrl-C
        result = run_search(config)
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    from tuner.report import print_search_result

    print_search_result(result, config)


@cli.group(invoke_without_command=True)
@click.pass_context
def spaces(ctx: click.Context) -> None:
    """List the shipped search spaces (`tuner spaces check FILE` validates one)."""
    if ctx.invoked_subcommand is not None:
        return
    from tuner.report import print_spaces
    from tuner.space import load_space, shipped_spaces

    print_spaces([load_space(p) for p in shipped_spaces()])


@spaces.command("check")
@click.argument("files", nargs=-1, required=True)
def spaces_check(files: tuple[str, ...]) -> None:
    """Validate search-space FILES; print what each one searches."""
    from tuner.report import print_spaces
    from tuner.space import load_space

    print_spaces([load_space(f) for f in files])
    click.echo(f"ok: {len(files)} file(s) valid")


@cli.command()
@click.option("--name", required=True, help="The search name (MLflow experiment).")
@click.option("--run", "run_id", default=None, help="A search run id. Default: the latest completed search.")
@tracking_option
@output_option
def best(name: str, run_id: str | None, tracking_uri: str | None, output: str) -> None:
    """Show the best trial of a search: parameters, scores, model and weights."""
    from tuner.results import find_search
    from tuner.tracking import resolve_tracking_uri

    found = find_search(resolve_tracking_uri(tracking_uri), name, run_id)
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    from tuner.report import print_best

    print_best(found)


@cli.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind; loopback by default."
)
@tracking_option
def ui(port: int, host: str, tracking_uri: str | None) -> None:
    """Open the MLflow UI on the tracking store (Ctrl-C to stop)."""
    from tuner.tracking import local_artifact_root, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://", "databricks")):
        raise TunerError(f"{uri} is a tracking server already: open it in a browser")
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
    ]
    artifacts = local_artifact_root(uri)
    if artifacts is not None:  # experiments created from the UI keep their artifacts in mlruns/ too
        command += ["--artifacts-destination", str(artifacts)]
    click.echo(f"MLflow UI for {uri} at http://{host}:{port} (Ctrl-C to stop)", err=True)
    raise SystemExit(subprocess.call(command))


def main() -> None:
    cli(prog_name="tuner")


if __name__ == "__main__":
    main()
