"""Live progress of a search: trial n/N, best so far, elapsed and ETA.

Engines call :meth:`SearchProgress.update` from any thread, or have
:meth:`SearchProgress.watch` poll for them; the display is drawn by rich (on stderr,
so JSON on stdout stays clean) and falls back to nothing when ``enabled`` is False
(tests, ``--quiet``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
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

from tuner.errors import first_line
from tuner.tracking.runs import COMPLETE


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

    def warn(self, message: str) -> None:
        """One line on stderr, above the live display (shown with ``--quiet`` too)."""
        self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def watch(self, poll: Callable[[], None], interval: float) -> Iterator[None]:
        """Call ``poll`` every ``interval`` seconds in a thread while the block runs.

        An error in ``poll`` must not kill the thread silently, freezing the display
        for the rest of the search: the first one is reported on stderr and polling
        goes on (a busy store may answer next time). The search itself is unaffected.
        """
        stop = threading.Event()

        def loop() -> None:
            warned = False
            while not stop.wait(interval):
                try:
                    poll()
                except Exception as exc:  # noqa: BLE001 - a display problem must not stop a search
                    if not warned:
                        warned = True
                        reason = (
                            f"{type(exc).__name__}: {first_line(exc)}"
                            if str(exc).strip()
                            else type(exc).__name__
                        )
                        self.warn(
                            f"warning: the progress display could not update ({reason}); the search goes on"
                        )

        thread = threading.Thread(target=loop, name="tuner-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def __enter__(self) -> SearchProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()
