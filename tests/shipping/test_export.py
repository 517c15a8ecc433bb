"""The model folder (Keras + skops + JSON, no pickle): export, predict, the logged MLflow model.

Real tiny Keras models (2 epochs, one hidden layer of 8) on small data; a real local
MLflow store. The logged model is checked where it is used: ``mlflow.pyfunc``, a
process in which tuner's code cannot be imported, ``mlflow models predict`` and
``mlflow models serve``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from paths import REPO
from servers import free_port
from tiny_models import fit, one_error_line, table_csv

from tuner.cli.main import cli
from tuner.data.dataset import load_dataset
from tuner.errors import TunerError
from tuner.serving.model_folder import KERAS_FILE, META_FILE, PREPROCESSING_FILE, TRUSTED_TYPES
from tuner.shipping.export import load_model_folder, save_model_folder


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """A binary model of a table with a text category, exported to a folder."""
    root = tmp_path_factory.mktemp("binary")
    ds = load_dataset(str(table_csv(root / "table.csv")), "label", None, 0, 0.2)
    est, pre, prep = fit(ds)
    save_model_folder(est, pre, ds, root / "model", target="label")
    return ds, est, prep, root / "model"


def _proba_columns(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c.startswith("proba_")]].to_numpy("float64")


def test_binary_table_with_a_category(binary):
    ds, est, prep, folder = binary
    assert sorted(p.name for p in folder.iterdir()) == [META_FILE, KERAS_FILE, PREPROCESSING_FILE]
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["task"] == "binary" and meta["classes"] == ["no", "yes"] and meta["targets"] == ["label"]
    assert [(c["name"], c["kind"]) for c in meta["input"]["columns"]] == [
        ("a", "number"),
        ("b", "number"),
        ("color", "category"),
    ]
    assert meta["input"]["columns"][1]["dtype"] == "int64" and meta["tuner_version"]
    out = load_model_folder(folder).predict_frame(ds.X_test)
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes"]
    assert (out["prediction"].to_numpy() == est.predict(prep(ds.X_test))).all()
    np.testing.assert_allclose(_proba_columns(out), est.predict_proba(prep(ds.X_test)), atol=1e-6)


def test_rows_are_checked_and_a_target_column_is_ignored(binary):
    ds, _, _, folder = binary
    model = load_model_folder(folder)
    rows = ds.X_test.reset_index(drop=True)
    with_target = rows.assign(label="yes")
    pd.testing.assert_frame_equal(model.predict_frame(with_target), model.predict_frame(rows))
    with pytest.raises(TunerError, match=r"missing column\(s\) 'a', 'color'") as missing:
        model.predict_frame(rows.drop(columns=["a", "color"]))
    assert "\n" not in str(missing.value)
    with pytest.raises(TunerError, match=r"column 'b' holds text \('many' in data row 2\)") as typed:
        model.predict_frame(rows.assign(b=["1", "many"] + ["2"] * (len(rows) - 2)))
    assert "\n" not in str(typed.value)
    numbers_as_text = model.predict_frame(rows.assign(b=rows["b"].astype(str)))  # as a CSV may give them
    pd.testing.assert_frame_equal(numbers_as_text, model.predict_frame(rows))
    assert list(model.predict_frame(rows[:0]).columns) == ["prediction", "proba_no", "proba_yes"]


def test_multiclass_arrays_with_and_without_preprocessing(tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "flat.npz", X=X[:300], y=y[:300])
    np.savez(tmp_path / "images.npz", X=(X[:300] / 16).reshape(-1, 8, 8).astype("float32"), y=y[:300])
    for name, has_prep in (("flat", True), ("images", False)):
        ds = load_dataset(str(tmp_path / f"{name}.npz"), None, None, 0, 0.2)
        est, pre, prep = fit(ds)
        folder = tmp_path / name
        save_model_folder(est, pre, ds, folder)
        assert (folder / PREPROCESSING_FILE).exists() == has_prep
        meta = json.loads((folder / META_FILE).read_text())
        assert meta["input"] == {
            "kind": "array",
            "sample_shape": list(ds.sample_shape),
            "dtype": str(ds.X_train.dtype),
        }
        rows = pd.DataFrame(ds.X_test.reshape(len(ds.X_test), -1))  # flattened, as a CSV holds them
        out = load_model_folder(folder).predict_frame(rows)
        assert list(out.columns) == ["prediction", *(f"proba_{k}" for k in range(10))]
        assert (out["prediction"].to_numpy() == est.predict(prep(ds.X_test))).all()
        np.testing.assert_allclose(_proba_columns(out), est.predict_proba(prep(ds.X_test)), atol=1e-6)
        with pytest.raises(TunerError, match="the model reads 64 feature column"):
            load_model_folder(folder).predict_frame(rows.iloc[:, :60])


def test_regression_predicts_in_the_target_units(tmp_path):
    ds = load_dataset("diabetes", None, None, 0, 0.2)
    est, pre, prep = fit(ds)
    save_model_folder(est, pre, ds, tmp_path / "model")
    meta = json.loads((tmp_path / "model" / META_FILE).read_text())
    assert meta["target_scaling"]["mean"] == pytest.approx([float(np.mean(ds.y_train))])
    out = load_model_folder(tmp_path / "model").predict_frame(ds.X_test)
    assert list(out.columns) == ["prediction"]
    np.testing.assert_allclose(out["prediction"].to_numpy(), est.predict(prep(ds.X_test)), atol=1e-6)
    assert out["prediction"].mean() > 50  # diabetes targets run 25..346: not standardized units


def test_multilabel_gives_a_label_and_a_probability_each(tmp_path):
    from tuner.serving.model_folder import predict

    path = table_csv(tmp_path / "labels.csv", targets=("up", "big"))
    ds = load_dataset(str(path), "up,big", None, 0, 0.2)
    assert ds.task == "multilabel"
    est, pre, prep = fit(ds)
    save_model_folder(est, pre, ds, tmp_path / "model", target="up,big")
    out = load_model_folder(tmp_path / "model").predict_frame(ds.X_test)
    assert list(out.columns) == ["prediction_up", "prediction_big", "proba_up", "proba_big"]
    assert (out[["prediction_up", "prediction_big"]].to_numpy() == est.predict(prep(ds.X_test))).all()
    np.testing.assert_allclose(_proba_columns(out), predict(est.model_, prep(ds.X_test)), atol=1e-6)


def test_skops_loads_only_the_types_tuner_trusts(binary, tmp_path):
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    ds, _, _, folder = binary
    tables = ds.make_preprocessor().fit(ds.X_train)
    arrays = load_dataset("digits", None, None, 0, 0.2)
    arrays.X_train = arrays.X_train.to_numpy()  # as an .npz gives them: a Pipeline, not a ColumnTransformer
    for preprocessor in (tables, arrays.make_preprocessor().fit(arrays.X_train)):
        untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(preprocessor))
        assert set(untrusted) <= set(TRUSTED_TYPES), untrusted
    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered)
    skops.io.dump(FunctionTransformer(os.system), tampered / PREPROCESSING_FILE)  # it would run commands
    with pytest.raises(TunerError, match="holds types this loader does not trust") as refused:
        load_model_folder(tampered)
    assert "posix.system" in str(refused.value) and "\n" not in str(refused.value)


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_predict_command_on_a_folder(binary, tmp_path):
    ds, est, prep, folder = binary
    rows = tmp_path / "rows.csv"
    ds.X_test.to_csv(rows, index=False)
    result = _cli("predict", "--model", str(folder), "--data", str(rows), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "p.csv")
    assert (written["prediction"].to_numpy() == est.predict(prep(ds.X_test))).all()
    ds.X_test.drop(columns=["a", "b"]).to_csv(tmp_path / "short.csv", index=False)
    out = tmp_path / "never.csv"
    line = one_error_line(
        _cli("predict", "--model", str(folder), "--data", str(tmp_path / "short.csv"), "--out", str(out))
    )
    assert "missing column(s) 'a', 'b'" in line and not out.exists()
    ds.X_test.assign(a="n/a").to_parquet(tmp_path / "typed.parquet")
    line = one_error_line(
        _cli("predict", "--model", str(folder), "--data", str(tmp_path / "typed.parquet"), "--out", str(out))
    )
    assert "column 'a' holds text ('n/a'" in line and not out.exists()


# ---- the logged MLflow model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def logged(binary, tmp_path_factory):
    """The binary model logged as a finished search would log it; its rows as a CSV."""
    from tuner.shipping.mlflow_model import log_model
    from tuner.tracking.runs import COMPLETE, RunTarget, close_run, log_tags, open_experiment

    ds, _, _, folder = binary
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    experiment = open_experiment(uri, "table-search")
    run_id = RunTarget(uri, experiment.experiment_id, None, "search", "search").open({"task": "binary"})
    model_uri = log_model(uri, run_id, folder, ds.X_test[:5])
    log_tags(uri, run_id, {"best.model_uri": model_uri})
    close_run(uri, run_id, COMPLETE)
    rows = root / "rows.csv"
    ds.X_test.to_csv(rows, index=False)
    expected = load_model_folder(folder).predict_frame(pd.read_csv(rows))
    return uri, model_uri, rows, expected


# MLflow refuses to unpickle anything with this set: the models here load all the same.
NO_PICKLE = {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}


def _same_predictions(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert (got["prediction"].astype(str).to_numpy() == expected["prediction"].astype(str).to_numpy()).all()
    np.testing.assert_allclose(_proba_columns(got), _proba_columns(expected), atol=1e-6)


@pytest.mark.slow
def test_the_logged_model_loads_without_tuner_and_predicts_the_same(logged, tmp_path, monkeypatch):
    import mlflow

    from tuner.shipping.mlflow_model import fetch_model

    uri, model_uri, rows, expected = logged
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    mlflow.set_tracking_uri(uri)
    _same_predictions(mlflow.pyfunc.load_model(model_uri).predict(pd.read_csv(rows)), expected)
    local = fetch_model(uri, model_uri, tmp_path / "download").parent.parent  # the whole MLflow model
    requirements = (local / "requirements.txt").read_text()
    assert "skops==" in requirements and "tensorflow==" in requirements and "tuner" not in requirements
    script = tmp_path / "no_tuner.py"
    script.write_text(NO_TUNER_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(REPO), str(local), str(rows), str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, **NO_PICKLE},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("folder.csv", "pyfunc.csv"):
        _same_predictions(pd.read_csv(tmp_path / name), expected)


# Run with -I (no PYTHONPATH, no script folder on sys.path) and without the repository's
# folder, which the editable install puts on sys.path: no module of tuner's imports.
NO_TUNER_SCRIPT = """
import sys
repo, model, rows, out = sys.argv[1:]
sys.path[:] = [p for p in sys.path if p.rstrip("/") != repo.rstrip("/")]
for name in ("tuner.errors", "tuner.serving", "tuner.shipping.export"):
    try:
        __import__(name)
    except ImportError:
        continue
    raise SystemExit(f"{name} is importable")
