"""The MLflow UI checked in a real browser: a small real search, `tuner ui` started as a user
starts it, and headless Chromium opening the links tuner printed, in browsers that never saw the
UI. Without a click, the trials link must show the search's trials with their parameters, scores
and states in columns (tuner's shared view, tuner/tracking/shared_views.py: MLflow's format, not a
documented API, so this is the test that fails when MLflow changes it); the searches link the
search with its engine and scores; then two trials compared (parameters side by side, val_loss
curves) and a plot of the search run opened. Every step leaves a screenshot in the test's
directory (``screenshots/``); with TUNER_SAVE_SCREENSHOTS=1 the first screen also refreshes the
README's picture, docs/screenshots/mlflow-trials.png.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import FIRST_PAGE_MS, PAGE_MS, VIEWPORT, chromium, require_browser, shoot, tuner_ui
from mlflow.tracking import MlflowClient
from paths import REPO

from tuner.tracking.store import resolve_tracking_uri

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAME = "browser-search"
README_SHOT = REPO / "docs" / "screenshots" / "mlflow-trials.png"
PARAMS = ("n_hidden", "n_neurons", "learning_rate", "optimizer")  # what mlp_quick searches
LINK = re.compile(r"(http://\S+viewStateShareKey=\w+)")


def _search() -> str:
    """A search as a user runs it; the link it printed to its trials."""
    command = [sys.executable, "-m", "tuner", "search", "--space", "mlp_quick", "--data", "iris"]
    command += ["--trials", "4", "--epochs", "3", "--n-jobs", "1", "--name", NAME]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    printed = LINK.search(done.stdout)
    assert printed, done.stdout[-3000:]
    return printed.group(1)


def _recorded() -> dict:
    """What MLflow holds for the search: the page must show these."""
    client = MlflowClient(resolve_tracking_uri())
    experiment = client.get_experiment_by_name(NAME)
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parent = next(r for r in runs if r.data.tags.get("tuner.kind") == "search")
    every_trial = [r for r in runs if r.data.tags.get("tuner.kind") == "trial"]
    # Two trials to compare: complete ones first (pruning varies with the study's name).
    trials = sorted(
        every_trial,
        key=lambda r: (r.data.tags.get("tuner.state") != "complete", int(r.data.tags["optuna.trial"])),
    )
    assert len(trials) >= 2, [r.info.run_name for r in runs]
    plots = sorted(a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "plots"))
    assert plots, "the search run has no plots"
    return {
        "experiment_id": experiment.experiment_id,
        "parent": parent,
        "description": parent.data.tags["mlflow.note.content"].splitlines(),
        "trials": trials[:2],
        "every_trial": every_trial,
        "plots": plots,
    }


def _parent_name(recorded: dict) -> str:
    return recorded["parent"].info.run_name


def _cell(page, run_id: str, column: str):
    """The runs table's cell of one run (its row is the run's id) in one column (the view's key)."""
    return page.locator(f"div.ag-center-cols-container div.ag-row[row-id='{run_id}'] [col-id='{column}']")


def _trials_view(page, link: str, recorded: dict, shots: Path) -> None:
    """The printed link, in a browser that never saw the UI: without a click, the trials of the
    search and nothing else, their parameters, scores and states in columns."""
    page.goto(link, timeout=FIRST_PAGE_MS)
    for param in PARAMS:
        page.get_by_role("columnheader", name=param, exact=True).first.wait_for(timeout=FIRST_PAGE_MS)
    for header in ("val_score", "tuner.state", "best_epoch"):
        page.get_by_role("columnheader", name=header, exact=True).first.wait_for(timeout=PAGE_MS)
    for trial in recorded["trials"]:  # two trials, complete first: every value on screen
        run_id, params, metrics = trial.info.run_id, trial.data.params, trial.data.metrics
        for param in PARAMS:
            shown = _cell(page, run_id, f"params.`{param}`").inner_text(timeout=PAGE_MS).strip()
            assert shown == params[param], (
                f"{trial.info.run_name} {param}: {shown!r}, MLflow holds {params[param]!r}"
            )
        score = _cell(page, run_id, "metrics.`val_score`").inner_text(timeout=PAGE_MS).strip()
        assert float(score) == pytest.approx(metrics["val_score"], rel=1e-3), (trial.info.run_name, score)
        state = _cell(page, run_id, "tags.`tuner.state`").inner_text(timeout=PAGE_MS).strip()
        assert state == trial.data.tags["tuner.state"]
    listed = page.locator("div.ag-center-cols-container div.ag-row")
    assert {r.get_attribute("row-id") for r in listed.all()} == {
        r.info.run_id for r in recorded["every_trial"]
    }
    shot = shoot(page, shots, "01-trials-view.png")
    if os.environ.get("TUNER_SAVE_SCREENSHOTS") == "1":  # the README's picture, as a user first sees it
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        README_SHOT.write_bytes(shot.read_bytes())


def _searches_view(page, link: str, recorded: dict, shots: Path) -> None:
    """The searches link: the search's row with its engine, model and scores."""
    page.goto(link, timeout=PAGE_MS)
    for header in ("engine", "best_val_score", "test_accuracy"):
        page.get_by_role("columnheader", name=header, exact=True).first.wait_for(timeout=PAGE_MS)
    parent = recorded["parent"]
    assert _cell(page, parent.info.run_id, "params.`engine`").inner_text(timeout=PAGE_MS).strip() == "optuna"
    shown = _cell(page, parent.info.run_id, "metrics.`best_val_score`").inner_text(timeout=PAGE_MS).strip()
    assert float(shown) == pytest.approx(parent.data.metrics["best_val_score"], rel=1e-3)
    shoot(page, shots, "04-searches-view.png")


def _compare(page, recorded: dict, shots: Path) -> None:
    """Two trials ticked and compared: their parameters side by side, then their val_loss curves."""
    trials = recorded["trials"]
    for trial in trials:
        row = page.locator("div.ag-pinned-left-cols-container div.ag-row").filter(
            has=page.get_by_role("link", name=trial.info.run_name, exact=True)
        )
        row.first.locator("input.ag-checkbox-input").check()
    page.get_by_role("button", name="Compare", exact=True).click()
    page.get_by_text("Comparing 2 Runs").wait_for(timeout=PAGE_MS)
    names = page.locator("tr").filter(has_text="Run Name:")
    names.first.wait_for(timeout=PAGE_MS)
    order = [t.strip() for t in names.first.locator("td").all_inner_texts() if t.strip()]
    shown = {t.info.run_name: t for t in trials}
    assert sorted(order) == sorted(shown), f"compared {order}, ticked {sorted(shown)}"
    for param in ("n_neurons", "learning_rate"):
        row = page.locator("tr").filter(has=page.locator("th, td").filter(has_text=re.compile(rf"^{param}$")))
        row.first.scroll_into_view_if_needed(timeout=PAGE_MS)
        values = [t.strip() for t in row.first.locator("td").all_inner_texts()][-2:]
        expected = [shown[name].data.params[param] for name in order]
        assert values == expected, f"{param}: page shows {values}, MLflow holds {expected} for {order}"
    shoot(page, shots, "02-compare-parameters.png")
    page.get_by_role("link", name="val_loss", exact=True).click()
    for name in order:  # the chart's legend, one entry per run
        page.get_by_text(f"{name} (val_loss)", exact=True).first.wait_for(timeout=PAGE_MS)
    page.wait_for_function(  # the curves, drawn by plotly: a path per run with points in it
        """() => [...document.querySelectorAll('svg.main-svg g.trace path.js-line')]
                   .filter(p => (p.getAttribute('d') || '').length > 10).length >= 2""",
        timeout=PAGE_MS,
    )
    shoot(page, shots, "03-compare-val-loss.png")


def _search_run(page, url: str, recorded: dict, shots: Path) -> None:
    """The search run: its description, then its plots listed and one opened as an image."""
    parent = recorded["parent"]
    page.goto(f"{url}/#/experiments/{recorded['experiment_id']}/runs/{parent.info.run_id}", timeout=PAGE_MS)
    for line in recorded["description"]:  # rendered as Markdown, in one paragraph
        page.get_by_text(line).first.wait_for(timeout=PAGE_MS)
    shoot(page, shots, "05-search-run.png")
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("plots", exact=True).first.click(timeout=PAGE_MS)
    for plot in recorded["plots"]:
        page.get_by_text(plot, exact=True).first.wait_for(timeout=PAGE_MS)
    chosen = (
        "optimization_history.png"
        if "optimization_history.png" in recorded["plots"]
        else recorded["plots"][0]
    )
    page.get_by_text(chosen, exact=True).first.click()
    page.wait_for_function(
        "() => [...document.images].some(i => i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:'))",
        timeout=PAGE_MS,
    )
    shoot(page, shots, "06-search-run-plot.png")


def test_the_links_tuner_prints_open_the_trials_ready_to_compare(tmp_path: Path):
    require_browser()
    began = time.monotonic()
    printed = _search()
    recorded = _recorded()
    shots = tmp_path / "screenshots"
    searched = time.monotonic()
    with tuner_ui(tmp_path / "ui.log") as url, chromium() as browser:
        started = time.monotonic()
        from_ui = re.search(rf"{NAME}: (\S+)", (tmp_path / "ui.log").read_text())
        assert from_ui, (tmp_path / "ui.log").read_text()
        link = from_ui.group(1)
        assert link.startswith(url) and link.endswith(
            f"/#/experiments/{recorded['experiment_id']}/runs?viewStateShareKey=trials"
        )
        assert printed.split("/#/")[1] == link.split("/#/")[1]  # tuner search printed the same view
        page = browser.new_context(viewport=VIEWPORT).new_page()  # a browser never used on the UI
        try:
            _trials_view(page, link, recorded, shots)
            _compare(page, recorded, shots)
            page.context.close()
            page = browser.new_context(viewport=VIEWPORT).new_page()
            _searches_view(
                page, link.replace("viewStateShareKey=trials", "viewStateShareKey=searches"), recorded, shots
            )
            _search_run(page, url, recorded, shots)
        except BaseException:
            shoot(page, shots, "failed.png")
            raise
        browsed = time.monotonic()
    print(
        f"search {searched - began:.0f} s, tuner ui {started - searched:.0f} s, "
        f"browser {browsed - started:.0f} s; screenshots in {shots}"
    )
