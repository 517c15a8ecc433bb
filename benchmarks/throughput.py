"""Trials per minute of both engines on digits, with the CLI's defaults.

    python benchmarks/throughput.py [--trials 20] [--space mlp_classification]

Prints, per engine: trials (candidates for random), fits, wall seconds of the whole
search (data, search, refit of the best, model logging) and trials per minute.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--random-trials", type=int, default=10)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--space", default="mlp_classification")
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="tuner-throughput-"))

    from tuner.jobs.local import SearchConfig, run_search

    runs = [
        ("optuna", dict(engine="optuna", trials=args.trials)),
        ("random", dict(engine="random", trials=args.random_trials, cv=args.cv)),
    ]
    print(
        f"{'engine':<8} {'trials':>6} {'fits':>5} {'wall_s':>7} {'trials/min':>10} {'best':>6} {'test':>6}  states"
    )
    for engine, options in runs:
        config = SearchConfig(
            space=args.space, data="digits", epochs=args.epochs, show_progress=False, **options
        )
        started = time.perf_counter()
        result = run_search(config)
        wall = time.perf_counter() - started
        trials = len(result.trials)
        fits = trials * (args.cv if engine == "random" else 1)
        states = ", ".join(f"{n} {s}" for s, n in result.counts.items())
        print(
            f"{engine:<8} {trials:>6} {fits:>5} {wall:>7.1f} {60 * trials / wall:>10.2f} "
            f"{result.best_value:>6.3f} {result.test_score:>6.3f}  {states}",
            flush=True,
        )


if __name__ == "__main__":
    main()
