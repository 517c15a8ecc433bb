"""Installed versions of libraries, as runs, studies and model folders record them."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def library_versions(libraries: Iterable[str]) -> dict[str, str]:
    """Python's version and each installed library's (libraries not installed are left out)."""
    versions = {"python": platform.python_version()}
    for lib in libraries:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return versions
