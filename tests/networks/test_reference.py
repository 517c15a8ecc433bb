"""Naming a network: a family, a file or a module; the file's hash; loading once; pickling by path.

Every model file here is written for real into the test's working folder (its ``tmp_path``).
"""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import model_files
import pytest

from tuner.choices import MODELS
from tuner.errors import TunerError
from tuner.networks.cnn import build_cnn
from tuner.networks.reference import (
    FAMILIES,
    IN_MEMORY,
    ROOT_ENV,
    ModelRef,
    resolve,
    resolve_recorded,
)
from tuner.networks.wide_deep import build_wide_deep


def write(path: Path, text: str = model_files.GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def package(tmp_path: Path):
    """A package under ``proj/`` with a model module; forgotten by the import system afterwards."""
    name = f"nets_{tmp_path.name.replace('-', '_')}"
    write(tmp_path / "proj" / name / "__init__.py", "")
    module = write(tmp_path / "proj" / name / "models.py")
    yield name, module
    for key in [k for k in sys.modules if k == name or k.startswith(f"{name}.")]:
        del sys.modules[key]


def test_the_shipped_names_are_the_families():
    assert MODELS == tuple(FAMILIES)


@pytest.mark.parametrize("name", MODELS)
def test_a_family_is_named_by_its_name_and_has_no_file(name):
    ref = resolve(name)
    assert ref == ModelRef(name) and ref.shipped and ref.file is None and ref.sha256 is None
    assert ref.load().__name__ == FAMILIES[name].split(":")[1]


def test_no_model_is_the_mlp_and_a_familys_function_is_its_name():
    assert resolve(None) == ModelRef("mlp")
    assert resolve(build_cnn).spec == "cnn"
    assert resolve(build_wide_deep) == ModelRef("wide_deep")


def test_a_relative_file_starts_at_the_working_folder(tmp_path):
    path = write(tmp_path / "models" / "net.py")
    ref = resolve("models/net.py:build")
    assert ref.spec == "models/net.py:build"
    assert ref.file == str(path.resolve()) and ref.sha256 == sha(path)
    assert ref.load()(width=3, task="binary", input_shape=(2,), n_outputs=1).output_shape == (None, 1)


def test_a_relative_file_starts_at_the_root_given_before_the_environments(tmp_path, monkeypatch):
    given = write(tmp_path / "given" / "net.py")
    from_env = write(tmp_path / "env" / "net.py", model_files.GOOD + "# another copy\n")
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "env"))
    assert resolve("net.py:build").file == str(from_env.resolve())
    assert resolve("net.py:build", str(tmp_path / "given")).file == str(given.resolve())
    assert resolve(f"{given}:build", str(tmp_path / "env")).file == str(given.resolve())  # absolute


def test_a_module_is_found_under_the_root_and_loaded_from_it_in_a_fresh_import(tmp_path, package):
    name, module = package
    (tmp_path / "elsewhere").mkdir()
    ref = resolve(f"{name}.models:build", str(tmp_path / "proj"))
    assert ref.file == str(module.resolve()) and ref.sha256 == sha(module)
    for key in [k for k in sys.modules if k.startswith(name)]:  # as a worker that never imported it
        del sys.modules[key]
    assert str(tmp_path / "proj") not in sys.path
    assert ref.load().__name__ == "build"


def test_the_hash_covers_the_whole_file_not_only_the_function(tmp_path):
    path = write(tmp_path / "net.py")
    before = resolve("net.py:build").sha256
    write(path, model_files.GOOD.replace("NOT_A_FUNCTION = 3", "NOT_A_FUNCTION = 4"))
    after = resolve("net.py:build")
    assert before != after.sha256 == sha(path)
    assert after.identity == f"net.py:build@{after.sha256}"


def test_a_missing_file_says_where_relative_paths_start(tmp_path):
    with pytest.raises(TunerError) as err:
        resolve("models/gone.py:build")
    message = str(err.value)
    assert f"model file not found: {tmp_path / 'models' / 'gone.py'}" in message
    assert "(from 'models/gone.py:build'; relative paths start at --model-root" in message


@pytest.mark.parametrize(
    ("spec", "expect"),
    [
        ("no_such_package_xyz.nets:build", "cannot import no_such_package_xyz.nets: No module named"),
        ("no_such_module_xyz:build", "no module named 'no_such_module_xyz'"),
        ("resnet", "unknown model 'resnet': give a shipped one (mlp, wide_deep, cnn)"),
        ("net.py:", "unknown model 'net.py:'"),
    ],
)
def test_a_name_that_finds_nothing_is_refused(spec, expect):
    with pytest.raises(TunerError) as err:
        resolve(spec)
    assert expect in str(err.value)


