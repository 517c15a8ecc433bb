"""A search over the user's network with a layer of its own: the logged MLflow model carries
the layer's file, the pyfunc loads it where tuner cannot be imported, ``tuner export`` says
that loading runs it, and ``tuner predict`` without it refuses in one line.

One real search (the random engine, one candidate, two folds, iris) into a local MLflow
store; the pyfunc and ``tuner predict`` run in fresh processes, where nothing registered
the layer before the model's own file did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from custom_net import NET, write_net
from paths import REPO

from tuner.cli.main import cli
from tuner.data.dataset import load_dataset
from tuner.serving.model_folder import KERAS_FILE, META_FILE, PREPROCESSING_FILE
from tuner.shipping.export import load_model_folder

pytestmark = pytest.mark.slow  # a real search and three fresh processes
SEARCH = ["--engine", "random", "--space", "mlp_quick", "--data", "iris", "--trials", "1", "--cv", "2"]
SEARCH += ["--n-jobs", "1", "--epochs", "5", "--name", "scaled", "--quiet", "--output", "json"]

# -I and the repository's folder off sys.path: MLflow loads the model with no module of tuner's.
PYFUNC_SCRIPT = """
import sys
repo, model, rows, out = sys.argv[1:]
sys.path[:] = [p for p in sys.path if p.rstrip("/") != repo.rstrip("/")]
try:
    import tuner.serving
except ImportError:
    pass
else:
    raise SystemExit("tuner is importable")
import mlflow.pyfunc
import pandas as pd
mlflow.pyfunc.load_model(model).predict(pd.read_csv(rows)).to_csv(out, index=False)
"""


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _proba(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c.startswith("proba_")]].to_numpy("float64")


def _fresh(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_custom_layer_ships_with_its_file(tmp_path):
    write_net(tmp_path / "nets" / "net.py")
    store = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    searched = _cli("search", *SEARCH, "--model", "nets/net.py:build", "--tracking-uri", store)
    assert searched.exit_code == 0, searched.output
    model_uri = json.loads(searched.stdout)["model_uri"]
    rows = tmp_path / "rows.csv"
    load_dataset("iris", None, None, 0, 0.2).X_test.to_csv(rows, index=False)

    exported = _cli("export", "scaled", "--out", str(tmp_path / "exported"), "--tracking-uri", store)
    assert exported.exit_code == 0, exported.output
    assert "loading this model runs the code in code/net.py\n" in exported.stdout
    out = tmp_path / "exported"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        ["code/net.py", KERAS_FILE, META_FILE, PREPROCESSING_FILE]
    )
    assert (out / "code" / "net.py").read_text() == NET
    again = _cli(
        "export", "scaled", "--out", str(tmp_path / "again"), "--tracking-uri", store, "--output", "json"
    )
    listed = json.loads(again.stdout)
    assert listed["runs_code"] == ["code/net.py"] and "code/net.py" in listed["files"]
    expected = load_model_folder(out).predict_frame(pd.read_csv(rows))

    script = tmp_path / "pyfunc.py"
    script.write_text(PYFUNC_SCRIPT)
    done = _fresh(
        "-I",
        str(script),
        str(REPO),
        model_uri,
        str(rows),
        str(tmp_path / "pyfunc.csv"),
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": store},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(_proba(pd.read_csv(tmp_path / "pyfunc.csv")), _proba(expected), atol=1e-6)

    (out / "code" / "net.py").unlink()
    refused = _fresh(
        "-m", "tuner", "predict", "--model", str(out), "--data", str(rows), "--out", "p.csv", cwd=tmp_path
    )
    assert refused.returncode == 2, refused.stderr[-3000:]
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), refused.stderr
    assert "needs layer class Scale from code/net.py, which is missing" in lines[0]
    assert not (tmp_path / "p.csv").exists()
