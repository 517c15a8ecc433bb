"""Installed versions, as runs, studies and model folders record them."""

from __future__ import annotations

import platform
from importlib import metadata

from tuner.versions import library_versions


def test_python_and_each_installed_library_and_nothing_for_a_missing_one():
    found = library_versions(["numpy", "keras", "no-such-library-here"])
    assert found == {
        "python": platform.python_version(),
        "numpy": metadata.version("numpy"),
        "keras": metadata.version("keras"),
    }
