"""Live progress of a search: trial n/N, best so far, elapsed and ETA.

Engines call :meth:`SearchProgress.update` from any thread; the display is drawn by
rich (on stderr, so JSON on stdout stays clean) and falls back to nothing when
``enabled`` is False (tests, ``--quiet``).
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tuner.tracking import COMPLETE


class SearchProgress:
    def __init__(self, label: str, total: int | None, metric_name: str, enabled: bool = True):
        self.metric_name = metric_name
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TextColumn("{task.fields[states]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self._task = self._progress.add_task(label, total=total, best="-", states="")

    def update(self, done: int, best: float | None, states: dict[str, int] | None = None) -> None:
        text = ", ".join(f"{n} {s}" for s, n in (states or {}).items() if n and s != COMPLETE)
        with self._lock:
            self._progress.update(
                self._task,
                completed=done,
                best="-" if best is None else f"{self.metric_name}={best:.4g}",
                states=f"({text})" if text else "",
            )

    def __enter__(self) -> SearchProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()
