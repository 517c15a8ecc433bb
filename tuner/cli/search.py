"""``tuner search``, ``tuner spaces`` and ``tuner best``."""

from __future__ import annotations

import json
from typing import Any

import click

from tuner.cli.options import config_options, output_option, tracking_option


@click.command()
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
    from tuner.engines import start_workers_early

    start_workers_early(options["engine"])  # workers import TensorFlow while this process sets up
    from tuner.config import SearchConfig
    from tuner.interrupts import handle_signals
    from tuner.jobs.local import run_search

    config = SearchConfig(**options, show_progress=not quiet and output == "table")
    with handle_signals(raise_at_once=True):  # SIGTERM from a scheduler ends the search like Ctrl-C
        result = run_search(config)
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    from tuner.cli.tables import print_search_result

    print_search_result(result, config)


@click.group(invoke_without_command=True)
@click.pass_context
def spaces(ctx: click.Context) -> None:
    """List the shipped search spaces (`tuner spaces check FILE` validates one)."""
    if ctx.invoked_subcommand is not None:
        return
    from tuner.cli.tables import print_spaces
    from tuner.space import load_space, shipped_spaces

    print_spaces([load_space(p) for p in shipped_spaces()])


@spaces.command("check")
@click.argument("files", nargs=-1, required=True)
def spaces_check(files: tuple[str, ...]) -> None:
    """Validate search-space FILES; print what each one searches."""
    from tuner.cli.tables import print_spaces
    from tuner.space import load_space

    print_spaces([load_space(f) for f in files])
    click.echo(f"ok: {len(files)} file(s) valid")


@click.command()
@click.option("--name", required=True, help="The search name (MLflow experiment).")
@click.option("--run", "run_id", default=None, help="A search run id. Default: the latest completed search.")
@tracking_option
@output_option
def best(name: str, run_id: str | None, tracking_uri: str | None, output: str) -> None:
    """Show the best trial of a search: parameters, scores, model and weights."""
    from tuner.tracking.lookup import find_search
    from tuner.tracking.store import resolve_tracking_uri

    found = find_search(resolve_tracking_uri(tracking_uri), name, run_id)
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    from tuner.cli.tables import print_best

    print_best(found)


COMMANDS = [search, spaces, best]
