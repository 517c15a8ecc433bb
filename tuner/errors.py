"""The one exception type for user mistakes.

Anything raised as :class:`TunerError` is the user's to fix (a bad file, an unknown
name, a missing column). The CLI prints its message on one line and exits non-zero;
every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class TunerError(Exception):
    """A mistake in the user's input, with a message that says how to fix it."""


class TrialFailed(RuntimeError):
    """Training finished but produced nothing usable (the loss became NaN, say).

    An outcome of training, not an error in it: its run keeps the reason but no
    traceback.
    """


def first_line(exc: BaseException | str) -> str:
    """The first non-blank line of an exception's message (or of a text), else its class name.

    For one-line reasons: ``str(exc).splitlines()[0]`` raises IndexError on an empty
    message, hiding the error being reported. A blank text gives ``""``.
    """
    fallback = "" if isinstance(exc, str) else type(exc).__name__
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), fallback)