def test_a_missing_function_lists_the_public_functions_the_file_defines(tmp_path):
    write(tmp_path / "net.py")
    with pytest.raises(TunerError) as err:
        resolve("net.py:biuld").load()
    assert str(err.value) == "net.py:biuld: net.py has no function 'biuld' (it defines: build)"


@pytest.mark.parametrize(("name", "kind"), [("NOT_A_FUNCTION", "int"), ("Net", "type")])
def test_a_name_that_is_not_a_function_is_refused(tmp_path, name, kind):
    write(tmp_path / "net.py")
    with pytest.raises(TunerError) as err:
        resolve(f"net.py:{name}").load()
    assert str(err.value) == f"net.py:{name}: {name} is a {kind}, not a function"


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "net.py", model_files.SYNTAX_ERROR)
    with pytest.raises(TunerError) as err:
        resolve("net.py:build").load()
    assert str(err.value).startswith(f"{path.resolve()}:3: syntax error in the model file: ")


def test_a_file_that_raises_on_import_names_the_file_line_and_error(tmp_path):
    path = write(tmp_path / "net.py", model_files.RAISES_ON_IMPORT)
    with pytest.raises(TunerError) as err:
        resolve("net.py:build").load()
    assert str(err.value) == (
        f"{path.resolve()}:3: running the model file raised RuntimeError: no GPU on this laptop"
    )


def test_a_file_runs_once_per_process_however_often_it_is_named(tmp_path):
    counter = tmp_path / "runs.txt"
    write(tmp_path / "net.py", model_files.counting(str(counter)))
    first = resolve("net.py:build").load()
    again = resolve("net.py:build")
    assert again.load() is first and again.load() is first
    assert counter.read_text() == "ran\n"


def test_a_file_changed_after_it_was_named_is_refused_then_runs_again_once_renamed(tmp_path):
    counter = tmp_path / "runs.txt"
    path = write(tmp_path / "net.py", model_files.counting(str(counter)))
    old = resolve("net.py:build")
    write(path, model_files.counting(str(counter)) + "# edited\n")
    with pytest.raises(TunerError, match="differs from the copy the study was made with"):
        old.load()
    resolve("net.py:build").load()
    assert counter.read_text() == "ran\n"  # only the new copy ran; the refused one never did


def test_a_reference_pickles_as_its_path_and_hash_without_the_function(tmp_path):
    write(tmp_path / "net.py")
    ref = resolve("net.py:build")
    with_function = replace(ref, function=ref.load())
    back = pickle.loads(pickle.dumps(with_function))
    assert back.function is None
    assert (back.spec, back.file, back.sha256) == (ref.spec, ref.file, ref.sha256)
    assert back.load() is ref.load()


def test_a_lambda_travels_by_value_to_a_process_that_never_saw_it(tmp_path):
    ref = resolve(lambda width=2, **kwargs: ("built", width * 21))
    assert ref.spec.startswith(IN_MEMORY) and not ref.locatable
    (tmp_path / "ref.pickle").write_bytes(pickle.dumps(ref))
    code = "import pickle; print(pickle.loads(open('ref.pickle', 'rb').read()).load()())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "('built', 42)\n"


def test_a_recorded_model_is_found_again_when_the_copy_is_the_same(tmp_path):
    path = write(tmp_path / "net.py")
    ref = resolve_recorded("net.py:build", sha(path))
    assert ref.file == str(path.resolve()) and ref.sha256 == sha(path)
    assert resolve_recorded("cnn", None) == ModelRef("cnn")


def test_a_recorded_model_whose_copy_differs_is_refused(tmp_path):
    path = write(tmp_path / "net.py")
    recorded = sha(path)
    write(path, model_files.GOOD + "\n# a worker's older copy\n")
    with pytest.raises(TunerError) as err:
        resolve_recorded("net.py:build", recorded)
    message = str(err.value)
    assert f"this worker's {path.resolve()} differs from the study's model file" in message
    assert f"sha256 {sha(path)[:12]} here, {recorded[:12]} in the study" in message


def test_a_recorded_function_object_cannot_be_found_again():
    spec = resolve(lambda **kwargs: None).spec
    with pytest.raises(TunerError, match="was a function object that only its own process had"):
        resolve_recorded(spec, None)
