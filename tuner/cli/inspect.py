"""``tuner show`` and ``tuner compare``: finished (or running) searches, read back from MLflow.

Thin on purpose: the reading is :mod:`tuner.views.show_and_compare`, the tables :mod:`tuner.cli.tables`.
Both commands print a table, JSON for scripts, or CSV for a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click

from tuner.cli.options import tracking_option

STATE_CHOICES = ("complete", "pruned", "failed", "running")

output_option = click.option(
    "--output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Human-readable table, JSON for scripts, or CSV rows for a spreadsheet.",
)


def _states(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """``--state pruned --state failed`` or ``--state pruned,failed``: the states, checked."""
    states = tuple(s.strip().lower() for value in values for s in value.split(",") if s.strip())
    unknown = [s for s in states if s not in STATE_CHOICES]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} (choose from {', '.join(STATE_CHOICES)})")
    return states


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return out.getvalue()


@click.command()
@click.argument("name")
@click.option("--run", "run_id", default=None, help="A search (parent) run id. Default: the latest search.")
@click.option(
    "--state",
    "states",
    multiple=True,
    callback=_states,
    help="Only trials in this state: complete, pruned, failed or running (repeat it, or a comma list).",
)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the best N trials shown.")
@output_option
@tracking_option
def show(
    name: str,
    run_id: str | None,
    states: tuple[str, ...],
    top: int | None,
    output: str,
    tracking_uri: str | None,
) -> None:
    """The trials of search NAME, best first: state, parameters, score, epochs, seconds.

    NAME is the search's name (its MLflow experiment); it shows the latest search there
    (running ones included), or the one --run names.
    """
    from tuner.tracking.store import resolve_tracking_uri
    from tuner.views.show_and_compare import show_search

    view = show_search(resolve_tracking_uri(tracking_uri), name, run_id, states, top)
    if output == "json":
        click.echo(json.dumps(view, indent=2))
    elif output == "csv":
        header = ["number", "state", "value", "best_epoch", "epochs_run", "duration_s"]
        rows = [
            [r[k] for k in header] + [r["params"].get(p) for p in view["params"]] + [r["reason"], r["run_id"]]
            for r in view["trials"]
        ]
        click.echo(_csv(header + view["params"] + ["reason", "run_id"], rows), nl=False)
    else:
        from tuner.cli.tables import print_trials

        print_trials(view)


COMPARE_COLUMNS = [
    "search",
    "search_run_id",
    "data",
    "engine",
    "sampler",
    "pruner",
    "metric",
    "state",
    "best_val_score",
    "test_score",
    "wall_s",
    "trials_per_minute",
]


@click.command()
@click.argument("searches", nargs=-1, metavar="NAME_OR_RUN...")
@output_option
@tracking_option
def compare(searches: tuple[str, ...], output: str, tracking_uri: str | None) -> None:
    """Searches side by side: engine, trials, scores, wall time, pace and how their spaces differ.

    Each NAME_OR_RUN is a search name (its latest search) or a search's parent run id.
    Wall time is the search run's duration in MLflow (so far, for a search still running);
    trials/min counts finished trials over it.
    """
    from tuner.tracking.store import resolve_tracking_uri
    from tuner.views.show_and_compare import compare_searches

    found = compare_searches(resolve_tracking_uri(tracking_uri), list(searches))
    if output == "json":
        click.echo(json.dumps(found, indent=2))
    elif output == "csv":
        states = ["complete", "pruned", "failed", "running"]
        rows = [
            [r[k] for k in COMPARE_COLUMNS] + [r["trials_by_state"].get(s, 0) for s in states]
            for r in found["searches"]
        ]
        click.echo(_csv(COMPARE_COLUMNS + states, rows), nl=False)
    else:
        from tuner.cli.tables import print_comparison

        print_comparison(found)


COMMANDS = [show, compare]
