"""first_line: one line for a reason, whatever the exception's message looks like."""

from __future__ import annotations

import pytest

from tuner.errors import TunerError, first_line


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ValueError("bad value"), "bad value"),
        (ValueError("\n\n  the real reason  \nmore detail\n"), "the real reason"),
        (ValueError(""), "ValueError"),  # str(exc).splitlines()[0] raised IndexError here
        (TunerError("   \n\t\n"), "TunerError"),
        (KeyError(), "KeyError"),
        (OSError(2, "No such file or directory"), "[Errno 2] No such file or directory"),
        ("TrialFailed: training diverged\nat epoch 3", "TrialFailed: training diverged"),
        ("", ""),
        (" \n ", ""),
    ],
)
def test_first_line_is_the_first_non_blank_line_or_the_class_name(exc, expected):
    assert first_line(exc) == expected
