"""The model folder of a network with a layer of its own: the file that registers the layer
travels in ``code/`` and runs before Keras loads the model, which stays in safe mode.

A real tiny estimator (2 epochs) on iris, over the user's file of ``custom_net``; the
folder is loaded here and in a process where tuner cannot be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from custom_net import NET, write_net
from paths import REPO
from tiny_models import TINY

from tuner.data.dataset import load_dataset
from tuner.errors import TunerError
from tuner.networks.reference import resolve
from tuner.serving.model_folder import CODE_FOLDER, KERAS_FILE, META_FILE
from tuner.shipping.export import load_model_folder, save_model_folder
from tuner.trial.estimator import make_estimator


def _fit_and_save(ds, spec: str, folder):
    """A tiny estimator over the user's build function, saved as the finish step saves it."""
    ref = resolve(spec)
    pre = ds.make_preprocessor().fit(ds.X_train)
    est = make_estimator(task=ds.task, metric=None, network=ref, **TINY)
    est.fit(pre.transform(ds.X_train), ds.y_train, validation_data=(pre.transform(ds.X_valid), ds.y_valid))
    save_model_folder(est, pre, ds, folder, network_file=ref.file)
    return est, pre


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    """Iris through ``Scale``: the folder, the test rows as a CSV, and the estimator's probabilities."""
    root = tmp_path_factory.mktemp("scaled")
    net = write_net(root / "nets" / "net.py")
    ds = load_dataset("iris", None, None, 0, 0.2)
    est, pre = _fit_and_save(ds, f"{net}:build", root / "model")
    rows = root / "rows.csv"
    ds.X_test.to_csv(rows, index=False)
    return root / "model", rows, est.predict_proba(pre.transform(ds.X_test))


def _proba(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c.startswith("proba_")]].to_numpy("float64")


def test_a_custom_layer_travels_with_its_file(scaled):
    folder, rows, expected = scaled
    assert (folder / CODE_FOLDER / "net.py").read_text() == NET
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["custom_code"] == ["code/net.py"] and meta["custom_classes"] == ["Scale"]
    np.testing.assert_allclose(
        _proba(load_model_folder(folder).predict_frame(pd.read_csv(rows))), expected, atol=1e-6
    )


def test_a_network_of_keras_own_layers_carries_no_code(tmp_path):
    net = write_net(tmp_path / "net.py")
    _fit_and_save(load_dataset("iris", None, None, 0, 0.2), f"{net}:build_plain", tmp_path / "model")
    assert not (tmp_path / "model" / CODE_FOLDER).exists()
    meta = json.loads((tmp_path / "model" / META_FILE).read_text())
    assert "custom_code" not in meta and "custom_classes" not in meta


def _one_line_refusal(folder) -> str:
    with pytest.raises(TunerError) as refused:
        load_model_folder(folder)
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_a_missing_or_failing_file_is_refused_in_one_line(scaled, tmp_path):
    folder = scaled[0]
    missing = shutil.copytree(folder, tmp_path / "missing")
    (missing / "code" / "net.py").unlink()
    message = _one_line_refusal(missing)
    assert "needs layer class Scale from code/net.py, which is missing" in message
    failing = shutil.copytree(folder, tmp_path / "failing")
    (failing / "code" / "net.py").write_text("import no_such_module_of_tuners_tests\n" + NET)
    message = _one_line_refusal(failing)
    assert "net.py: running the model's code raised ModuleNotFoundError" in message


def test_safe_mode_stays_on_so_a_lambda_is_refused(scaled, tmp_path):
    import keras

    folder = shutil.copytree(scaled[0], tmp_path / "lambda")
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Lambda(lambda x: x * 2)(inputs))
    keras.Model(inputs, outputs).save(folder / KERAS_FILE)
    assert "safe_mode" in _one_line_refusal(folder)


# Run with -I and without the repository's folder on sys.path: no module of tuner's imports.
# The folder without its code loads first, while no process-wide registration hides the gap.
NO_TUNER_SCRIPT = """
import json, sys
repo, loader, folder, bare, rows, out = sys.argv[1:]
sys.path[:] = [p for p in sys.path if p.rstrip("/") != repo.rstrip("/")]
try:
    import tuner.serving
except ImportError:
    pass
else:
    raise SystemExit("tuner is importable")
sys.path.insert(0, loader)
import pandas as pd
import model_folder
try:
    model_folder.load_folder(bare)
    refused = None
except model_folder.ModelFolderError as exc:
    refused = str(exc)
frame = pd.read_csv(rows)
import keras
registered = []
for _ in range(2):  # the file ran again would register a new class object under the same name
    model_folder.load_folder(folder).predict_frame(frame).to_csv(out, index=False)
    registered.append(keras.saving.get_registered_object("Custom>Scale"))
assert registered[0] is not None
runs = len({id(cls) for cls in registered})
# a bare namespace package at most (a tuner/ folder somewhere on the path), never a module of tuner's
tuner = sorted(m for m in sys.modules if m.split(".")[0] == "tuner" and getattr(sys.modules[m], "__file__", None))
print(json.dumps({"runs": runs, "refused": refused, "tuner": tuner}))
"""


@pytest.mark.slow
def test_it_loads_where_tuner_cannot_be_imported(scaled, tmp_path):
    folder, rows, expected = scaled
    loader = tmp_path / "loader"
    loader.mkdir()
    shutil.copy(REPO / "tuner" / "serving" / "model_folder.py", loader)
    bare = shutil.copytree(folder, tmp_path / "bare")  # as a folder with no record of its code
    shutil.rmtree(bare / CODE_FOLDER)
    meta = json.loads((bare / META_FILE).read_text())
    (bare / META_FILE).write_text(json.dumps({k: v for k, v in meta.items() if k != "custom_code"}))
    script = tmp_path / "no_tuner.py"
    script.write_text(NO_TUNER_SCRIPT)
    out = tmp_path / "predictions.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            str(script),
            str(REPO),
            str(loader),
            str(folder),
            str(bare),
            str(rows),
            str(out),
        ],
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["tuner"] == [] and report["runs"] == 1  # loaded twice, its code run once
    assert "needs layer class 'Scale', whose code the folder does not carry" in report["refused"]
    assert "\n" not in report["refused"]
    np.testing.assert_allclose(_proba(pd.read_csv(out)), expected, atol=1e-6)
