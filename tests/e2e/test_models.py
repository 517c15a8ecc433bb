"""Networks beyond the MLP end to end: the shipped cnn and wide_deep spaces with both engines, a
user's own build function through search, show, export, predict and the registry, and the
Python API given the function itself."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from tuner import SearchConfig, output_layer, run_search
from tuner.cli.main import cli
from tuner.data.dataset import load_dataset

pytestmark = pytest.mark.slow  # real searches: CI runs them all

QUICK = ["--epochs", "3", "--patience", "2", "--recheck", "1", "--quiet", "--output", "json", "--no-plots"]
OWN = """
import keras

import tuner


def build(width=8, depth=1, *, task, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(depth):
        x = keras.layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, tuner.output_layer(task, n_outputs)(x))
"""


def run_cli(*args: str) -> dict:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def trial_params(result: dict) -> list[dict]:
    """The parameters of each trial (optuna) or candidate (random) run of the search."""
    client = MlflowClient(result["tracking_uri"])
    query = f"tags.`tuner.search_run_id` = '{result['search_run_id']}'"
    runs = client.search_runs([result["experiment_id"]], filter_string=query)
    return [r.data.params for r in runs if r.data.tags.get("tuner.kind") in ("trial", "candidate")]


@pytest.mark.parametrize("engine", ["optuna", "random"])
def test_the_cnn_space_searches_digits_as_images(engine):
    budget = ["--trials", "3"] if engine == "optuna" else ["--trials", "2", "--cv", "2"]
    result = run_cli(
        "search", "--space", "cnn", "--data", "digits-images", "--engine", engine, *budget, *QUICK
    )
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["search_run_id"])
    assert parent.data.params["model"] == "cnn" and parent.data.params["sample_shape"] == "8x8"
    assert all({"n_blocks", "filters", "dense_units"} <= set(p) for p in trial_params(result))
    assert result["test_score"] > 0.5  # 10 classes: chance is 0.1


@pytest.mark.parametrize("engine", ["optuna", "random"])
def test_the_wide_deep_space_searches_a_table_and_momentum_only_with_nesterov(engine):
    budget = ["--trials", "6"] if engine == "optuna" else ["--trials", "4", "--cv", "2"]
    result = run_cli(
        "search", "--space", "wide_deep", "--data", "diabetes", "--engine", engine, *budget, *QUICK
    )
    params = trial_params(result)
    assert params and all(("momentum" in p) == (p["optimizer"] == "nesterov") for p in params)
    assert (
        MlflowClient(result["tracking_uri"]).get_run(result["search_run_id"]).data.params["model"]
        == "wide_deep"
    )
    shown = CliRunner().invoke(cli, ["show", "wide_deep-diabetes"])
    assert shown.exit_code == 0 and "momentum" in shown.output


def test_a_users_file_is_searched_shown_exported_predicted_and_registered(tmp_path):
    (tmp_path / "nets.py").write_text(OWN)
    (tmp_path / "space.yaml").write_text(
        "model: nets.py:build\nparams:\n  width: {type: int, low: 4, high: 32, log: true}\n"
        "  depth: {type: categorical, choices: [1, 2]}\n  learning_rate: 0.01\n"
    )
    result = run_cli(
        "search", "--space", "space.yaml", "--data", "iris", "--trials", "3", "--register", "own", *QUICK
    )
    assert result["registration"]["uri"] == "models:/own/1" and result["registration"]["took_champion"]
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["search_run_id"])
    assert parent.data.params["model"] == "nets.py:build"
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "model_code")] == ["model_code/nets.py"]

    shown = CliRunner().invoke(cli, ["show", "space-iris"])
    assert shown.exit_code == 0 and "width" in shown.output and "depth" in shown.output
    exported = run_cli("export", "space-iris", "--out", "exported", "--output", "json")
    assert not exported["runs_code"]  # Keras' own layers only: the folder needs no code of the user's
    (tmp_path / "nets.py").unlink()  # the returned model does not need the build function
    ds = load_dataset("iris")
    pd.DataFrame(ds.X_test).to_csv("rows.csv", index=False)
    for model in ("exported", "models:/own@champion"):
        run_cli("predict", "--model", model, "--data", "rows.csv", "--out", "out.csv", "--output", "json")
        predicted = pd.read_csv("out.csv")["prediction"].to_numpy()
        assert float(np.mean(predicted == ds.y_test)) == pytest.approx(result["test_score"])


def build_in_module(width: int = 8, *, task: str, input_shape: tuple, n_outputs: int):
    import keras

    inputs = keras.Input(shape=input_shape)
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    return keras.Model(inputs, output_layer(task, n_outputs)(hidden))


def test_the_python_api_takes_the_function_itself_found_by_its_file_or_held_in_memory(tmp_path):
    (tmp_path / "space.yaml").write_text("params:\n  width: {type: int, low: 4, high: 16}\n")

    def in_a_cell(width: int = 8, *, task: str, input_shape: tuple, n_outputs: int):
        return build_in_module(width, task=task, input_shape=input_shape, n_outputs=n_outputs)

    for function, found_by_path in [(build_in_module, True), (in_a_cell, False)]:
        config = SearchConfig(model=function, space="space.yaml", data="iris", trials=2, epochs=2, recheck=1)
        config.show_progress, config.plots = False, False
        result = run_search(config)
        recorded = MlflowClient(result.tracking_uri).get_run(result.search_run_id).data.params["model"]
        if found_by_path:  # its module's name, or its file's path where no import finds it
            assert recorded.endswith("test_models:build_in_module") or recorded.endswith(
                ".py:build_in_module"
            )
        else:
            assert recorded.startswith("<in memory>:"), recorded
    refused = subprocess.run(
        [sys.executable, "-c", CLUSTER_WITH_A_LAMBDA], capture_output=True, text=True, cwd=tmp_path
    )
    assert refused.returncode == 1 and "function object only this process has" in refused.stderr


CLUSTER_WITH_A_LAMBDA = """
from tuner import SearchConfig
from tuner.jobs.cluster import create_study
create_study(SearchConfig(model=lambda **kw: None, space="space.yaml", data="iris", study="s", storage="s.journal"))
"""


PER_LAYER = """
import keras


