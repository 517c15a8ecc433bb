"""How a search's cost grows with the data: 10,000, 100,000 and 1,000,000 rows.

Why: on small tables a search is mostly fixed costs; on large ones it must be
training at the speed of a plain ``model.fit``, in memory that grows with the data
and not with the number of copies tuner makes of it. Per size and task this prints:

* wall time of a fixed small search (benchmarks/spaces/scale.yaml: one network
  shape, 4 trials of 5 epochs, no pruning, ``--recheck 1``), run as a user would
  (``tuner search --data FILE.npz``), with each worker's TensorFlow thread count;
* training rows per second per worker (the median trial: rows x epochs run over its
  training seconds, tracing and logging excluded) against a plain ``model.fit`` of
  the same network on the same rows with the same thread count (the limit; its
  first, tracing, epoch excluded likewise);
* peak RSS of the search process and of its busiest worker (sampled every 0.2 s),
  the data's own size in memory, and the RSS of an idle worker that has imported
  TensorFlow.

Goals: throughput per worker >= 80 % of the plain fit's at 100,000 rows and above;
peak RSS per worker <= 3 x the data's size + an idle worker's RSS.

    python benchmarks/scale.py                      # all sizes, both tasks (about 6 min on 2 cores)
    python benchmarks/scale.py --sizes 10000 --tasks classification

The tables are generated once (50 numeric features) into benchmarks/.data/ as .npz files.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from tuner.processes.gpus import usable_cores

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / ".data"
SPACE = HERE / "spaces" / "scale.yaml"
SIZES = [10_000, 100_000, 1_000_000]
TASKS = ["classification", "regression"]
FEATURES = 50
SEARCH = ["--trials", "4", "--epochs", "5", "--pruner", "none", "--recheck", "1", "--seed", "0"]
MIB = 2**20

PLAIN_FIT = """
import json, sys, time
import numpy as np
from tuner.processes import tensorflow_env as tf_env  # the worker's thread count, from $TUNER_TF_THREADS
from tuner.data.dataset import load_dataset
from tuner.networks.mlp import build_model
import keras

data, task = sys.argv[1], sys.argv[2]
ds = load_dataset(data, None, None, 0)
X = np.asarray(ds.X_train, dtype="float32")
X = (X - X.mean(axis=0)) / X.std(axis=0)
y = np.asarray(ds.y_train, dtype="float32")
model = build_model(2, 64, 3e-3, "adam", task=ds.task, input_shape=X.shape[1:], n_outputs=1)
times = []
class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.started)
model.fit(X, y, epochs=5, batch_size=256, verbose=0, callbacks=[Clock()])
print(json.dumps({"rows": len(y), "rows_per_s": len(y) * (len(times) - 1) / sum(times[1:])}))
"""

IDLE_WORKER = """
import json, psutil
import tuner.trial.estimator  # what a warm worker imports before its first trial
print(json.dumps({"rss": psutil.Process().memory_info().rss}))
"""


def table(rows: int, task: str) -> tuple[Path, int]:
    """Write the generated table once; return its path and its size in memory (bytes)."""
    path = DATA_DIR / f"scale_{task}_{rows}.npz"
    if not path.exists():
        from sklearn.datasets import make_classification, make_regression

        if task == "classification":
            X, y = make_classification(rows, FEATURES, n_informative=20, random_state=0)
        else:
            X, y = make_regression(rows, FEATURES, n_informative=20, noise=10.0, random_state=0)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        (DATA_DIR / ".gitignore").write_text("*\n")
        np.savez(path, X=X.astype("float32"), y=y.astype("float32"))
    with np.load(path) as arrays:
        return path, sum(arrays[k].nbytes for k in arrays.files)


class PeakRss:
    """Sample a process tree's RSS every 0.2 s: the root's peak and the busiest child's peak."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.root_peak = 0
        self.child_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.root_peak = max(self.root_peak, self.root.memory_info().rss)
                for child in self.root.children(recursive=True):
                    self.child_peak = max(self.child_peak, child.memory_info().rss)
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_search(data: Path) -> tuple[dict[str, Any], float, PeakRss]:
    """`tuner search` on ``data`` in a fresh folder: its JSON result, wall seconds and peak RSS."""
    command = [sys.executable, "-m", "tuner", "search", "--data", str(data), "--space", str(SPACE)]
    command += [*SEARCH, "--output", "json", "--quiet"]
    with tempfile.TemporaryDirectory(prefix="tuner-scale-") as workdir:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        with PeakRss(process.pid) as peaks:
            stdout, stderr = process.communicate()
        wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"tuner search failed on {data}:\n{stderr[-2000:]}")
    return json.loads(stdout), wall, peaks


def python_json(code: str, *args: str, threads: int | None = None) -> dict[str, Any]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if threads:
        env["TUNER_TF_THREADS"] = str(threads)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def trial_rows_per_s(result: dict[str, Any], train_rows: int) -> float:
    """The median trial's training rows per second (tracing and logging excluded)."""
    speeds = [
        train_rows * len(t["intermediate"]) / t["timing"]["training_s"]
        for t in result["trials"]
        if t["timing"].get("training_s") and t["intermediate"]
    ]
    return statistics.median(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    idle = python_json(IDLE_WORKER, threads=1)["rss"]
    print(f"idle worker after importing TensorFlow: {idle / MIB:.0f} MiB RSS", flush=True)
    header = (
        f"{'task':<15}{'rows':>10}{'wall_s':>8}{'workers':>8}{'threads':>8}{'rows/s/worker':>14}"
        f"{'plain rows/s':>13}{'ratio':>7}{'data MiB':>9}{'search MiB':>11}{'worker MiB':>11}{'RSS goal':>9}"
    )
    print(header, flush=True)
    for task in args.tasks.split(","):
        for rows in map(int, args.sizes.split(",")):
            data, data_bytes = table(rows, task)
            result, wall, peaks = run_search(data)
            workers = result["workers"]
            threads = max(1, usable_cores() // workers)  # what tuner's pool gives each worker
            plain = python_json(PLAIN_FIT, str(data), task, threads=threads)
            searched = trial_rows_per_s(result, plain["rows"])
            goal = 3 * data_bytes + idle
            print(
                f"{task:<15}{rows:>10}{wall:>8.1f}{workers:>8}{threads:>8}{searched:>14,.0f}"
                f"{plain['rows_per_s']:>13,.0f}{searched / plain['rows_per_s']:>7.2f}{data_bytes / MIB:>9.0f}"
                f"{peaks.root_peak / MIB:>11.0f}{peaks.child_peak / MIB:>11.0f}"
                f"{'met' if peaks.child_peak <= goal else 'missed':>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
