"""The random engine when no candidate completes: one clear line, not a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tuner.cli.main import cli

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all


def test_a_search_whose_every_fit_fails_ends_with_one_clear_line(space_file):
    # A fixed learning rate no network survives: every fit diverges, for real.
    space = space_file(
        "params:\n  n_hidden: {type: int, low: 1, high: 2}\n  learning_rate: 1.0e+30\n  optimizer: sgd\n"
    )
    args = ["--engine", "random", "--space", str(space), "--data", "iris", "--trials", "2", "--cv", "2"]
    result = CliRunner().invoke(cli, ["search", *args, "--n-jobs", "1", "--epochs", "2", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "error: no candidate completed: all 4 fits failed; first failure: TrialFailed: "
    )
    assert "training diverged" in lines[0]  # the first failure's reason
    assert "To fix: lower the learning rate" in lines[0]  # and what to do about it
