"""``tuner show`` and ``tuner compare``: a search's trials, and searches side by side, from MLflow alone.

Not from Optuna: a random search has no study, and a cluster study's trials were logged
by many machines to one tracking store, so MLflow is the one record every search has.
Every run of a search carries its parent's id (``tuner.search_run_id``), so one paged
query returns all of them; the rows here are plain dicts, ready for JSON and CSV.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuner.errors import TunerError
from tuner.tracking.lookup import experiment_name, resolve_search, runs_of_search, search_parent
from tuner.tracking.runs import COMPLETE, FAILED, KIND_TAG, PRUNED, REASON_TAG, RUNNING, STATE_TAG
from tuner.tracking.store import client_for, ui_address
from tuner.views.numbers import finite_or_none

STATES = (COMPLETE, PRUNED, FAILED, RUNNING)
TRIAL_KINDS = ("trial", "candidate")  # Optuna trials; the random engine's candidates (fold runs below them)
_STATE_ORDER = {state: i for i, state in enumerate(STATES)}
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def _param(text: str) -> Any:
    """An MLflow parameter (always a string) as the number it was, where it was one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _mean(runs: list[Any], metric: str) -> float | None:
    values = [r.data.metrics[metric] for r in runs if metric in r.data.metrics]
    return sum(values) / len(values) if values else None


def _trial_number(run: Any) -> int | None:
    tag = run.data.tags.get("optuna.trial")
    if tag is not None and tag.isdigit():
        return int(tag)
    found = _TRAILING_NUMBER.search(run.info.run_name or "")  # candidate-<i>
    return int(found.group(1)) if found else None


def trial_row(run: Any, metric: str, folds: list[Any], params: list[str]) -> dict[str, Any]:
    """One trial (or candidate) run as a row: state, score, epochs, seconds, parameters.

    A pruned or running trial has no ``val_score``; its score is the last value of the
    validation metric, the one its pruner saw. A candidate's epochs are its folds' means.
    """
    tags, metrics = run.data.tags, run.data.metrics
    state = tags.get(STATE_TAG, RUNNING)
    value = metrics.get("val_score")
    if value is None and state in (PRUNED, RUNNING):
        value = metrics.get(f"val_{metric}")
    source = folds or [run]
    return {
        "number": _trial_number(run),
        "state": state,
        "value": finite_or_none(value),
        "best_epoch": finite_or_none(_mean(source, "best_epoch")),
        "epochs_run": finite_or_none(_mean(source, "epochs_run")),
        "duration_s": finite_or_none(metrics.get("duration_s", metrics.get("fit_time_s"))),
        "params": {k: _param(v) for k, v in run.data.params.items() if k in params},
        "reason": tags.get(REASON_TAG, ""),
        "run_id": run.info.run_id,
    }


def trial_rows(runs: list[Any], metric: str, params: list[str]) -> list[dict[str, Any]]:
    """The trial (or candidate) runs among a search's runs, as rows; folds fold into their candidate."""
    folds: dict[str, list[Any]] = {}
    for run in runs:
        if run.data.tags.get(KIND_TAG) == "fold":
            folds.setdefault(run.data.tags.get("mlflow.parentRunId", ""), []).append(run)
    return [
        trial_row(run, metric, folds.get(run.info.run_id, []), params)
        for run in runs
        if run.data.tags.get(KIND_TAG) in TRIAL_KINDS
    ]


