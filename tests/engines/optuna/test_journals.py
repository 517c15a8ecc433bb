"""By default each study keeps a journal file of its own in mlruns/optuna/.

Opening a journal replays all of it. With the one shared journal tuner kept before, every
process of every search replayed the store's whole history, a cost growing with each
search; a study already in that shared journal still resumes there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tuner.cli.main import cli
from tuner.engines.optuna.storage import default_storage_url, get_storage

pytestmark = pytest.mark.slow
SEARCH = ["search", "--space", "mlp_quick", "--data", "iris", "--epochs", "2", "--recheck", "1", "--quiet"]
SEARCH += ["--n-jobs", "1", "--trials", "2", "--output", "json"]


def _search(*args: str) -> dict:
    done = CliRunner().invoke(cli, [*SEARCH, *args], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _studies(journal: Path) -> list[str]:
    return optuna.get_all_study_names(get_storage(str(journal)))


def test_each_search_writes_its_own_journal_and_a_quiet_one_prints_nothing_else(tmp_path):
    command = [sys.executable, "-m", "tuner", *SEARCH, "--study", "first"]
    done = subprocess.run(command, capture_output=True, text=True)  # a new store: MLflow makes its tables
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no MLflow narration at INFO, whenever MLflow is imported
    first = json.loads(done.stdout)
    second = _search()  # a generated study name
    assert first["storage"] == str(tmp_path / "mlruns" / "optuna" / "first.journal")
    assert second["storage"] == str(tmp_path / "mlruns" / "optuna" / f"{second['study']}.journal")
    assert _studies(Path(first["storage"])) == ["first"]
    assert _studies(Path(second["storage"])) == [second["study"]]
    assert not (tmp_path / "mlruns" / "optuna.journal").exists()
    resumed = _search("--study", "first", "--resume", "--trials", "1")
    assert resumed["storage"] == first["storage"] and len(resumed["trials"]) == 3


def test_a_study_in_the_shared_journal_of_earlier_versions_resumes_there(tmp_path):
    shared = tmp_path / "mlruns" / "optuna.journal"
    _search("--study", "old", "--storage", str(shared))  # as tuner wrote every study before
    resumed = _search("--study", "old", "--resume", "--trials", "1")  # no --storage: found there
    assert resumed["storage"] == str(shared) and len(resumed["trials"]) == 3
    assert not (tmp_path / "mlruns" / "optuna").exists()
    refused = CliRunner().invoke(cli, [*SEARCH, "--study", "old"])  # the name is taken there
    assert refused.exit_code == 2 and "a study named 'old' already exists" in refused.output


@pytest.mark.parametrize("name", ["a/b c", "../up", "x" * 300])
def test_any_study_name_makes_one_file_of_its_own_in_the_folder(tmp_path, name):
    """A name with a slash stays in the folder; one too long for a file name is shortened with a
    hash (so two long names that differ only at the end stay apart)."""
    store = tmp_path / "mlruns"
    journal = Path(default_storage_url(store, name))
    assert journal.parent == store / "optuna" and len(journal.name.encode()) < 256
    optuna.create_study(study_name=name, storage=get_storage(str(journal)))
    assert _studies(journal) == [name]
    assert len(list((store / "optuna").iterdir())) == 1
    assert default_storage_url(store, "x" * 300) != default_storage_url(store, "x" * 299 + "y")
