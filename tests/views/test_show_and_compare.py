"""`tuner show` and `tuner compare`: searches written into a real MLflow store, read back through the CLI.

The fast tests write runs shaped as the engines write them (a parent run, trial runs or
candidate runs with fold runs below, the tags and metrics tuner records), once per
module; the slow test reads two real searches.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.entities import Metric, Param

from tuner.cli.main import cli
from tuner.tracking.runs import KIND_TAG, REASON_TAG, SEARCH_TAG, STATE_TAG
from tuner.tracking.store import client_for, get_or_create_experiment

SPACE_A = """params:
  n_hidden: {type: int, low: 1, high: 2}
  learning_rate: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
  optimizer: {type: categorical, choices: [adam, nesterov]}
  batch_size: 64
"""
SPACE_B = """params:
  n_hidden: {type: int, low: 1, high: 2}
  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
  optimizer: {type: categorical, choices: [adam, nesterov]}
  activation: relu
"""
T0 = 1_790_000_000_000  # ms


class Store:
    """A real local MLflow store with searches written as tuner writes them."""

    def __init__(self, folder: Path):
        self.uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
        self.client = client_for(self.uri)
        self.folder = folder

    def run(self, experiment_id, name, tags, params=None, metrics=None, start=T0, end=T0 + 1000, status=None):
        run = self.client.create_run(experiment_id, start_time=start, tags=tags, run_name=name)
        run_id = run.info.run_id
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in (params or {}).items()],
        )
        if end is not None:
            self.client.set_terminated(run_id, status=status or "FINISHED", end_time=end)
        return run_id

    def search(self, name, engine, space, *, metric="accuracy", start=T0, end=T0 + 60_000, extra=None):
        """A parent run with its settings, scores and space file; returns (experiment id, run id)."""
        experiment = get_or_create_experiment(self.uri, name)
        params = {"engine": engine, "data": "iris", "metric": metric, "trials": 5, "epochs": 10}
        params["direction"] = "minimize" if metric == "mse" else "maximize"
        if engine == "optuna":
            params.update(sampler="tpe", pruner="hyperband")
        state = "complete" if end else "running"
        tags = {KIND_TAG: "search", STATE_TAG: state}
        run_id = self.run(experiment, name, tags, params, extra or {}, start, end)
        path = self.folder / f"space-{run_id}" / "space.yaml"
        path.parent.mkdir()
        path.write_text(space)
        self.client.log_artifact(run_id, str(path), artifact_path="space")
        return experiment, run_id

    def child(self, experiment, parent, name, kind, state, params=None, metrics=None, tags=None, under=None):
        all_tags = {
            KIND_TAG: kind,
            STATE_TAG: state,
            SEARCH_TAG: parent,
            "mlflow.parentRunId": under or parent,
        }
        all_tags.update(tags or {})
        status = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}.get(state)
        return self.run(
            experiment,
            name,
            all_tags,
            params,
            metrics,
            end=None if state == "running" else T0 + 2000,
            status=status,
        )

    def trial(self, experiment, parent, number, state, value=None, lr=0.01, **extra):
        params = {"n_hidden": 1 + number % 2, "learning_rate": lr, "optimizer": "adam", "batch_size": 64}
        params.update(epochs=10, patience=5, task="multiclass", metric="accuracy", seed=42)
        metrics = {"epochs_run": 5.0 + number, "best_epoch": 3.0 + number, "duration_s": 1.5 + number}
        metrics.update(extra.pop("metrics", {}))
        if value is not None:
            metrics["val_score"] = value
        tags = {"optuna.trial": str(number), **extra.pop("tags", {})}
        return self.child(experiment, parent, f"trial-{number}", "trial", state, params, metrics, tags)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    s = Store(tmp_path_factory.mktemp("store"))
    # "opt": an older search of one trial, then the latest of five (plus a re-check and a best-model run).
    exp, s.opt_old = s.search("opt", "optuna", SPACE_A, start=T0 - 3_600_000, end=T0 - 3_500_000)
    s.trial(exp, s.opt_old, 0, "complete", 0.5)
    best = {"best_val_score": 0.9, "test_accuracy": 0.87}
    _, s.opt = s.search("opt", "optuna", SPACE_A, extra=best)
    s.trial(exp, s.opt, 0, "complete", 0.80)
    s.trial(exp, s.opt, 1, "pruned", metrics={"val_accuracy": 0.53}, tags={REASON_TAG: "pruned at epoch 1"})
    s.trial_run = s.trial(exp, s.opt, 2, "complete", 0.90)
    s.trial(exp, s.opt, 3, "failed", metrics={"val_accuracy": math.nan}, tags={REASON_TAG: "diverged: NaN"})
    s.trial(exp, s.opt, 4, "complete", 0.85)
    s.child(exp, s.opt, "recheck-2-fold-0", "recheck", "complete", metrics={"val_score": 0.99})
    s.child(exp, s.opt, "best-model", "best", "complete", metrics={"accuracy": 0.99})
    # "rand": the random engine, candidates with two fold runs each; another space.
    exp, s.rand = s.search("rand", "random", SPACE_B, extra={"best_val_score": 0.7, "test_accuracy": 0.6})
    for i, (score, epochs) in enumerate([(0.6, (2.0, 4.0)), (0.7, (5.0, 6.0))]):
        params = {"n_hidden": 1, "learning_rate": 0.001 * (i + 1), "optimizer": "nesterov"}
        metrics = {"val_score": score, "fit_time_s": 3.0 + i}
        candidate = s.child(exp, s.rand, f"candidate-{i}", "candidate", "complete", params, metrics)
        for k, best_epoch in enumerate(epochs):
            fold_metrics = {"best_epoch": best_epoch, "epochs_run": best_epoch + 2, "val_score": score}
            s.child(exp, s.rand, f"fold-{k}", "fold", "complete", params, fold_metrics, under=candidate)
    # "reg": a regression search (lower is better).
    exp, s.reg = s.search("reg", "optuna", SPACE_A, metric="mse", extra={"best_val_score": 0.2})
    for number, value in enumerate([0.5, 0.2, 0.9]):
        s.trial(exp, s.reg, number, "complete", value)
    # "cluster": a finished search, then a newer one still running (a study fed by workers).
    exp, _ = s.search("cluster", "optuna", SPACE_A, start=T0 - 100_000, end=T0 - 50_000)
    _, s.cluster = s.search("cluster", "optuna", SPACE_A, end=None)
    s.trial(exp, s.cluster, 0, "complete", 0.75)
    s.trial(exp, s.cluster, 1, "running", metrics={"val_accuracy": 0.4})
    return s


def tuner(store: Store, *args: str, expect: int = 0):
    result = CliRunner().invoke(cli, [*args, "--tracking-uri", store.uri])
    assert result.exit_code == expect, result.output
    return result


def shown(store: Store, *args: str) -> dict:
    return json.loads(tuner(store, "show", *args, "--output", "json").stdout)


def numbers(view: dict) -> list:
    return [t["number"] for t in view["trials"]]


def test_show_lists_the_latest_search_best_first_complete_before_pruned_before_failed(store):
    out = tuner(store, "show", "opt").stdout
    header = out.splitlines()[0]
    assert "Search 'opt'" in header and "optuna" in header and "accuracy" in header and store.opt in header
    assert "5 trials (3 complete, 1 pruned, 1 failed)" in header
    rows = [line.split("│")[1:4] for line in out.splitlines() if line.startswith("│")]
    assert [(n.strip(), s.strip(), v.strip()) for n, s, v in rows] == [
        ("2", "complete", "0.9"),
        ("4", "complete", "0.85"),
        ("0", "complete", "0.8"),
        ("1", "pruned", "0.53"),  # a pruned trial's score: the last value its pruner saw
        ("3", "failed", "-"),
    ]
    assert "diverged: NaN" in out and "learning_rate" in out and "best epoch" in out
    view = shown(store, "opt")
    assert view["params"] == ["n_hidden", "learning_rate", "optimizer"]  # the searched ones, not batch_size
    best = view["trials"][0]
    assert best["params"] == {"n_hidden": 1, "learning_rate": 0.01, "optimizer": "adam"}
    assert (best["best_epoch"], best["epochs_run"], best["duration_s"]) == (5.0, 7.0, 3.5)
    assert view["trials"][-1]["value"] is None  # NaN is no number in JSON


def test_show_filters_by_state_and_keeps_the_top(store):
    assert numbers(shown(store, "opt", "--state", "pruned,failed")) == [1, 3]
    assert numbers(shown(store, "opt", "--state", "failed", "--state", "pruned")) == [1, 3]
    view = shown(store, "opt", "--state", "complete", "--top", "2")
    assert numbers(view) == [2, 4] and view["total"] == 5
    assert "showing 1 of 5" in tuner(store, "show", "opt", "--top", "1").stdout
    bad = tuner(store, "show", "opt", "--state", "done", expect=2)
    assert bad.output.count("\n") == 1 and bad.output.startswith("error:") and "done" in bad.output


def test_show_csv(store):
    rows = list(csv.DictReader(io.StringIO(tuner(store, "show", "opt", "--output", "csv").stdout)))
    assert [r["number"] for r in rows] == ["2", "4", "0", "1", "3"]
    assert (
        rows[0]["learning_rate"] == "0.01"
        and rows[0]["value"] == "0.9"
        and rows[0]["run_id"] == store.trial_run
    )
    assert rows[-1]["reason"] == "diverged: NaN" and rows[-1]["value"] == ""


def test_show_lower_is_better_for_a_loss(store):
    view = shown(store, "reg")
    assert view["direction"] == "minimize" and [t["value"] for t in view["trials"]] == [0.2, 0.5, 0.9]


def test_show_random_search_candidates_with_their_folds(store):
    view = shown(store, "rand")
    assert view["engine"] == "random" and view["total"] == 2  # folds are not rows
    first, second = view["trials"]
    assert (first["number"], first["value"], first["duration_s"]) == (1, 0.7, 4.0)
    assert (first["best_epoch"], first["epochs_run"]) == (5.5, 7.5)  # the folds' means
    assert second["best_epoch"] == 3.0 and view["params"] == ["n_hidden", "learning_rate", "optimizer"]
    assert "CV accuracy" in tuner(store, "show", "rand").stdout


def test_show_picks_a_search_run_and_defaults_to_the_latest_even_running(store):
    view = shown(store, "opt", "--run", store.opt_old)
    assert view["search_run_id"] == store.opt_old and numbers(view) == [0]
    running = shown(store, "cluster")
    assert running["search_run_id"] == store.cluster and running["state"] == "running"
    assert [t["state"] for t in running["trials"]] == ["complete", "running"]
    assert running["trials"][1]["value"] == 0.4


def test_show_reads_every_page(store, monkeypatch):
    monkeypatch.setattr("tuner.tracking.lookup.PAGE_SIZE", 2)
    assert numbers(shown(store, "opt")) == [2, 4, 0, 1, 3]


def one_error(result) -> str:
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ")
    return result.output


def test_errors_are_one_line(store):
    out = one_error(tuner(store, "show", "nope", expect=2))
    assert "no search named 'nope'" in out and "cluster, opt, rand, reg" in out
    assert "no run 'ffff" in one_error(tuner(store, "show", "opt", "--run", "f" * 32, expect=2))
    out = one_error(tuner(store, "show", "opt", "--run", store.trial_run, expect=2))
    assert "is a trial run, not a search's" in out and store.opt in out
    out = one_error(tuner(store, "show", "opt", "--run", store.rand, expect=2))
    assert "search 'rand', not of 'opt'" in out
    assert "two or more" in one_error(tuner(store, "compare", "opt", expect=2))
    assert "two or more" in one_error(tuner(store, "compare", expect=2))
    assert "no search named 'nope'" in one_error(tuner(store, "compare", "opt", "nope", expect=2))
    assert "is a trial run" in one_error(tuner(store, "compare", "opt", store.trial_run, expect=2))
    assert "same search run" in one_error(tuner(store, "compare", "opt", store.opt, expect=2))


def _strict_json(text: str) -> dict:
    """JSON as any reader takes it: ``NaN`` and ``Infinity`` are not JSON."""

    def refuse(constant: str):
        raise AssertionError(f"{constant} in the JSON output")

    return json.loads(text, parse_constant=refuse)


def test_show_and_compare_json_hold_no_infinity(tmp_path):
    """A diverged trial's metric may be infinite: shown as missing, never as ``Infinity``."""
    s = Store(tmp_path)
    exp, s.inf = s.search(
        "inf", "optuna", SPACE_A, extra={"best_val_score": math.inf, "test_accuracy": -math.inf}
    )
    s.trial(exp, s.inf, 0, "complete", 0.8)
    s.trial(exp, s.inf, 1, "failed", math.inf, metrics={"duration_s": math.inf, "best_epoch": -math.inf})
    view = _strict_json(tuner(s, "show", "inf", "--output", "json").stdout)
    values = {t["number"]: t for t in view["trials"]}
    assert values[0]["value"] == 0.8 and values[1]["value"] is None
    assert values[1]["duration_s"] is None and values[1]["best_epoch"] is None
    s.search("fine", "optuna", SPACE_A, extra={"best_val_score": 0.8, "test_accuracy": 0.7})
    compared = _strict_json(tuner(s, "compare", "inf", "fine", "--output", "json").stdout)
    first, second = compared["searches"]
    assert first["best_val_score"] is None and first["test_score"] is None and second["test_score"] == 0.7


