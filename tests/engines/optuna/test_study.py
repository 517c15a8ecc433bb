"""A resumed or joined study never replays proposals its earlier processes made.

Before, a resume seeded its sampler as the first run had, so 3 trials then a resume of 3
more gave 6 finished trials with 3 distinct parameter sets. Trials queued again on
purpose (after a failure or an interruption) are not replays.
"""

from __future__ import annotations

import optuna
import pytest
from click.testing import CliRunner

from tuner.cli.main import cli
from tuner.engines.optuna.record import REQUEUED_ATTR
from tuner.engines.optuna.storage import get_storage

pytestmark = pytest.mark.slow
SEARCH = ["search", "--space", "mlp_quick", "--data", "iris", "--epochs", "2", "--recheck", "1", "--quiet"]
SEARCH += ["--n-jobs", "1", "--study", "again", "--sampler", "random", "--trials", "3"]


def _proposals() -> list[tuple]:
    study = optuna.load_study(study_name="again", storage=get_storage("mlruns/optuna/again.journal"))
    finished = [t for t in study.trials if t.state.is_finished() and REQUEUED_ATTR not in t.user_attrs]
    return [tuple(sorted(t.params.items())) for t in finished]


def test_a_resume_proposes_no_parameter_set_the_study_has_tried():
    first = CliRunner().invoke(cli, SEARCH, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert len(set(_proposals())) == 3
    resumed = CliRunner().invoke(cli, [*SEARCH, "--resume"], catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    proposals = _proposals()
    assert len(proposals) == 6 and len(set(proposals)) == 6, proposals
