"""TensorFlow's C++ start-up notices kept off the terminal ($TUNER_TF_VERBOSE=1 shows them)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr_fd() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while inside: C++ code writes there, not to sys.stderr."""
    if os.environ.get("TUNER_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
