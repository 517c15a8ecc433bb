"""Memory over many short trials: a process that runs trials must stay flat.

Two measurements on digits with short trials (3 epochs), each printing the resident
set size when 1, 20, 50 and 100 trials have finished:

* ``in-process``: the trial unit fitted again and again in this process, with
  parameters drawn from the classification space, as the random engine's fits and
  every Optuna worker run them;
* ``search``: ``tuner search --engine optuna`` through the Python API; the search
  process and (the peak of) its worker processes, sampled every half second.

    python benchmarks/memory.py [--mode both|in-process|search] [--trials 100] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import optuna
import psutil


def checkpoints(trials: int) -> list[int]:
    return sorted({1, 20, 50, trials} & set(range(1, trials + 1)))


def mib(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


def in_process(trials: int, epochs: int) -> None:
    """Fit the trial unit ``trials`` times in this process; print RSS at checkpoints."""
    from sklearn.model_selection import ParameterSampler

    from tuner.data.dataset import load_dataset
    from tuner.space import load_space
    from tuner.trial.estimator import estimator_params, make_estimator

    space = load_space("mlp_classification")
    ds = load_dataset("digits")
    prep = ds.make_preprocessor().fit(ds.X_train)
    X_train, X_valid = prep.transform(ds.X_train), prep.transform(ds.X_valid)
    draws = ParameterSampler(space.to_distributions(), n_iter=trials, random_state=0)
    me = psutil.Process()
    pending = checkpoints(trials)
    started = time.perf_counter()
    print("trials in this process (the trial unit, no tracking)")
    print(f"{'trials':>7} {'process_MiB':>12} {'seconds':>8}", flush=True)
    for done, drawn in enumerate(draws, start=1):
        values = {**space.fixed, **drawn}
        estimator = make_estimator(
            "multiclass", epochs=epochs, patience=epochs, random_state=done, **estimator_params(values)
        )
        estimator.fit(X_train, ds.y_train, validation_data=(X_valid, ds.y_valid))
        del estimator
        if pending and done == pending[0]:
            pending.pop(0)
            print(f"{done:>7} {mib(me):>12.0f} {time.perf_counter() - started:>8.1f}", flush=True)


def search(trials: int, epochs: int, n_jobs: int) -> None:
    """One Optuna search; RSS of the search process and peak RSS of its workers."""
    from tuner.jobs.local import SearchConfig, run_search

    storage = os.path.abspath("optuna.journal")
    config = SearchConfig(
        space="mlp_classification",
        data="digits",
        trials=trials,
        epochs=epochs,
        patience=epochs,
        pruner="none",
        study="memory",
        storage=storage,
        n_jobs=n_jobs,
        show_progress=False,
    )
    me = psutil.Process()
    stop = threading.Event()
    started = time.perf_counter()
    print("tuner search --engine optuna (trials run in worker processes)")
    print(f"{'trials':>7} {'search_MiB':>11} {'workers_MiB':>12} {'seconds':>8}", flush=True)

    def watch() -> None:
        peak_workers = 0.0
        pending = checkpoints(trials)
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
                    f"{pending.pop(0):>7} {mib(me):>11.0f} {peak_workers:>12.0f} "
                    f"{time.perf_counter() - started:>8.1f}",
                    flush=True,
                )

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = run_search(config)
    stop.set()
    watcher.join()
    print(
        f"after refit and model logging: search process {mib(me):.0f} MiB; "
        f"{len(result.trials)} trials in {result.duration_s:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("both", "in-process", "search"), default="both")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes of the search")
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="tuner-memory-"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.mode in ("both", "search"):
        search(args.trials, args.epochs, args.n_jobs)  # first: its search process starts without TensorFlow
    if args.mode in ("both", "in-process"):
        in_process(args.trials, args.epochs)


if __name__ == "__main__":
    main()
