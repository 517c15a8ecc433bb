"""The benchmarks' own arithmetic: compare.py's report and choice.py's rules, on records made here.

The figures in benchmarks/README.md come from these; a wrong ratio or a wrong pick would go
unnoticed in a run that takes an hour.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from paths import REPO

BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import choice  # noqa: E402


def _record(contender: str, seed: int, wall: float, score: float, **extra: object) -> dict:
    return {
        "dataset": "wine",
        "seed": seed,
        "contender": contender,
        "wall_s": wall,
        "cpu_s": wall,
        "cpu_use": 1.0,
        "returncode": 0,
        "score_name": "accuracy",
        "test_score": score,
        "trials": 15,
        "trials_per_min": 15 / wall * 60,
        **extra,
    }


def test_the_report_gives_medians_ratios_the_limit_multiple_and_the_finish_share(tmp_path):
    tuner = {"phases": {"first_fit": 6.0, "finish": 4.0, "training": 2.0}, "workers": 2, "import_tf_s": 5.0}
    records = [
        _record("tuner", 42, 20.0, 0.97, limit_s=2.0, **tuner),
        _record("tuner", 43, 30.0, 0.95, limit_s=2.0, **tuner),
        _record("tuner", 44, 70.0, 0.96, limit_s=2.0, **tuner),
        _record("baseline", 42, 40.0, 0.96),
        _record("baseline", 43, 60.0, 0.96),
        {**_record("baseline", 44, 1.0, 0.0), "returncode": 1, "error": "RuntimeError: exit status 1"},
    ]
    out = tmp_path / "runs.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "compare.py"), "--report-only", "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    # Medians, not means: tuner 30 s and 0.96, baseline 50 s and 0.96; search / limit 10, 15, 35;
    # finish 4 s of 20, 30 and 70.
    assert "tuner / baseline: time ratio 0.60, score diff 0.0000" in done.stdout
    assert "| wine | 0.960, 30 s | 0.960, 50 s | - | 0.60 | 0.0000 | 15.0 | 6.0 / 5.0 | 0.13 |" in done.stdout
    assert "wine seed 44 baseline: RuntimeError: exit status 1" in done.stdout


def _result(metric: str, direction: str, candidates: list[tuple[int, float, float]]) -> dict:
    """A search result whose re-checked candidates are (trial, mean, mean loss), best trial first."""
    return {
        "metric": metric,
        "direction": direction,
        "candidates": [{"number": n, "mean": m, "mean_loss": loss} for n, m, loss in candidates],
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("metric", 5),  # the best mean
        ("loss", 9),  # the lowest loss, whatever its accuracy
        ("metric, then loss", 7),  # within one standard error of 0.95 over 100 rows (0.022): 7, not 9
        ("metric, top 2", 5),
        ("no re-check", 2),  # the trial best on validation
    ],
)
def test_each_rule_picks_its_candidate_where_accuracy_is_coarse(rule, expected):
    result = _result(
        "accuracy", "maximize", [(2, 0.93, 0.30), (5, 0.95, 0.25), (7, 0.94, 0.20), (9, 0.90, 0.10)]
    )
    assert choice.pick(rule, result, n_rows=100) == expected


def test_where_the_metric_is_smooth_the_one_standard_error_rule_is_the_metric():
    result = _result("mse", "minimize", [(1, 3.0, 0.5), (4, 2.9, 0.6)])
    assert choice.pick("metric", result, n_rows=100) == 4
    assert choice.pick("metric, then loss", result, n_rows=100) == 4
    assert choice.pick("loss", result, n_rows=100) == 1
