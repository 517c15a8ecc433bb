"""Passwords kept out of what tuner shows: URLs, and messages that quote them raw or decoded."""

from __future__ import annotations

import pytest

from tuner.redact import password_of, redact, scrub

# --- passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://tuner:s3cret@db:5432/t", "postgresql://tuner:***@db:5432/t"),
        ("postgresql+psycopg://u:p%40ss@db/t", "postgresql+psycopg://u:***@db/t"),
        ("http://user:pw@mlflow:5000", "http://user:***@mlflow:5000"),
        ("postgresql://tuner@db/t", "postgresql://tuner@db/t"),
        ("mlruns/optuna.journal", "mlruns/optuna.journal"),
    ],
)
def test_urls_are_shown_without_their_password(url, shown):
    assert redact(url) == shown


def test_a_message_quoting_a_password_raw_or_decoded_is_scrubbed():
    url = "postgresql://u:p%40ss@db:notaport/t"  # a malformed port: urlsplit fails, the pattern does not
    assert password_of(url) == "p%40ss"
    message = "FATAL: password authentication failed (p@ss) for postgresql://u:p%40ss@db/t"
    assert scrub(message, url) == "FATAL: password authentication failed (***) for postgresql://u:***@db/t"
    assert redact(None) is None and password_of("no-url") is None
