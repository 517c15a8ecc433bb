"""Cluster jobs: create a study once, run workers anywhere, finish once.

``tuner study create|status|finish|list`` and ``tuner worker``.
"""

from __future__ import annotations

import json
from typing import Any

import click

from tuner.cli.options import (
    config_options,
    data_option,
    output_option,
    storage_option,
    study_option,
    tracking_option,
)


@click.group()
def study() -> None:
    """A study shared by many workers: create, status, finish, list.

    \b
    A cluster job in three steps (the storage URL may come from $TUNER_STORAGE):
      tuner study create --study nightly --storage postgresql://tuner@db/tuner --data digits --trials 200
      tuner worker --study nightly --storage postgresql://tuner@db/tuner     (on every machine, any number)
      tuner study finish --study nightly --storage postgresql://tuner@db/tuner --wait
    """


@study.command("create")
@config_options(exclude=("engine", "resume", "n_jobs", "timeout", "cv", "study", "storage"))
@study_option
@storage_option
@output_option
def study_create(output: str, **options: Any) -> None:
    """Create the study and its MLflow parent run; print the worker command.

    Everything a worker needs (settings, space, data fingerprint, parent run, tracking
    URI, versions) is recorded in the study, never a password. Run again with the same
    settings it changes nothing; with other settings it refuses and says what differs.
    --trials is the study's total of finished (complete or pruned) trials.
    """
    from dataclasses import asdict

    from tuner.config import SearchConfig
    from tuner.jobs.cluster import create_study

    created = create_study(SearchConfig(**options, show_progress=False))
    if output == "json":
        click.echo(json.dumps(asdict(created), indent=2))
        return
    what = "created" if created.created else "exists with these settings; nothing changed"
    click.echo(
        f"study {created.study!r} {what} (storage {created.storage}, parent run {created.search_run_id})"
    )
    click.echo(f"start workers with:\n  {created.worker_command}")


@study.command("status")
@study_option
@storage_option
@output_option
def study_status(study: str, storage: str, output: str) -> None:
    """Trials by state, best so far, budget left, workers seen, trials per minute."""
    from tuner.views.studies import study_status as status

    found = status(study, storage)
    if output == "json":
        click.echo(json.dumps(found, indent=2, default=str))
        return
    from tuner.cli.tables import print_study_status

    print_study_status(found)


@study.command("finish")
@study_option
@storage_option
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until the study's total is reached (or no worker is left) instead of refusing while "
    "trials run: a finish started beside the workers.",
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=1800.0,
    show_default=True,
    help="With --wait: give up, exit 2, when no worker has joined the study after this many seconds.",
)
@click.option(
    "--n-jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes for the re-check; 0 = one per core.",
)
@data_option
@click.option(
    "--register", default=None, help="Register the returned model under this name (see `tuner search`)."
)
@tracking_option
@output_option
def study_finish(
    study: str,
    storage: str,
    wait: bool,
    wait_timeout: float,
    n_jobs: int,
    data: str | None,
    register: str | None,
    tracking_uri: str | None,
    output: str,
) -> None:
    """Re-check the best, refit, test, log the model, close the parent run.

    Once per study: a second finish started meanwhile waits for the first (or takes over
    if it crashed), and run again it prints the result it made.
    """
    from tuner.engines import start_workers_early

    # The re-check's and the refit's workers import TensorFlow while the study is read.
    start_workers_early("optuna")
    from tuner.interrupts import handle_signals
    from tuner.jobs.cluster import finish_study

    with handle_signals(raise_at_once=True):
        result, existed = finish_study(
            study,
            storage,
            wait=wait,
            wait_timeout=wait_timeout,
            n_jobs=n_jobs,
            tracking_uri=tracking_uri,
            data=data,
            register=register,
        )
    if output == "json":
        click.echo(json.dumps({**result.to_dict(), "already_finished": existed}, indent=2, default=str))
        return
    if existed:
        click.echo(f"study {study!r} was finished before; its result:")
    from tuner.cli.tables import print_search_result

    print_search_result(result, None)


@study.command("list")
@storage_option
@output_option
def study_list(storage: str, output: str) -> None:
    """Every study in the storage."""
    from tuner.views.studies import list_studies

    rows = list_studies(storage)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from tuner.cli.tables import print_studies

    print_studies(rows)


@click.command()
@study_option
@storage_option
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=None,
    help="This worker's own budget of trials (all its processes). Default: until the study's total.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Start no trial after this many seconds.",
)
@click.option(
    "--n-jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Trials side by side on this machine, one GPU each round robin; 0 = one per core.",
)
@data_option
@click.option(
    "--finish",
    "finish_after",
    is_flag=True,
    help="When this worker leaves last and the study's total is reached, finish the study "
    "(once, whoever leaves last: a finish lock guards it).",
)
@tracking_option
def worker(
    study: str,
    storage: str,
    trials: int | None,
    timeout: float | None,
    n_jobs: int,
    data: str | None,
    finish_after: bool,
    tracking_uri: str | None,
) -> None:
    """Run trials of a created study until its total (or --trials, --timeout) is reached.

    Needs only the study's name and storage: settings, space and data come from the
    study (the data must have the study's fingerprint). Exits 0 when the budget is
    spent, 2 on a mistake to fix, 130 when stopped (Ctrl-C, SIGTERM: its running trial
    goes back to the queue with the same parameters), 1 on a bug.
    """
    from tuner.engines import start_workers_early

    start_workers_early("optuna")  # the workers' TensorFlow import, while this process joins the study
    from tuner.interrupts import handle_signals
    from tuner.jobs.cluster import run_worker

    with handle_signals(raise_at_once=True):
        run_worker(
            study,
            storage,
            trials=trials,
            timeout=timeout,
            n_jobs=n_jobs,
            tracking_uri=tracking_uri,
            data=data,
            finish_after=finish_after,
            echo=lambda line: click.echo(line, err=True),
        )


COMMANDS = [study, worker]
