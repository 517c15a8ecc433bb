"""Tables the CLI prints (rich); kept apart from the commands so they stay thin."""

from __future__ import annotations

import shlex
from dataclasses import fields
from typing import Any

from rich.console import Console
from rich.table import Table

from tuner.config import resumable_settings
from tuner.redact import redact
from tuner.tracking.runs import COMPLETE, FAILED, PRUNED
from tuner.tracking.shared_views import view_link
from tuner.tracking.store import LOCAL_UI, ui_address

TOP_TRIALS = 10


def _console() -> Console:
    """Rich draws 80 columns when output is not a terminal; a log file deserves full tables."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def print_search_result(result: Any, config: Any, console: Console | None = None) -> None:
    console = console or _console()
    higher = result.direction == "maximize"
    done = [t for t in result.trials if t.value is not None]
    # Complete trials first: a pruned trial's value is only its last reported epoch.
    ranked = sorted(done, key=lambda t: (t.state != COMPLETE, -t.value if higher else t.value))[:TOP_TRIALS]
    names = list(dict.fromkeys(n for t in result.trials for n in t.params))  # a conditional one may be absent
    unit = "candidate" if result.engine == "random" else "trial"
    score = f"CV {result.metric}" if result.engine == "random" else f"val {result.metric}"
    table = Table(
        title=f"Best {unit}s of {len(result.trials)} ({result.counts.get(COMPLETE, 0)} complete, "
        f"{result.counts.get(PRUNED, 0)} pruned, {result.counts.get(FAILED, 0)} failed)"
    )
    for column in ["#", "state", score, *names, "seconds"]:
        table.add_column(
            column, justify="left" if column in ("state", "optimizer", "activation") else "right"
        )
    for t in ranked:
        row = [
            str(t.number),
            t.state,
            _fmt(t.value),
            *(_fmt(t.params.get(n)) for n in names),
            _fmt(t.duration_s),
        ]
        table.add_row(*row)
    console.print(table)
    console.print(
        "[bold]Best parameters:[/bold] " + ", ".join(f"{k}={_fmt(v)}" for k, v in result.best_params.items())
    )
    if len(result.candidates) > 1:
        console.print(
            "[bold]Re-checked[/bold] by cross-validation on train + validation rows (mean ± std): "
            + ", ".join(f"trial {c['number']} {c['mean']:.4f} ± {c['std']:.4f}" for c in result.candidates)
        )
    test = "-" if result.test_score is None else f"{result.test_score:.4f}"
    console.print(
        f"[bold]Validation {result.metric}:[/bold] {result.best_value:.4f} (trial {result.best_trial})   "
        f"[bold]Test {result.metric}[/bold] (returned model, held-out split): {test}"
    )
    console.print(f"Returned model trained on {result.trained_on}.")
    console.print(
        f"Finished in {result.duration_s:.0f} s. MLflow: experiment '{result.name}', "
        f"search run {result.search_run_id} in {result.tracking_uri}"
    )
    name = shlex.quote(result.name)
    console.print(
        f"Best model: {result.model_uri}  (tuner predict --model URI --data rows.csv --out out.csv)"
    )
    if result.registration:
        console.print(f"Registry: {result.registration['message']}")
    console.print(f"Trials: tuner show {name}   |   the model as files: tuner export {name} --out DIR")
    console.print(
        f"Trials in MLflow's UI: {trials_link(ui_address(result.tracking_uri), result.experiment_id)}",
        soft_wrap=True,
    )
    if result.study and config is not None:  # one line, never wrapped: it is there to be pasted
        console.print(f"Add trials: {resume_command(config, result)}", soft_wrap=True)


def trials_link(ui: str, experiment_id: str) -> str:
    """The link to the trials view at the UI's address ``ui``; a local store's after `tuner ui`."""
    link = view_link(ui, experiment_id)
    return f"{link}  (after `tuner ui`)" if ui == LOCAL_UI else link


def resume_command(config: Any, result: Any) -> str:
    """The `tuner search` that adds trials to ``result``'s study: its space and data, every
    setting the study must match that was not left at its default, and where it is stored."""
    args = ["tuner", "search", "--space", str(config.space), "--data", str(config.data)]
    may_differ = resumable_settings()
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name not in may_differ and value is not None and value != f.default:
            args += [f"--{f.name.replace('_', '-')}", str(value)]
    args += ["--study", result.study]
    if config.storage:
        args += ["--storage", result.storage]
    if config.tracking_uri:
        args += ["--tracking-uri", redact(config.tracking_uri)]
    return shlex.join([*args, "--resume"])


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def print_study_status(found: dict[str, Any], console: Console | None = None) -> None:
    import time

    console = console or _console()
    t = found["trials"]
    total = "no total" if found["total"] is None else f"{found['budget_left']} of {found['total']} left"
    state = "finished" if found["finished"] else "open"
    console.print(
        f"[bold]Study {found['study']}[/bold] ({state}; {found['direction']} {found['metric']}) in {found['storage']}"
    )
    console.print(
        f"Trials: {t['running']} running, {t['waiting']} waiting, {t['complete']} complete, "
        f"{t['pruned']} pruned, {t['failed']} failed; budget: {total}; "
        f"pace: {_fmt(found['trials_per_minute'])} finished trials/min"
    )
    if found["best"]:
        best = found["best"]
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
        console.print(f"Best: trial {best['trial']}, {found['metric']} {best['value']:.4f}  ({params})")
    table = Table(title=f"Workers seen ({len(found['workers'])})", title_justify="left")
    for column in ("host", "pid", "state", "trials", "gpu", "last heartbeat"):
        table.add_column(column)
    now = time.time()
    for w in found["workers"]:
        table.add_row(
            w["host"],
            str(w["pid"]),
            w["state"],
            str(w["trials"]),
            w["gpu"] or "-",
            _ago(now - w["heartbeat"]),
        )
    console.print(table)


def print_studies(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    console = console or _console()
    table = Table(title=f"Studies ({len(rows)})", title_justify="left")
    for column in ("study", "direction", "trials", "best", "started", "state"):
        table.add_column(column)
    for r in rows:
        state = "finished" if r["finished"] else ("open" if r["by_tuner"] else "not tuner's")
        table.add_row(
            r["study"], r["direction"], str(r["trials"]), _fmt(r["best"]), r["started"] or "-", state
        )
    console.print(table)


def print_spaces(spaces: list[Any], console: Console | None = None) -> None:
    console = console or _console()
    for space in spaces:
        table = Table(
            title=f"{space.name}  ({space.path}; model {space.model})",
            caption=space.description or None,
            title_justify="left",
        )
        table.add_column("parameter")
        table.add_column("values")
        for name, text in space.rows():
            table.add_row(name, text)
        console.print(table)


def print_best(found: dict[str, Any], console: Console | None = None) -> None:
    console = console or _console()
    table = Table(
        title=f"Best of search '{found['search']}' (run {found['search_run_id']})", title_justify="left"
    )
    table.add_column("")
    table.add_column("")
    for name, value in found["best_params"].items():
        table.add_row(name, str(value))
    metric = found["metric"]
    table.add_row(f"validation {metric}", _fmt(found["best_val_score"]))
    table.add_row(f"test {metric}", _fmt(found[f"test_{metric}"]))
    table.add_row("trials", ", ".join(f"{n} {s}" for s, n in found["trials"].items()))
    table.add_row("best trial", f"{found['best_trial']} (run {found['best_trial_run_id']})")
    table.add_row("model", found["model_uri"])
    table.add_row("weights", found["weights"])
    console.print(table)


def _trial_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items())


def print_trials(view: dict[str, Any], console: Console | None = None) -> None:
    """``tuner show``: a header line for the search, then its trials, best first."""
    console = console or _console()
    random_engine = view["engine"] == "random"
    state = "" if view["state"] == COMPLETE else f", {view['state']}"
    console.print(
        f"[bold]Search '{view['search']}'[/bold] ({view['engine']}, model {view.get('model', 'mlp')}, "
        f"{view['direction']} {view['metric']}{state}), run {view['search_run_id']}: {view['total']} {'candidates' if random_engine else 'trials'}"
        f" ({_trial_counts(view['trials_by_state'])})",
        highlight=False,
    )
    rows = view["trials"]
    if len(rows) < view["total"]:
        console.print(f"showing {len(rows)} of {view['total']}", highlight=False)
    score = f"CV {view['metric']}" if random_engine else f"val {view['metric']}"
    reasons = any(r["reason"] for r in rows)
    table = Table()
    left = ("state", "optimizer", "activation", "loss", "reason")
    columns = ["#", "state", score, *view["params"], "best epoch", "epochs", "seconds"]
    for column in [*columns, *(["reason"] if reasons else [])]:
        table.add_column(column, justify="left" if column in left else "right", overflow="fold")
    for r in rows:
        cells = [_fmt(r["number"]), r["state"], _fmt(r["value"])]
        cells += [_fmt(r["params"].get(name)) for name in view["params"]]
        cells += [_fmt(r["best_epoch"]), _fmt(r["epochs_run"]), _fmt(r["duration_s"])]
        table.add_row(*cells, *([r["reason"].splitlines()[0][:80] if r["reason"] else ""] if reasons else []))
    console.print(table)
    if view.get("experiment_id"):
        console.print(f"In MLflow's UI: {trials_link(view['ui'], view['experiment_id'])}", soft_wrap=True)


def _wall(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def print_comparison(found: dict[str, Any], console: Console | None = None) -> None:
    """``tuner compare``: one row per search, then how their spaces differ, then caveats."""
    console = console or _console()
    rows = found["searches"]
    metrics = {r["metric"] for r in rows}
    suffix = f" {rows[0]['metric']}" if len(metrics) == 1 else ""
    table = Table(title=f"Searches compared ({len(rows)})", title_justify="left")
    columns = ["search", "run", "data", "engine", "sampler", "pruner", "trials c/p/f"]
    columns += [f"best val{suffix}", f"test{suffix}", "wall", "trials/min"]
    for column in columns:
        numeric = column.startswith(("best val", "test", "wall", "trials/"))
        table.add_column(column, justify="right" if numeric else "left")
    for r in rows:
        t = r["trials_by_state"]
        trials = f"{t.get(COMPLETE, 0)}/{t.get(PRUNED, 0)}/{t.get(FAILED, 0)}"
        trials += f" +{t['running']} running" if t.get("running") else ""
        unit = "" if suffix else f" {r['metric']}"
        best, test = _fmt(r["best_val_score"]), _fmt(r["test_score"])
        wall = _wall(r["wall_s"]) + (" (running)" if r["running"] else "")
        cells = [r["search"], r["search_run_id"][:8], r["data"], r["engine"], r["sampler"], r["pruner"]]
        cells += [trials, best + (unit if best != "-" else ""), test + (unit if test != "-" else "")]
        table.add_row(*cells, wall, _fmt(r["trials_per_minute"]))
    console.print(table)
    if found["same_space"]:
        console.print("Space differences: same space", highlight=False)
    else:
        spaces = Table(title="Space differences", title_justify="left")
        spaces.add_column("parameter")
        for r in rows:
            spaces.add_column(f"{r['search']} ({r['search_run_id'][:8]})")
        for name, definitions in found["space_differences"].items():
            spaces.add_row(name, *definitions)
        console.print(spaces)
    for note in found["notes"]:
        console.print(f"note: {note}", highlight=False)