def build(n_layers, units_1, units_2=0, units_3=0, *, task, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for units in (units_1, units_2, units_3)[:n_layers]:
        x = keras.layers.Dense(units, activation="relu")(x)
    activation = "softmax" if task == "multiclass" else "sigmoid"
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation=activation)(x))
"""


@pytest.mark.parametrize("engine", ["optuna", "random"])
def test_per_layer_sizes_are_drawn_only_for_the_layers_a_trial_has(tmp_path, engine):
    (tmp_path / "layers.py").write_text(PER_LAYER)
    (tmp_path / "space.yaml").write_text(
        "model: layers.py:build\nparams:\n  n_layers: {type: int, low: 1, high: 3}\n"
        "  units_1: {type: int, low: 4, high: 16}\n"
        "  units_2: {type: int, low: 4, high: 16, when: {n_layers: [2, 3]}}\n"
        "  units_3: {type: int, low: 4, high: 16, when: {n_layers: [3]}}\n"
    )
    budget = ["--trials", "8"] if engine == "optuna" else ["--trials", "6", "--cv", "2"]
    result = run_cli("search", "--space", "space.yaml", "--data", "iris", "--engine", engine, *budget, *QUICK)
    params = trial_params(result)
    assert len({p["n_layers"] for p in params}) > 1
    for p in params:
        depth = int(p["n_layers"])
        assert {k for k in p if k.startswith("units_")} == {f"units_{i}" for i in range(1, depth + 1)}


def test_the_readmes_own_model_example_runs_as_printed_from_the_repository(tmp_path):
    from paths import REPO

    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuner",
            "search",
            "--space",
            "examples/small_cnn.yaml",
            "--data",
            "digits-images",
            "--trials",
            "2",
            "--epochs",
            "5",
            "--recheck",
            "1",
            "--no-plots",
            "--output",
            "json",
            "--quiet",
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--storage",
            str(tmp_path / "study.journal"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["test_score"] > 0.3  # five epochs; chance is 0.1
