"""Ctrl-C and SIGTERM end a search cleanly, with every run on the way out recorded.

Cluster schedulers (Kubernetes, Slurm) send SIGTERM before they kill a job. While
:func:`handle_signals` is active, SIGINT and SIGTERM record a stop request, which
:func:`check` turns into ``KeyboardInterrupt`` at safe points: after every training
batch (a Keras callback) and at every poll of the worker loop. The trial unit then
closes its MLflow run as failed, Optuna marks the trial failed, and the search run
says why. Worker processes only record the request: an exception raised from a
signal handler can land in a weakref callback, where Python prints and drops it.
The search process also raises at once, as Python does on Ctrl-C, so a search
blocked in joblib stops too.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"

_requested: str | None = None  # the name of the first signal received, while handled


def failure_reason(exc: BaseException) -> str:
    """One line for a run's ``tuner.reason`` tag: what ended it."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def stop_requested() -> bool:
    return _requested is not None


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a signal asked to stop; call it at safe points."""
    if _requested is not None:
        raise KeyboardInterrupt(_requested)


@contextlib.contextmanager
def handle_signals(*, raise_at_once: bool) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM request a stop; the previous handlers come back after."""
    global _requested

    def handler(signum: int, frame: Any) -> None:
        global _requested
        _requested = _requested or signal.Signals(signum).name
        if raise_at_once:
            raise KeyboardInterrupt(_requested)

    _requested = None
    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _requested = None