def test_reading_an_empty_folder_creates_no_store():
    for args in (["show", "opt"], ["compare", "a", "b"], ["compare", "a", "f" * 32]):
        out = one_error(CliRunner().invoke(cli, args))
        assert "no search named 'a'" in out or "no search named 'opt'" in out or "no run" in out
    assert not Path("mlruns").exists()


def test_compare_two_engines_and_their_spaces(store):
    found = json.loads(tuner(store, "compare", "opt", "rand", "--output", "json").stdout)
    opt, rand = found["searches"]
    assert (opt["search_run_id"], opt["engine"], opt["sampler"], opt["pruner"]) == (
        store.opt,
        "optuna",
        "tpe",
        "hyperband",
    )
    assert (rand["engine"], rand["sampler"], rand["pruner"]) == ("random", "-", "-")
    assert opt["trials_by_state"] == {"complete": 3, "pruned": 1, "failed": 0 + 1}
    assert (opt["best_val_score"], opt["test_score"], opt["wall_s"]) == (0.9, 0.87, 60.0)
    assert opt["trials_per_minute"] == 5.0 and rand["trials_by_state"]["complete"] == 2
    assert found["same_space"] is False
    assert found["space_differences"] == {
        "learning_rate": ["float [0.001, 0.03], log", "float [0.0001, 0.01], log"],
        "batch_size": ["fixed = 64", "-"],
        "activation": ["-", "fixed = relu"],
    }
    out = tuner(store, "compare", "opt", "rand").stdout
    assert "Space differences" in out and "float [0.0001, 0.01], log" in out and "tpe" in out
    row = next(line for line in out.splitlines() if line.startswith("│ rand"))
    assert "random" in row and "0.7" in row and "0.6" in row and "60 s" in row


