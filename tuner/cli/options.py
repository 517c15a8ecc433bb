"""Options shared by several commands, defined once."""

from __future__ import annotations

from typing import Any

import click

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


storage_option = click.option(
    "--storage",
    envvar="TUNER_STORAGE",
    required=True,
    help="The study's Optuna storage URL (postgresql://user@host/db). Default: $TUNER_STORAGE, "
    "which keeps a password out of the command line.",
)
study_option = click.option(
    "--study",
    envvar="TUNER_STUDY",
    required=True,
    help="The study's name. Default: $TUNER_STUDY (a scheduler's run identity: the Job's or array's name).",
)
data_option = click.option(
    "--data",
    envvar="TUNER_DATA",
    default=None,
    help="This machine's copy of the study's data, when it is mounted elsewhere than where the study "
    "was created (checked against the study's fingerprint). Default: $TUNER_DATA, else the study's path.",
)


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
        if f.type == "bool" and f.default is True:  # on by default: --plots/--no-plots
            flag = f"{flag}/--no-{f.name.replace('_', '-')}"
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