def sort_trials(rows: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """Complete before pruned before failed (before running); best score first within each."""
    sign = -1.0 if direction == "maximize" else 1.0

    def key(row: dict[str, Any]) -> tuple:
        value, number = row["value"], row["number"]
        return (
            _STATE_ORDER.get(row["state"], len(STATES)),
            value is None,
            0.0 if value is None else sign * value,
            math.inf if number is None else number,
        )

    return sorted(rows, key=key)


@contextlib.contextmanager
def _quiet_downloads() -> Iterator[None]:
    """No MLflow download progress bar on stderr for one small file (a user's own setting stays)."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(name)
    os.environ.setdefault(name, "false")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)


def search_space(tracking_uri: str, parent: Any) -> Any:
    """The space a search ran (its parent run's ``space/`` artifact), or None where it cannot be read."""
    from tuner.space import parse_space

    client = client_for(tracking_uri)
    try:
        files = [f.path for f in client.list_artifacts(parent.info.run_id, "space") if not f.is_dir]
        path = next(p for p in files if p.endswith((".yaml", ".yml")))
        with tempfile.TemporaryDirectory() as tmp, _quiet_downloads():
            text = Path(client.download_artifacts(parent.info.run_id, path, tmp)).read_text()
        return parse_space(text, Path(path), parent.data.params.get("model"))  # --model overrode the file's
    except Exception:  # noqa: BLE001 - no artifact, an artifact store out of reach, or an old file
        return None


def _param_names(space: Any, runs: list[Any]) -> list[str]:
    """The searched parameters: the space's, else every hyperparameter a trial run recorded."""
    if space is not None:
        return list(space.params)
    from tuner.space import TUNABLE

    seen = {k for r in runs if r.data.tags.get(KIND_TAG) in TRIAL_KINDS for k in r.data.params}
    return [name for name in TUNABLE if name in seen]


def show_search(
    tracking_uri: str,
    name: str,
    run_id: str | None = None,
    states: tuple[str, ...] = (),
    top: int | None = None,
) -> dict[str, Any]:
    """The trials of search ``name`` (its latest, or parent run ``run_id``), sorted and filtered."""
    parent = search_parent(tracking_uri, name, run_id)
    settings = parent.data.params
    metric, direction = settings.get("metric", "score"), settings.get("direction", "maximize")
    runs = runs_of_search(tracking_uri, parent)
    names = _param_names(search_space(tracking_uri, parent), runs)
    rows = trial_rows(runs, metric, names)
    chosen = sort_trials([r for r in rows if not states or r["state"] in states], direction)
    return {
        "search": name,
        "search_run_id": parent.info.run_id,
        "experiment_id": parent.info.experiment_id,
        "ui": ui_address(tracking_uri),
        "engine": settings.get("engine", ""),
        "model": settings.get("model", "mlp"),  # a search from before models had names trained the mlp
        "metric": metric,
        "direction": direction,
        "state": parent.data.tags.get(STATE_TAG, RUNNING),
        "trials_by_state": _counts(rows),
        "total": len(rows),
        "params": names,
        "trials": chosen[:top] if top else chosen,
    }


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r["state"] for r in rows)
    out = {state: counts.get(state, 0) for state in (COMPLETE, PRUNED, FAILED)}
    out.update({state: n for state, n in counts.items() if state not in out})
    return out


def search_summary(tracking_uri: str, parent: Any) -> dict[str, Any]:
    """One search as a row of ``tuner compare``: engine, trials, scores, wall time and pace."""
    settings, metrics, info = parent.data.params, parent.data.metrics, parent.info
    metric, direction = settings.get("metric", "score"), settings.get("direction", "maximize")
    rows = trial_rows(runs_of_search(tracking_uri, parent), metric, [])
    counts = _counts(rows)
    running = info.end_time is None or info.status == "RUNNING"
    wall = ((time.time() * 1000 if running else info.end_time) - info.start_time) / 1000
    finished = sum(counts.get(s, 0) for s in (COMPLETE, PRUNED, FAILED))
    best = metrics.get("best_val_score")
    if best is None:  # a search still running: the best complete trial so far
        done = sort_trials([r for r in rows if r["state"] == COMPLETE and r["value"] is not None], direction)
        best = done[0]["value"] if done else None
    return {
        "search": experiment_name(tracking_uri, parent),
        "search_run_id": info.run_id,
        "data": settings.get("data", ""),
        "engine": settings.get("engine", ""),
        "sampler": settings.get("sampler", "-"),
        "pruner": settings.get("pruner", "-"),
        "metric": metric,
        "direction": direction,
        "state": parent.data.tags.get(STATE_TAG, RUNNING),
        "running": running,
        "trials_by_state": counts,
        "best_val_score": finite_or_none(best),
        "test_score": finite_or_none(metrics.get(f"test_{metric}")),
        "wall_s": round(wall, 1),
        "trials_per_minute": round(finished / (wall / 60), 2) if wall > 0 else None,
    }


def _definition(space: Any, name: str) -> tuple[Any, str]:
    """A parameter's definition in ``space``: a value to compare, and its text."""
    if name in space.params:
        return space.params[name], space.params[name].describe()
    if name in space.fixed:
        return ("fixed", space.fixed[name]), f"fixed = {space.fixed[name]}"
    return None, "-"


def space_differences(spaces: list[Any]) -> dict[str, list[str]]:
    """Per parameter defined differently somewhere, its definition in each space (None: unknown)."""
    known = [s for s in spaces if s is not None]
    names = list(dict.fromkeys(n for s in known for n in [*s.params, *s.fixed]))
    out: dict[str, list[str]] = {}
    for name in names:
        definitions = [_definition(s, name) for s in known]
        if any(d[0] != definitions[0][0] for d in definitions):
            out[name] = ["?" if s is None else _definition(s, name)[1] for s in spaces]
    return out


def _notes(rows: list[dict[str, Any]], spaces: list[Any]) -> list[str]:
    """What makes the rows less comparable than they look."""
    notes = []
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    if len(metrics) > 1:
        notes.append(f"different metrics ({', '.join(metrics)}): their scores do not compare")
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    if len(datasets) > 1:
        notes.append(f"different data ({', '.join(datasets)})")
    for row, space in zip(rows, spaces, strict=True):
        if space is None:
            notes.append(f"no space file could be read for run {row['search_run_id']}")
        if row["running"]:
            notes.append(f"run {row['search_run_id']} is still running: its wall time is the time so far")
    return notes


def compare_searches(tracking_uri: str, names_or_runs: list[str]) -> dict[str, Any]:
    """Searches side by side (each a search name, meaning its latest search, or a parent run id)."""
    if len(names_or_runs) < 2:
        raise TunerError(
            f"compare needs two or more searches (names or search run ids), got {len(names_or_runs)}"
        )
    parents = [resolve_search(tracking_uri, n) for n in names_or_runs]
    seen: dict[str, str] = {}
    for given, parent in zip(names_or_runs, parents, strict=True):
        if parent.info.run_id in seen:
            raise TunerError(f"{seen[parent.info.run_id]!r} and {given!r} are the same search run")
        seen[parent.info.run_id] = given
    rows = [search_summary(tracking_uri, p) for p in parents]
    spaces = [search_space(tracking_uri, p) for p in parents]
    differences = space_differences(spaces)
    return {
        "searches": rows,
        "space_differences": differences,
        "same_space": not differences,
        "notes": _notes(rows, spaces),
    }