def test_compare_by_run_id_same_space_different_metric_and_running(store):
    out = tuner(store, "compare", "opt", store.opt_old).stdout
    assert "same space" in out and store.opt_old[:8] in out
    out = tuner(store, "compare", "opt", "reg").stdout
    assert "note: different metrics (accuracy, mse)" in out and "0.9 accuracy" in out and "0.2 mse" in out
    found = json.loads(tuner(store, "compare", "cluster", "opt", "--output", "json").stdout)
    cluster = found["searches"][0]
    assert cluster["running"] and cluster["best_val_score"] == 0.75  # the best complete trial so far
    assert cluster["trials_by_state"]["running"] == 1 and cluster["test_score"] is None
    assert any("still running" in note for note in found["notes"])
    assert "(running)" in tuner(store, "compare", "cluster", "opt").stdout


def test_compare_csv(store):
    rows = list(csv.DictReader(io.StringIO(tuner(store, "compare", "opt", "rand", "--output", "csv").stdout)))
    assert [(r["search"], r["engine"], r["complete"], r["best_val_score"]) for r in rows] == [
        ("opt", "optuna", "3", "0.9"),
        ("rand", "random", "2", "0.7"),
    ]


@pytest.mark.slow
def test_show_and_compare_two_real_searches(tracking_uri):
    """An Optuna search and a random one on iris, shown and compared from the store they wrote."""
    quick = ["--data", "iris", "--trials", "2", "--epochs", "2", "--space", "mlp_quick", "--recheck", "1"]
    quick += ["--n-jobs", "1", "--quiet", "--output", "json", "--tracking-uri", tracking_uri]
    results = {}
    for name, engine in (
        ("iris-optuna", ["--engine", "optuna"]),
        ("iris-random", ["--engine", "random", "--cv", "2"]),
    ):
        result = CliRunner().invoke(cli, ["search", *quick, *engine, "--name", name], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        results[name] = json.loads(result.stdout)
    store = Store.__new__(Store)
    store.uri = tracking_uri
    for name, result in results.items():
        table = tuner(store, "show", name).stdout
        print(table)
        view = shown(store, name)
        assert view["search_run_id"] == result["search_run_id"] and view["total"] == 2
        assert view["params"] == ["n_hidden", "n_neurons", "learning_rate", "optimizer"]
        assert {t["run_id"] for t in view["trials"]} == {t["run_id"] for t in result["trials"]}
        best = view["trials"][0]
        assert best["state"] == "complete" and best["value"] == pytest.approx(result["best_value"])
        assert best["epochs_run"] >= best["best_epoch"] >= 1 and best["duration_s"] > 0
    out = tuner(store, "compare", "iris-optuna", "iris-random").stdout
    print(out)
    assert "same space" in out
    found = json.loads(tuner(store, "compare", "iris-optuna", "iris-random", "--output", "json").stdout)
    for row, result in zip(found["searches"], results.values(), strict=True):
        assert row["engine"] == result["engine"] and row["test_score"] == pytest.approx(result["test_score"])
        assert sum(row["trials_by_state"].values()) == 2 and 0 < row["wall_s"] < result["duration_s"] + 1
    assert found["searches"][0]["sampler"] == "tpe" and found["searches"][1]["sampler"] == "-"
