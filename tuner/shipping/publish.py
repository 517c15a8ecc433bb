"""A search's model, published: copied out as a folder (``tuner export``) and registered.

The export is the model folder logged with the search (:mod:`tuner.shipping.mlflow_model`), copied
as it is: Keras' format, skops and JSON, nothing pickled; a network with layers of its own
adds its file, which loading runs (the export says so). Registering challenges the
registered model's champion on the search's own test rows (:mod:`tuner.shipping.registry`),
which are rebuilt from what the search run recorded and checked by fingerprint.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tuner.errors import TunerError
from tuner.serving.model_folder import META_FILE
from tuner.shipping.mlflow_model import fetch_model


def _check_empty(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TunerError(f"--out {out}: exists and is not an empty folder; give a new or empty one")


def search_dataset(tracking_uri: str, search_run_id: str) -> Any:
    """A search's dataset, split as it was (its test rows raw), from its recorded data, seed and
    test size; checked by fingerprint."""
    from tuner.data.dataset import TEST_FRACTION, load_dataset
    from tuner.tracking.lookup import get_run

    params = get_run(tracking_uri, search_run_id).data.params
    none = ("", "None")
    target = None if params.get("target") in (None, *none) else params["target"]
    test_size = params.get("test_size")
    if test_size in (None, *none):  # searches before it was recorded: the default, or none at all
        test_size = 0.0 if params.get("n_test") == "0" else TEST_FRACTION
    task = None if params.get("task") in (None, *none) else params["task"]
    try:
        ds = load_dataset(params["data"], target, task, int(params["seed"]), float(test_size))
    except (KeyError, TunerError) as exc:
        raise TunerError(f"cannot rebuild the test rows of search run {search_run_id}: {exc}") from None
    if ds.fingerprint != params.get("data_fingerprint") or str(len(ds.y_test)) != params.get("n_test"):
        raise TunerError(
            f"cannot rebuild the test rows of search run {search_run_id}: {params['data']} is not the data "
            f"it ran on (fingerprint {ds.fingerprint}, recorded {params.get('data_fingerprint')})"
        )
    return ds


def _code_files(folder: Path) -> list[str]:
    """The files that loading the model runs (its custom layers' code), as ``model.json`` lists them."""
    return list(json.loads((folder / META_FILE).read_text()).get("custom_code") or [])


def export_search(
    tracking_uri: str, name: str, out: str | Path, run_id: str | None = None, register_as: str | None = None
) -> dict[str, Any]:
    """Copy the model folder of search ``name`` (its latest completed run, or ``run_id``) to ``out``.

    ``register_as``: also register the model under that name, challenging the champion
    on the search's test rows (:func:`tuner.shipping.registry.register`).
    """
    import shutil

    from tuner.tracking.lookup import find_search

    out = Path(out)
    _check_empty(out)
    found = find_search(tracking_uri, name, run_id)
    model_uri = found["model_uri"]
    if not model_uri:
        raise TunerError(f"search {name!r} (run {found['search_run_id']}) logged no model")
    split = search_dataset(tracking_uri, found["search_run_id"]) if register_as else None
    with tempfile.TemporaryDirectory(prefix="tuner-model-") as tmp:
        folder = fetch_model(tracking_uri, model_uri, Path(tmp))
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, out, dirs_exist_ok=True)
    exported = {
        "search": name,
        "search_run_id": found["search_run_id"],
        "model_uri": model_uri,
        "out": str(out),
        "files": {
            p.relative_to(out).as_posix(): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()
        },
        "runs_code": _code_files(out),
        "registration": None,
    }
    if split is not None:
        from tuner.shipping.registry import register

        registration = register(
            tracking_uri, model_uri, register_as, split.X_test, split.y_test, found["metric"], split
        )
        exported["registration"] = registration.to_dict()
    return exported
