"""What a failed trial means: its own outcome, a bug of ours, or a lost service.

A trial that fails because of its settings (Keras rejects a combination, memory
runs out, the loss becomes NaN) is recorded as failed and the search goes on. A
bug in this package must stop the search with its traceback, or it would hide as
a row of quietly failed trials; a tracking store that stays unreachable after
MLflow's own retries stops the search too, with the study kept for ``--resume``.
"""

from __future__ import annotations

from pathlib import Path

from tuner.errors import TrialFailed, TunerError

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # tuner/: a frame of ours is a bug of ours
# Not bugs even when raised from our own frames: the machine's limits and the user's input.
ENVIRONMENT_ERRORS = (TunerError, TrialFailed, OSError, MemoryError)
# How MLflow's REST client words a store it could not reach once its retries ran out.
UNREACHABLE_MARKERS = ("Max retries exceeded", "Connection refused", "error responses", "timed out")


class TrackingUnavailable(TunerError):
    """The tracking store stopped answering mid-search; finished trials are safe in the study."""


def innermost_file(exc: BaseException) -> Path | None:
    """The source file of the frame that raised ``exc`` (the end of its traceback)."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename)


def is_our_bug(exc: BaseException) -> bool:
    """Whether ``exc`` is a programming error in this package, not an outcome of training.

    The test is where it was raised: in ``tuner/`` (and not one of the errors we
    raise on purpose or the machine's limits), or in Keras, TensorFlow, scikit-learn
    and the rest, which reject settings and run out of memory.
    """
    if not isinstance(exc, Exception) or isinstance(exc, ENVIRONMENT_ERRORS):
        return False
    where = innermost_file(exc)
    return where is not None and where.resolve().is_relative_to(PACKAGE_DIR)


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the tracking store could not be reached (after MLflow's retries)."""
    if isinstance(exc, TrackingUnavailable):
        return True
    try:
        from mlflow.exceptions import MlflowException
        from requests.exceptions import ConnectionError as RequestsConnectionError
    except ImportError:  # pragma: no cover - both ship with mlflow
        return False
    if isinstance(exc, RequestsConnectionError):
        return True
    return isinstance(exc, MlflowException) and any(m in str(exc) for m in UNREACHABLE_MARKERS)
