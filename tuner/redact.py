"""Passwords in storage and tracking URLs never reach a terminal, a log, MLflow or a study.

A cluster job carries its PostgreSQL password in the storage URL (best through
``$TUNER_STORAGE``, from a Kubernetes Secret or a Slurm environment file). Every URL
we show or record goes through :func:`redact`; every message that may quote one
(a driver's error, say) goes through :func:`scrub`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

HIDDEN = "***"
_USERINFO_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^/@:\s]*:)(?P<password>[^/@\s]*)@")


def redact(url: str | None) -> str | None:
    """``url`` with the password of its user part replaced by ``***``."""
    if url is None:
        return None
    return _USERINFO_PASSWORD.sub(lambda m: f"{m['head']}{HIDDEN}@", url)


def password_of(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:  # a malformed port, say: the regular expression still finds the userinfo
        match = _USERINFO_PASSWORD.search(url)
        return match["password"] if match else None


def scrub(text: str, *urls: str | None) -> str:
    """``text`` with every password of ``urls`` (raw or percent-decoded) replaced by ``***``."""
    for url in urls:
        password = password_of(url)
        if password:
            for form in {password, unquote(password)}:
                text = text.replace(form, HIDDEN)
    return redact(text) or ""
