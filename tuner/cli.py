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
from typing import Any, NoReturn

import click

from tuner.errors import TunerError

USER_ERROR = 2


class _Group(click.Group):
    """The root command: every mistake of the user's ends with one ``error:`` line, exit 2.

    That is a :class:`TunerError`, and click's own usage errors too (``--trials abc``, an
    unknown ``--engine``, a misspelt option or command), which click would print as a
    Usage/Try/Error block. Help, asked for or shown for a bare group, stays as it is.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:  # the root's own options: `tuner --bogus`
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _usage_error(ctx, exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TunerError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(USER_ERROR)
        except click.UsageError as exc:  # a subcommand's options, or an unknown subcommand
            _usage_error(ctx, exc)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _usage_error(ctx: click.Context, exc: click.UsageError) -> NoReturn:
    """Print click's usage error as one ``error:`` line with where to look; exit 2."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        raise exc  # `tuner study` alone: its help, as click shows it
    message = " ".join(exc.format_message().split())
    # click leaves the context out of some parser errors (an option missing its value).
    where = f"'{exc.ctx.command_path} --help'" if exc.ctx is not None else "the command's --help"
    click.echo(f"error: {message} See {where}.", err=True)
    ctx.exit(USER_ERROR)


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


def config_options(command: Any = None, *, exclude: tuple[str, ...] = ()) -> Any:
    """One click option per :class:`~tuner.config.SearchConfig` field: its default, help and choices.

    ``exclude`` leaves out fields a command sets itself (``study create`` has no engine choice).
    """
    if command is None:
        return lambda command: config_options(command, exclude=exclude)
    from dataclasses import MISSING, fields

    from tuner.config import SearchConfig

    for f in reversed([f for f in fields(SearchConfig) if f.metadata["cli"] and f.name not in exclude]):
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


# --- cluster jobs: create a study once, run workers anywhere, finish once -------------------

storage_option = click.option(
    "--storage",
    envvar="TUNER_STORAGE",
    required=True,
    help="The study's Optuna storage URL (postgresql://user@host/db). Default: $TUNER_STORAGE, "
    "which keeps a password out of the command line.",
)
study_option = click.option("--study", required=True, help="The study's name.")


@cli.group()
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

    from tuner.cluster import create_study
    from tuner.config import SearchConfig

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
    from tuner.cluster import study_status as status

    found = status(study, storage)
    if output == "json":
        click.echo(json.dumps(found, indent=2, default=str))
        return
    from tuner.report import print_study_status

    print_study_status(found)


@study.command("finish")
@study_option
@storage_option
@click.option("--wait", is_flag=True, help="Wait for running trials to end instead of refusing.")
@click.option(
    "--n-jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes for the re-check; 0 = one per core.",
)
@tracking_option
@output_option
def study_finish(
    study: str, storage: str, wait: bool, n_jobs: int, tracking_uri: str | None, output: str
) -> None:
    """Re-check the best, refit, test, log the model, close the parent run (once: again, it prints that result)."""
    from tuner.cluster import finish_study
    from tuner.interrupts import handle_signals

    with handle_signals(raise_at_once=True):
        result, existed = finish_study(study, storage, wait=wait, n_jobs=n_jobs, tracking_uri=tracking_uri)
    if output == "json":
        click.echo(json.dumps({**result.to_dict(), "already_finished": existed}, indent=2, default=str))
        return
    if existed:
        click.echo(f"study {study!r} was finished before; its result:")
    from tuner.report import print_search_result

    print_search_result(result, None)


@study.command("list")
@storage_option
@output_option
def study_list(storage: str, output: str) -> None:
    """Every study in the storage."""
    from tuner.cluster import list_studies

    rows = list_studies(storage)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from tuner.report import print_studies

    print_studies(rows)


@cli.command()
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
@tracking_option
def worker(
    study: str, storage: str, trials: int | None, timeout: float | None, n_jobs: int, tracking_uri: str | None
) -> None:
    """Run trials of a created study until its total (or --trials, --timeout) is reached.

    Needs only the study's name and storage: settings, space and data come from the
    study (the data must have the study's fingerprint). Exits 0 when the budget is
    spent, 2 on a mistake to fix, 130 when stopped (Ctrl-C, SIGTERM: its running trial
    goes back to the queue with the same parameters), 1 on a bug.
    """
    from tuner.cluster import run_worker
    from tuner.interrupts import handle_signals

    with handle_signals(raise_at_once=True):
        run_worker(
            study,
            storage,
            trials=trials,
            timeout=timeout,
            n_jobs=n_jobs,
            tracking_uri=tracking_uri,
            echo=lambda line: click.echo(line, err=True),
        )


UI_STOP_GRACE_SECONDS = 10.0  # for MLflow's server, workers and job consumers to exit on SIGTERM


@cli.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind; loopback by default."
)
@tracking_option
def ui(port: int, host: str, tracking_uri: str | None) -> None:
    """Open the MLflow UI on the tracking store (Ctrl-C or SIGTERM stops it and all it started)."""
    from tuner.redact import redact
    from tuner.tracking import client_for, local_artifact_root, resolve_tracking_uri

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
    raise SystemExit(_serve_until_stopped(command))


def _serve_until_stopped(command: list[str]) -> int:
    """Run a server until it ends (its exit status) or SIGTERM/SIGINT ask to stop it (0).

    MLflow's UI is a tree of processes (the ``mlflow`` command, uvicorn and its workers,
    job runners and their consumers); killed alone, its root leaves them serving the
    port. So the server runs in its own session and process group, which is stopped as
    a whole (:func:`_stop_group`). Its own group also keeps the terminal's Ctrl-C for
    us, so it is stopped once, the same way as by a service manager's SIGTERM.
    """
    import signal

    requested: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: requested.append(signum))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        server = subprocess.Popen(command, start_new_session=True)
        try:
            while not requested:
                try:
                    return server.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            _stop_group(server, UI_STOP_GRACE_SECONDS)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("MLflow UI stopped", err=True)
    return 0


def _stop_group(leader: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group ``leader`` leads; after ``grace`` seconds, SIGKILL what is left.

    Its descendants are listed first, so any that left the group are stopped too.
    """
    import contextlib
    import os
    import signal
    import time

    import psutil

    group = leader.pid  # it leads its own session (start_new_session)

    def running(process: psutil.Process) -> bool:
        with contextlib.suppress(psutil.Error):
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        return False

    def in_group(process: psutil.Process) -> bool:
        with contextlib.suppress(OSError):
            return os.getpgid(process.pid) == group
        return False

    def left() -> list[psutil.Process]:
        members = [p for p in psutil.process_iter() if in_group(p)]
        return [p for p in {*members, *descendants} if running(p)]

    try:
        descendants = psutil.Process(leader.pid).children(recursive=True)
    except psutil.Error:  # it ended already
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    for (
        process
    ) in descendants:  # any with a group of their own; once only: uvicorn takes a second signal as a kill
        if not in_group(process):
            with contextlib.suppress(psutil.Error):
                process.terminate()
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(timeout=grace)
    while (remaining := left()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in remaining:
        with contextlib.suppress(psutil.Error):
            process.kill()
    leader.wait()


def main() -> None:
    cli(prog_name="tuner")


if __name__ == "__main__":
    main()
