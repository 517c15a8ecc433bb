"""The name tuner is installed under, and its version.

The import package and the command are ``tuner``; the distribution is ``tuner-hpo``,
because ``tuner`` on the public package index is an unrelated app. Installs made
before the rename are still found under the old name.
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "tuner-hpo"
NAMES = (DISTRIBUTION, "tuner")  # the old name last: an unrelated "tuner" may be installed too


def installed_version() -> str | None:
    """tuner's installed version, whichever name it was installed under; None when not installed."""
    for name in NAMES:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None
