"""tuner's version has one source, pyproject.toml, read back from the install's metadata."""

from __future__ import annotations

import tomllib
from importlib import metadata

import pytest
from click.testing import CliRunner
from paths import REPO

import tuner
from tuner import distribution
from tuner.cli.main import cli


def test_the_version_is_pyprojects_as_installed():
    written = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert tuner.__version__ == distribution.installed_version() == metadata.version("tuner-hpo") == written
    assert CliRunner().invoke(cli, ["--version"]).output.strip().endswith(written)


def test_a_checkout_that_is_not_installed_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(distribution, "installed_version", lambda: None)
    assert tuner.__version__ == "0+unknown"


def test_the_python_api_is_at_the_top_and_imported_when_first_used():
    from tuner import SearchConfig, SearchResult, build_model, output_layer, run_search

    assert {f.__name__ for f in (SearchConfig, SearchResult, build_model, output_layer, run_search)} == set(
        tuner.__all__
    ) - {"__version__"}
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tuner.nothing  # noqa: B018
