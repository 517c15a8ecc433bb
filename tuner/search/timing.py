"""Where a search's time goes: its phases, reported in the result and read by the benchmarks.

Wall-clock phases of the search process (start-up from the moment the process
started, data, trials, finish; ``first_fit``: from the process's start to the first
trial's first training step, in whichever worker) and, summed over every trial in
every worker process, where the trials spent theirs (tracing each new model,
training, MLflow logging, and the rest: building, storage and run bookkeeping).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import psutil

TRIAL_PARTS = ("tracing_s", "training_s", "logging_s")


def process_started_at() -> float:
    """When this process started, in wall-clock seconds, to the clock tick (10 ms).

    Not psutil's ``create_time``: it adds the process's start (ticks since boot) to the
    boot time as ``/proc/stat`` gives it, in whole seconds, so it is early by the boot
    time's fraction, up to 1 s, and every start-up looked that much slower. ``/proc/uptime``
    gives the time since boot to the hundredth.
    """
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, IndexError, ValueError):  # not Linux
        return psutil.Process().create_time()
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


class PhaseClock:
    def __init__(self) -> None:
        self.process_started = process_started_at()  # wall-clock seconds
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started

    def mark(self, name: str) -> None:
        """Record the time since the process started, as phase ``name``."""
        self.seconds[name] = time.time() - self.process_started

    def phases(self, trials: list[Any], final_seconds: dict[str, float]) -> dict[str, float]:
        """Every phase in seconds; trial parts are summed over worker processes."""
        out = dict(self.seconds)
        for part in TRIAL_PARTS:
            out[part.removesuffix("_s")] = sum(t.timing.get(part, 0.0) for t in trials)
        # This process's trials only: a resumed study's earlier ones began before it started.
        began = [b for t in trials if (b := t.timing.get("began_at", 0.0)) >= self.process_started]
        if began:
            out["first_fit"] = min(began) - self.process_started
        fits = sum(t.timing.get("fit_s", 0.0) for t in trials)
        out["trial_other"] = max(0.0, sum(t.duration_s or 0.0 for t in trials) - fits)
        out.update(final_seconds)
        if "finish" in out:
            out["recheck"] = max(0.0, out["finish"] - sum(final_seconds.values()) - out.get("plots", 0.0))
        out["total"] = time.time() - self.process_started
        return {k: round(v, 3) for k, v in out.items()}
