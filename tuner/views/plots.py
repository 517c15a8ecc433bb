"""Pictures of a search, and its trials table, on the search's parent run (``plots/*.png``).

Why: the MLflow UI compares a few runs at a time; these answer at a glance what a search
found: how the score went trial by trial, which hyperparameters mattered, where the good
trials sit in the space, how the best trials' validation loss fell, and what the pruner saw.

How, and what it costs: matplotlib's object API (``Figure`` + the Agg canvas, never pyplot),
so nothing touches the process's backend or pyplot's global figure list (no figure to close,
safe beside threads), imported only when pictures are drawn. The data comes from the trial
records plus one ``search_runs`` call (:mod:`tuner.views.trials_table`) and one metric-history call
per curve drawn (at most 5). Optuna is used only for importances, on an in-memory study
built from the records. A picture that cannot be drawn is one ``warning: ...`` line on
stderr, never an exception: a finished search must not fail over a picture.
"""

from __future__ import annotations

import math
import numbers
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from tuner.errors import first_line
from tuner.search.outcomes import TrialRecord
from tuner.tracking.runs import COMPLETE, FAILED, PRUNED
from tuner.tracking.store import client_for
from tuner.views.trials_table import SearchRuns, fetch_search_runs, log_trials_table, plain_value

PLOTS_DIR = "plots"
TOP_CURVES = 5
CURVE_METRIC = "val_loss"
SIZE, DPI = (8.0, 5.0), 100
DIRECTIONS = ("maximize", "minimize")


@dataclass
class SearchView:
    """What every picture reads: the trials, how to rank them, and where their runs are."""

    trials: list[TrialRecord]
    direction: str
    metric: str
    engine: str
    client: MlflowClient
    runs: SearchRuns

    @property
    def better(self) -> str:
        return "higher is better" if self.direction == "maximize" else "lower is better"

    def complete(self) -> list[TrialRecord]:
        """Complete trials with a finite score, best first."""
        done = [t for t in self.trials if t.state == COMPLETE and _finite(t.value)]
        return sorted(done, key=lambda t: t.value, reverse=self.direction == "maximize")


def publish_search_artifacts(
    tracking_uri: str,
    search_run_id: str,
    trials: list[TrialRecord],
    *,
    direction: str,
    metric: str,
    engine: str,
    plots: bool = True,
) -> list[str]:
    """Log under the parent run: plots/*.png (unless plots=False), the trials table (trials.json, an MLflow
    table as ``log_table`` writes it but replaced rather than appended to, and trials.csv). Never raises
    for a picture that cannot be drawn: prints one `warning: ...` line to stderr for it and goes on.
    Returns the artifact paths written.

    ``direction`` is ``maximize`` or ``minimize``; ``metric`` names the trials' ``value`` (``accuracy``,
    ``mse``); ``engine`` only shows in titles. Errors of the store itself (unreachable, full) do raise.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    client = client_for(tracking_uri)
    runs = fetch_search_runs(tracking_uri, search_run_id)
    written = log_trials_table(client, runs, trials)
    if plots:
        written += log_pictures(SearchView(trials, direction, metric, engine, client, runs))
    return written


def log_pictures(view: SearchView) -> list[str]:
    """Draw every picture that applies into a temporary folder, then log the folder in one call."""
    with tempfile.TemporaryDirectory(prefix="tuner-plots-") as tmp:
        names = [name for name, draw in PICTURES if _save(name, draw, view, Path(tmp))]
        if names:
            view.client.log_artifacts(view.runs.search_run.info.run_id, tmp, artifact_path=PLOTS_DIR)
    return [f"{PLOTS_DIR}/{name}.png" for name in names]


def _save(name: str, draw: Callable[[SearchView], Any], view: SearchView, folder: Path) -> bool:
    """Draw one picture and save it as ``folder/name.png``; False if skipped or failed (warned)."""
    try:
        figure = draw(view)
        if figure is None:
            return False
        figure.savefig(folder / f"{name}.png", dpi=DPI)
        return True
    except Exception as exc:  # any picture's failure is a warning: the search's results stand
        _warn(name, first_line(exc))
        return False


def _warn(name: str, message: str) -> None:
    print(f"warning: {PLOTS_DIR}/{name}.png: {message}", file=sys.stderr)


def _finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _figure(size: tuple[float, float] = SIZE) -> tuple[Any, Any]:
    """A figure with one axes, on the Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)  # NumPy's scalars too


def _pruned_score(trial: TrialRecord) -> float | None:
    """A pruned trial's score, else the last value its pruner saw."""
    if _finite(trial.value):
        return trial.value
    seen = [v for _, v in sorted(trial.intermediate.items()) if _finite(v)]
    return seen[-1] if seen else None


