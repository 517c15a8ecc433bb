"""The ``tuner`` command line: one root group; the commands live in the other modules of :mod:`tuner.cli`.

Heavy libraries (TensorFlow, MLflow) are imported inside commands, so ``tuner --help``
answers at once. A :class:`~tuner.errors.TunerError` ends the command with a
one-line ``error:`` message and exit status 2; Ctrl-C (or SIGTERM during a search)
exits with 130.
"""

from __future__ import annotations

from typing import Any, NoReturn

import click

from tuner.cli import cluster, inspect, search, shipping, ui
from tuner.distribution import DISTRIBUTION
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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=DISTRIBUTION)
def cli() -> None:
    """Hyperparameter search for Keras models, every trial recorded in MLflow.

    \b
    Quick start:
      tuner search --space search_spaces/mlp_classification.yaml --data digits --trials 20
      tuner show mlp_classification-digits
      tuner ui
    """


for _module in (search, inspect, shipping, cluster, ui):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="tuner")


if __name__ == "__main__":
    main()
