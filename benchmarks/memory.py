"""Memory over many short trials: the search process must stay flat.

Runs ``tuner search`` through the Python API on digits with short trials (3 epochs),
and samples, every half second, the resident set size of the search process and of
its worker processes. Prints both when 1, 20, 50 and 100 trials have finished.

    python benchmarks/memory.py [--trials 100] [--epochs 3] [--n-jobs 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import optuna
import psutil


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="tuner-memory-"))

    from tuner.search import SearchConfig, run_search

    storage = os.path.abspath("optuna.journal")
    config = SearchConfig(
        space="mlp_classification",
        data="digits",
        trials=args.trials,
        epochs=args.epochs,
        patience=args.epochs,
        pruner="none",
        study="memory",
        storage=storage,
        n_jobs=args.n_jobs,
        show_progress=False,
    )
    checkpoints = sorted({1, 20, 50, args.trials} & set(range(1, args.trials + 1)))
    me = psutil.Process()
    stop = threading.Event()
    started = time.perf_counter()
    print(f"{'trials':>7} {'search_MiB':>11} {'workers_MiB':>12} {'seconds':>8}", flush=True)

    def watch() -> None:
        peak_workers = 0.0
        pending = list(checkpoints)
        while not stop.wait(0.5) and pending:
            workers = sum(c.memory_info().rss for c in me.children(recursive=True) if c.is_running())
            peak_workers = max(peak_workers, workers / 2**20)
            try:
                study = optuna.load_study(
                    study_name="memory",
                    storage=optuna.storages.JournalStorage(
                        optuna.storages.journal.JournalFileBackend(storage)
                    ),
                )
            except KeyError:
                continue
            done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
            while pending and done >= pending[0]:
                print(
                    f"{pending.pop(0):>7} {me.memory_info().rss / 2**20:>11.0f} {peak_workers:>12.0f} "
                    f"{time.perf_counter() - started:>8.1f}",
                    flush=True,
                )

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = run_search(config)
    stop.set()
    watcher.join()
    print(
        f"after refit and model logging: search process {me.memory_info().rss / 2**20:.0f} MiB; "
        f"{len(result.trials)} trials in {result.duration_s:.0f} s"
    )


if __name__ == "__main__":
    main()
