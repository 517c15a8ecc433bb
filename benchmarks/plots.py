"""What the parent run's pictures and trials table cost at the end of a search.

Makes a local SQLite MLflow store with a parent run and 15 synthetic trial runs (Optuna-like:
complete, pruned and failed trials, each with a ``val_loss`` history of 20-30 epochs and the
values its pruner saw) or 5 random-search candidates of 3 fold runs each, then times
``tuner.views.plots.publish_search_artifacts`` in this process:

* ``first call``: the first publish of the process, pictures included: it pays for importing
  matplotlib (and, with ``--fresh-font-cache``, for building matplotlib's font cache, as a
  fresh container or a new user's first search does);
* ``table only`` and ``with plots``: the median of ``--repeat`` later calls (warm process);
  the pictures' cost is their difference.

    python benchmarks/plots.py [--engine optuna|random] [--trials 15] [--repeat 5] [--fresh-font-cache] [--bare]

By default scikit-learn is imported before the first call, as a search process has it (its
estimator is scikit-learn's); ``--bare`` leaves that to the first call too (Optuna's importance
module imports scikit-learn and SciPy: about 1.3 s here).

A cold process: ``python benchmarks/plots.py --fresh-font-cache`` (font cache built in this run),
or any first run in a new process (``first call``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def history(rng: random.Random, epochs: int) -> list[float]:
    """A plausible validation-loss curve: falls, flattens, wobbles, rises a little at the end."""
    floor, start = rng.uniform(0.05, 0.4), rng.uniform(1.5, 2.5)
    return [
        floor + (start - floor) * 0.8**e + 0.002 * max(0, e - 15) + rng.uniform(0, 0.02)
        for e in range(epochs)
    ]


def make_run(client, experiment: str, parent: str, search: str, kind: str, tags: dict[str, str]) -> str:
    base = {"tuner.kind": kind, "tuner.search_run_id": search, "mlflow.parentRunId": parent}
    return client.create_run(experiment, tags={**base, **tags}).info.run_id


def log_curve(client, run_id: str, curve: list[float]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric("val_loss", v, now, step) for step, v in enumerate(curve, start=1)]
    metrics.append(Metric("epochs_run", float(len(curve)), now, 0))
    client.log_batch(run_id, metrics=metrics)


def params_of(rng: random.Random) -> dict:
    return {
        "n_hidden": rng.randint(0, 3),
        "n_neurons": rng.randint(1, 100),
        "learning_rate": 10 ** rng.uniform(-3.5, -1.5),
        "optimizer": rng.choice(["adam", "nadam", "rmsprop"]),
        "batch_size": 32,
    }


def optuna_like(client, experiment: str, search: str, trials: int, rng: random.Random) -> list:
    from tuner.search.outcomes import TrialRecord

    records = []
    for number in range(trials):
        state = "failed" if number == 7 else ("pruned" if number % 4 == 3 else "complete")
        run_id = make_run(client, experiment, search, search, "trial", {"optuna.trial": str(number)})
        curve = [] if state == "failed" else history(rng, rng.randint(20, 30) if state == "complete" else 6)
        if curve:
            log_curve(client, run_id, curve)
        accuracy = {e: 1 - v / 3 for e, v in enumerate(curve, start=1)}
        value = None if state != "complete" else max(accuracy.values())
        best = 1 + curve.index(min(curve)) if curve else None
        reason = {"failed": "OOM when allocating tensor", "pruned": "pruned at epoch 6"}.get(state, "")
        records.append(
            TrialRecord(
                number, state, value, params_of(rng), run_id, rng.uniform(2, 9), reason, best, {}, accuracy
            )
        )
    return records


def random_like(
    client, experiment: str, search: str, trials: int, rng: random.Random, folds: int = 3
) -> list:
    from tuner.search.outcomes import TrialRecord

    records = []
    for number in range(trials):
        candidate = make_run(client, experiment, search, search, "candidate", {})
        curves = [history(rng, rng.randint(20, 30)) for _ in range(folds)]
        for curve in curves:
            log_curve(client, make_run(client, experiment, candidate, search, "fold", {}), curve)
        value = statistics.mean(1 - min(c) / 3 for c in curves)
        best = 1 + curves[0].index(min(curves[0]))
        records.append(
            TrialRecord(number, "complete", value, params_of(rng), candidate, rng.uniform(5, 20), "", best)
        )
    return records


def setup(folder: Path, engine: str, trials: int) -> tuple[str, str, list]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    (folder / "mlruns").mkdir()
    client = MlflowClient(uri)
    experiment = client.create_experiment("bench", artifact_location=str(folder / "mlruns" / "artifacts"))
    search = client.create_run(experiment, tags={"tuner.kind": "search"}).info.run_id
    build = optuna_like if engine == "optuna" else random_like
    return uri, search, build(client, experiment, search, trials, random.Random(0))


class Seconds(float):
    """Wall-clock seconds, with the process' CPU seconds beside (other users of the machine
    inflate the first, hardly the second)."""

    cpu: float = 0.0

    def __format__(self, spec: str) -> str:
        return f"{float(self):{spec}} s wall ({self.cpu:{spec}} s CPU)"


def timed(call) -> Seconds:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    took = Seconds(time.perf_counter() - wall)
    took.cpu = time.process_time() - cpu
    return took


def median(calls: list[Seconds]) -> Seconds:
    took = Seconds(statistics.median(calls))
    took.cpu = statistics.median(c.cpu for c in calls)
    return took


def minus(a: Seconds, b: Seconds) -> Seconds:
    took = Seconds(a - b)
    took.cpu = a.cpu - b.cpu
    return took


def preload() -> None:
    import sklearn.model_selection  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("optuna", "random"), default="optuna")
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fresh-font-cache", action="store_true", help="build matplotlib's font cache anew")
    parser.add_argument(
        "--bare",
        action="store_true",
        help="do not import scikit-learn first (a search process has it loaded)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tuner-bench-plots-"))
    if args.fresh_font_cache:
        os.environ["MPLCONFIGDIR"] = str(folder / "mplconfig")  # empty: matplotlib rebuilds its font list
    from tuner.views.plots import publish_search_artifacts

    uri, search, records = setup(folder, args.engine, args.trials)
    assert "matplotlib" not in sys.modules, "matplotlib was imported before the first publish"
    if (
        not args.bare
    ):  # the search process has scikit-learn (and SciPy) loaded: Optuna's importances import it
        print(f"import sklearn.model_selection first (as a search has): {timed(preload):.2f}")
    kwargs = {"direction": "maximize", "metric": "accuracy", "engine": args.engine}

    def publish(plots: bool) -> list[str]:
        return publish_search_artifacts(uri, search, records, plots=plots, **kwargs)

    first = timed(lambda: publish(True))
    table = median([timed(lambda: publish(False)) for _ in range(args.repeat)])
    both = median([timed(lambda: publish(True)) for _ in range(args.repeat)])
    written = publish(True)
    cache = "fresh font cache" if args.fresh_font_cache else "existing font cache"
    cache += ", scikit-learn not loaded before" if args.bare else ", scikit-learn loaded before"
    print(f"{args.engine}, {len(records)} trials, {cache}; artifacts: {', '.join(written)}")
    print(f"first call (imports matplotlib): {first:.2f}")
    print(f"table only (median of {args.repeat}): {table:.2f}")
    print(f"with plots (median of {args.repeat}): {both:.2f}")
    print(f"pictures alone, warm: {minus(both, table):.2f}; first call: {minus(first, table):.2f}")
    print(f"store: {folder}")


if __name__ == "__main__":
    main()
