"""One GPU per worker process, round robin, so no GPU idles and small trials share one.

``tuner worker --n-jobs K`` (and ``tuner search --n-jobs K``, either engine) on a
machine with G visible GPUs starts K processes; process i sees GPU ``i mod G`` only
(``CUDA_VISIBLE_DEVICES``, set before TensorFlow starts). Our own worker pool counts
its processes in shared memory (:mod:`tuner.processes.pool`). joblib's workers (the
random engine) take no per-process arguments, so for them the parent writes the GPU
list and a counter file into the environment (:func:`share_gpus`), and each takes
the next number as it imports TensorFlow (:func:`claim_gpu`, called by
:mod:`tuner.processes.tensorflow_env`). TensorFlow's memory growth (in :mod:`tuner.processes.tensorflow_env`) lets the
processes on one GPU share its memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterator

THREADS_ENV = "TUNER_TF_THREADS"  # each worker's share of the cores, read by tuner.processes.tensorflow_env
GPUS_ENV = "TUNER_GPUS"  # the GPUs this machine's workers share, comma-separated
COUNTER_ENV = "TUNER_GPU_COUNTER"  # a file holding how many processes took one so far


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a scheduler or a container sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The GPUs this process may use: ``$CUDA_VISIBLE_DEVICES`` if set, else what ``nvidia-smi -L`` lists."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(ln for ln in out.stdout.splitlines() if ln.startswith("GPU "))]


def assign(index: int, gpus: list[str]) -> str | None:
    """The GPU of worker process ``index``: round robin over ``gpus``; None without GPUs."""
    return gpus[index % len(gpus)] if gpus else None


@contextlib.contextmanager
def share_gpus(gpus: list[str] | None = None) -> Iterator[list[str]]:
    """While inside, worker processes started from here take one of ``gpus`` each."""
    gpus = visible_gpus() if gpus is None else gpus
    if not gpus:
        yield []
        return
    with tempfile.NamedTemporaryFile("w", prefix="tuner-gpus-", suffix=".count") as counter:
        counter.write("0")
        counter.flush()
        saved = {k: os.environ.get(k) for k in (GPUS_ENV, COUNTER_ENV)}
        os.environ.update({GPUS_ENV: ",".join(gpus), COUNTER_ENV: counter.name})
        try:
            yield gpus
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def claim_gpu() -> str | None:
    """In a worker process, before TensorFlow starts: take the next GPU and see only it."""
    gpus, counter = os.environ.get(GPUS_ENV), os.environ.get(COUNTER_ENV)
    if not gpus or not counter or not os.path.exists(counter):
        return None
    with open(counter, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # processes start together: one at a time takes a number
        index = int(f.read() or 0)
        f.seek(0)
        f.write(str(index + 1))
        f.truncate()
    gpu = assign(index, gpus.split(","))
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu or ""
    for key in (GPUS_ENV, COUNTER_ENV):  # this process's own children keep its one GPU
        os.environ.pop(key, None)
    return gpu