def draw_history(view: SearchView) -> Any:
    """Score by trial number, complete and pruned trials apart, and the best score so far."""
    from matplotlib.ticker import MaxNLocator

    done = sorted(view.complete(), key=lambda t: t.number)
    pruned = [(t.number, _pruned_score(t)) for t in view.trials if t.state == PRUNED]
    pruned = [(n, v) for n, v in pruned if v is not None]
    if not done and not pruned:
        raise ValueError("no trial has a score to draw")
    figure, ax = _figure()
    if done:
        ax.scatter(
            [t.number for t in done], [t.value for t in done], color="tab:blue", label="complete", zorder=3
        )
        pick = max if view.direction == "maximize" else min
        best = [pick(t.value for t in done[: i + 1]) for i in range(len(done))]
        last = max(t.number for t in view.trials)
        xs = [t.number for t in done] + [last]
        ax.step(xs, best + best[-1:], where="post", color="tab:red", label=f"best so far ({best[-1]:.4g})")
    if pruned:
        ax.scatter(*zip(*pruned, strict=True), marker="x", color="tab:gray", label="pruned (last value seen)")
    failed = sum(t.state == FAILED for t in view.trials)
    ax.set_title(
        f"Optimization history: {view.metric} by trial ({view.better})\n"
        f"{len(view.trials)} trials: {len(done)} complete, {len(pruned)} pruned, {failed} failed ({view.engine})"
    )
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"validation {view.metric}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def varied_distributions(trials: list[TrialRecord]) -> dict[str, Any]:
    """Optuna distributions spanning the values the trials took, for parameters that varied.

    Numbers give an ``Int``/``FloatDistribution`` over the observed range (log-scaled for floats
    that are positive and span at least a factor 100, as learning rates do); anything else
    (strings, booleans) a ``CategoricalDistribution`` of the values seen.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    names = dict.fromkeys(name for t in trials for name in t.params)
    found: dict[str, Any] = {}
    for name in names:
        values = [plain_value(t.params[name]) for t in trials if name in t.params]
        distinct = set(values)
        if len(distinct) < 2:
            continue
        if all(_is_number(v) for v in values) and all(isinstance(v, int) for v in values):
            found[name] = IntDistribution(min(values), max(values))
        elif all(_is_number(v) for v in values):
            low, high = float(min(values)), float(max(values))
            found[name] = FloatDistribution(low, high, log=low > 0 and high / low >= 100)
        else:
            found[name] = CategoricalDistribution(sorted(distinct, key=lambda v: (type(v).__name__, str(v))))
    return found


def _cast(value: Any, distribution: Any) -> Any:
    from optuna.distributions import FloatDistribution

    value = plain_value(value)
    return float(value) if isinstance(distribution, FloatDistribution) else value


def importances(view: SearchView, trials: list[TrialRecord], found: dict[str, Any]) -> dict[str, float]:
    """Optuna's parameter importances (its default evaluator) on an in-memory study of ``trials``."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory"
        try:
            study = optuna.create_study(direction=view.direction)
        finally:
            optuna.logging.set_verbosity(verbosity)
        for trial in trials:
            present = {name: dist for name, dist in found.items() if name in trial.params}
            params = {name: _cast(trial.params[name], dist) for name, dist in present.items()}
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=present, value=float(trial.value))
            )
        return optuna.importance.get_param_importances(study)


def draw_importances(view: SearchView) -> Any:
    """Hyperparameter importances; skipped (no warning) below 2 complete trials or with nothing varied."""
    done = view.complete()
    found = varied_distributions(done) if len(done) >= 2 else {}
    if not found:
        return None
    ranked = sorted(importances(view, done, found).items(), key=lambda item: item[1])
    figure, ax = _figure()
    bars = ax.barh([name for name, _ in ranked], [value for _, value in ranked], color="tab:blue")
    ax.bar_label(bars, fmt="%.2f", padding=3)
    ax.set_title(
        f"Hyperparameter importances for {view.metric}\n({len(done)} complete trials, {view.engine})"
    )
    ax.set_xlabel(f"importance for validation {view.metric} (share of the total)")
    ax.set_ylabel("hyperparameter")
    ax.set_xlim(0, max(1.0, max(value for _, value in ranked) * 1.15))
    ax.grid(axis="x", alpha=0.3)
    return figure


