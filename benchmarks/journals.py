"""What opening a study costs as the store's history grows: one shared journal or one per study.

Every process of a search opens its study's storage (the search process and each worker),
and opening a journal file replays every line in it. Before, tuner kept every study of a
store in one `mlruns/optuna.journal`, so that replay grew with each search the store had
seen; now each study has its own `mlruns/optuna/<study>.journal`.

One real default search (wine) is run once; its journal's lines are then written N + 1
times into a shared journal, as N earlier searches and itself (study and trial ids shifted
as Optuna would have numbered them; the earlier studies renamed). Opening the last study
(storage, study, its trials) is timed in the shared journal and in its own file,
alternating, in fresh storage objects each time.

    python benchmarks/journals.py                      # about a minute on this machine
    python benchmarks/journals.py --history 10,100,300 --rounds 7

Prints, per history size: the shared journal's lines, the median seconds to open the study
in the shared journal and in its own, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import optuna

from tuner.engines.optuna.storage import get_storage


def one_search(folder: Path) -> tuple[str, Path]:
    """A default `tuner search --data wine`; its study's name and journal file."""
    done = subprocess.run(
        ["tuner", "search", "--data", "wine", "--quiet", "--output", "json"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    return result["study"], Path(result["storage"])


def open_seconds(journal: Path, study: str) -> float:
    started = time.perf_counter()
    optuna.load_study(study_name=study, storage=get_storage(str(journal))).get_trials()
    return time.perf_counter() - started


def shared_journal(own: Path, history: int, path: Path) -> Path:
    """``own``'s lines as the last of ``history`` + 1 searches in one journal."""
    operations = [json.loads(line) for line in own.read_text().splitlines()]
    trials = 1 + max(op.get("trial_id", -1) for op in operations)
    with path.open("w") as out:
        for k in range(history + 1):
            for op in operations:
                shifted = {**op}
                if "study_name" in op and k < history:
                    shifted["study_name"] = f"earlier-{k}"
                if "study_id" in op:
                    shifted["study_id"] = op["study_id"] + k
                if "trial_id" in op:
                    shifted["trial_id"] = op["trial_id"] + k * trials
                out.write(json.dumps(shifted, separators=(",", ":")) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default="0,25,100", help="earlier searches in the shared journal")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tuner-journals-") as tmp:
        folder = Path(tmp)
        study, own = one_search(folder)
        trials = len(optuna.load_study(study_name=study, storage=get_storage(str(own))).trials)
        print(f"one default wine search: {sum(1 for _ in own.open())} journal lines, {trials} trials")
        for history in sorted(int(n) for n in args.history.split(",")):
            shared = shared_journal(own, history, folder / f"shared-{history}.journal")
            found = optuna.load_study(study_name=study, storage=get_storage(str(shared))).trials
            assert len(found) == trials, "the shared journal must hold the same study"
            times: dict[str, list[float]] = {"shared": [], "own": []}
            for _ in range(args.rounds):
                times["shared"].append(open_seconds(shared, study))
                times["own"].append(open_seconds(own, study))
            in_shared, in_own = (statistics.median(times[k]) for k in ("shared", "own"))
            print(
                f"{history:4d} earlier searches: {sum(1 for _ in shared.open()):6d} lines; "
                f"open in the shared journal {in_shared:.3f} s, in its own {in_own:.3f} s, "
                f"own / shared {in_own / in_shared:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
