"""TensorFlow's C++ start-up notices kept off the terminal: what file descriptor 2 receives."""

from __future__ import annotations

import os
import subprocess
import sys

WRITE_TO_FD_2 = """
import os
from tuner.processes.quiet import quiet_stderr_fd
with quiet_stderr_fd():
    os.write(2, b"notice from C++\\n")
os.write(2, b"after\\n")
"""


def _stderr(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WRITE_TO_FD_2], capture_output=True, text=True, env=env, check=True
    )
    return done.stderr


def test_writes_to_fd_2_inside_are_dropped_and_stderr_comes_back_after(monkeypatch):
    monkeypatch.delenv("TUNER_TF_VERBOSE", raising=False)
    assert _stderr(dict(os.environ)) == "after\n"


def test_tuner_tf_verbose_shows_them():
    assert _stderr({**os.environ, "TUNER_TF_VERBOSE": "1"}) == "notice from C++\nafter\n"