def _scaler(distribution: Any) -> tuple[Callable[[Any], float], list[tuple[float, str]]]:
    """Map a parameter's values to [0, 1] along its axis, and the axis' labelled ticks."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        span = max(len(choices) - 1, 1)
        return (lambda v: choices.index(plain_value(v)) / span), [
            (i / span, str(c)) for i, c in enumerate(choices)
        ]
    low, high, log = distribution.low, distribution.high, getattr(distribution, "log", False)
    ends = (math.log(low), math.log(high)) if log else (low, high)

    def scale(v: Any) -> float:
        x = math.log(float(v)) if log else float(v)
        return (x - ends[0]) / (ends[1] - ends[0])

    return scale, [(0.0, f"{low:.3g}"), (1.0, f"{high:.3g}")]


def draw_parallel(view: SearchView) -> Any:
    """One line per complete trial across the parameters that varied, coloured by score."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    done = view.complete()
    found = varied_distributions(done) if len(done) >= 2 else {}
    if not found:
        return None
    scalers = {name: _scaler(dist) for name, dist in found.items()}
    values = [t.value for t in done]
    norm = Normalize(min(values), max(values) if max(values) > min(values) else min(values) + 1)
    cmap = colormaps["viridis" if view.direction == "maximize" else "viridis_r"]  # best is yellow
    figure, ax = _figure((max(8.0, 1.6 * (len(found) + 1)), 5.0))
    for rank, trial in reversed(list(enumerate(done))):  # the best is drawn last, on top
        ys = [scalers[n][0](trial.params[n]) if n in trial.params else math.nan for n in found]
        ys.append(norm(trial.value))
        ax.plot(range(len(ys)), ys, color=cmap(norm(trial.value)), lw=3 if rank == 0 else 1.2, alpha=0.85)
    for x, name in enumerate(found):
        ax.axvline(x, color="black", lw=0.8)
        for y, text in scalers[name][1]:
            ax.annotate(text, (x, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.axvline(len(found), color="black", lw=0.8)
    for y, score in ((0.0, norm.vmin), (1.0, max(values))):
        ax.annotate(
            f"{score:.4g}",
            (len(found), y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_xticks(range(len(found) + 1), [*found, view.metric])
    ax.set_yticks([])
    ax.set_xlim(-0.1, len(found) + 0.4)
    ax.set_title(
        f"Parallel coordinates: the {len(found)} parameters that varied, by {view.metric} ({view.better})"
    )
    figure.colorbar(ScalarMappable(norm, cmap), ax=ax, label=f"validation {view.metric}")
    return figure


def _histories(view: SearchView, trials: list[TrialRecord]) -> tuple[dict[int, list[Any]], list[str]]:
    """Each trial's ``val_loss`` history (its first fold's for a candidate), and the trials without one."""
    found, missing = {}, []
    for trial in trials:
        run_id = view.runs.curve_run(view.client, trial.run_id) if trial.run_id else None
        history = view.client.get_metric_history(run_id, CURVE_METRIC) if run_id else []
        if history:
            found[trial.number] = sorted(history, key=lambda m: (m.step, m.timestamp))
        else:
            missing.append(f"trial {trial.number} (run {trial.run_id})")
    return found, missing


def draw_curves(view: SearchView) -> Any:
    """The per-epoch validation loss of the best complete trials, overlaid."""
    top = view.complete()[:TOP_CURVES]
    if not top:
        return None
    histories, missing = _histories(view, top)
    if not histories:
        raise ValueError(f"no {CURVE_METRIC} history in MLflow for {', '.join(missing)}")
    if missing:
        _warn("val_curves_top5", f"drawn without {', '.join(missing)}: no {CURVE_METRIC} history in MLflow")
    figure, ax = _figure()
    for trial in top:
        if trial.number in histories:
            steps = [m.step for m in histories[trial.number]]
            ax.plot(
                steps,
                [m.value for m in histories[trial.number]],
                marker=".",
                label=f"trial {trial.number}: {view.metric} {trial.value:.4g}",
            )
    folds = " (first CV fold of each candidate)" if view.runs.folds else ""
    ax.set_title(f"Validation loss of the {len(histories)} best trials by {view.metric}{folds}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{CURVE_METRIC} (validation loss)")
    ax.grid(alpha=0.3)
    ax.legend(title=f"validation {view.metric}")
    return figure


def draw_intermediate(view: SearchView) -> Any:
    """The values the pruner saw, by epoch: one line per trial, pruned trials apart."""
    from matplotlib.lines import Line2D

    seen = [t for t in view.trials if t.intermediate]
    if not seen:
        return None
    style = {COMPLETE: ("tab:blue", "-"), PRUNED: ("tab:red", "--"), FAILED: ("tab:gray", ":")}
    figure, ax = _figure()
    for trial in seen:
        color, line = style.get(trial.state, style[FAILED])  # an unknown state draws as failed
        points = sorted((int(k), v) for k, v in trial.intermediate.items() if _finite(v))
        if points:
            pruned_line = trial.state == PRUNED  # drawn over the complete ones
            ax.plot(
                *zip(*points, strict=True),
                color=color,
                ls=line,
                lw=1.6 if pruned_line else 1.2,
                alpha=0.8,
                zorder=3 if pruned_line else 2,
            )
            if trial.state == PRUNED:
                ax.plot(*points[-1], marker="x", color=color, ms=8, mew=2, zorder=4)
    states = [s for s in style if any(t.state == s for t in seen)]
    handles = [Line2D([], [], color=style[s][0], ls=style[s][1], label=s) for s in states]
    pruned = sum(t.state == PRUNED for t in seen)
    ax.set_title(
        f"What the pruner saw: validation {view.metric} by epoch\n{len(seen)} trials, {pruned} pruned ({view.better})"
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {view.metric}")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, title="trial state")
    return figure


PICTURES: tuple[tuple[str, Callable[[SearchView], Any]], ...] = (
    ("optimization_history", draw_history),
    ("param_importances", draw_importances),
    ("parallel_coordinates", draw_parallel),
    ("val_curves_top5", draw_curves),
    ("intermediate_values", draw_intermediate),
)