import importlib.util
import pandas as pd
import mlflow.pyfunc
frame = pd.read_csv(rows)
mlflow.pyfunc.load_model(model).predict(frame).to_csv(f"{out}/pyfunc.csv", index=False)
sys.path.insert(0, f"{model}/code")  # the folder reader, as the model ships it
import model_folder
model_folder.load_folder(f"{model}/artifacts/model").predict_frame(frame).to_csv(f"{out}/folder.csv", index=False)
loaded = sorted(m for m in sys.modules if m == "tuner" or m.startswith("tuner."))
assert all(importlib.util.find_spec(m).origin is None for m in loaded), loaded  # a bare namespace at most
"""


@pytest.mark.slow
def test_mlflow_models_predict(logged, tmp_path):
    uri, model_uri, rows, expected = logged
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "mlflow", "models", "predict", "-m", model_uri, "-i", str(rows)]
    command += ["-t", "csv", "--env-manager", "local", "-o", str(out)]
    env = {**os.environ, **NO_PICKLE, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    _same_predictions(pd.DataFrame(json.loads(out.read_text())["predictions"]), expected)


@pytest.mark.slow
def test_mlflow_models_serve(logged, tmp_path):
    uri, model_uri, rows, expected = logged
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["-p", str(port), "-h", "127.0.0.1"]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        command,
        env={**os.environ, **NO_PICKLE, "MLFLOW_TRACKING_URI": uri},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve.log")
        body = json.dumps(
            {"dataframe_split": json.loads(pd.read_csv(rows).to_json(orient="split", index=False))}
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            got = pd.DataFrame(json.loads(answer.read())["predictions"])
        _same_predictions(got, expected)
        short = pd.read_csv(rows).drop(columns=["a"]).to_json(orient="split", index=False)
        request.data = json.dumps({"dataframe_split": json.loads(short)}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:  # the caller's mistake: 400, not 500
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 400
    finally:
        _stop_group(server)
        log.close()


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert server.poll() is None, f"mlflow models serve exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"mlflow models serve did not start: {log.read_text()[-3000:]}"
            )
            time.sleep(0.5)


def _stop_group(process: subprocess.Popen) -> None:
    """The server and every worker it started: SIGTERM to the group, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(20)


@pytest.mark.slow
def test_export_command_copies_the_logged_folder(logged, binary, tmp_path):
    uri, model_uri, rows, expected = logged
    out = tmp_path / "exported"
    result = _cli("export", "table-search", "--out", str(out), "--tracking-uri", uri, "--output", "json")
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert exported["model_uri"] == model_uri and set(exported["files"]) == {
        META_FILE,
        KERAS_FILE,
        PREPROCESSING_FILE,
    }
    _same_predictions(load_model_folder(out).predict_frame(pd.read_csv(rows)), expected)
    line = one_error_line(_cli("export", "table-search", "--out", str(out), "--tracking-uri", uri))
    assert "exists and is not an empty folder" in line
    line = one_error_line(
        _cli("export", "no-such-search", "--out", str(tmp_path / "x"), "--tracking-uri", uri)
    )
    assert "no search named 'no-such-search'" in line
    predicted = tmp_path / "p.csv"
    result = _cli(
        "predict", "--model", model_uri, "--data", str(rows), "--out", str(predicted), "--tracking-uri", uri
    )
    assert result.exit_code == 0, result.output
    _same_predictions(pd.read_csv(predicted), expected)
