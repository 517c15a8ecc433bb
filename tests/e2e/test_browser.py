"""The MLflow UI checked in a real browser (issue 15 §7): a small real search, `tuner ui` started
as a user starts it, and headless Chromium going where a user goes: the experiment list, the
experiment's runs, two trials compared (parameters side by side, val_loss curves), the search
run's description and its plots. Every step leaves a screenshot in the test's directory
(``screenshots/``); with TUNER_SAVE_SCREENSHOTS=1 the runs page also refreshes the README's
picture, docs/screenshots/mlflow-experiment.png.

What MLflow's UI does, seen here (3.17 and 3.18): a browser's first visit may show an experiment
on its GenAI overview whatever the experiment's `mlflow.experimentKind` tag says, because the UI
takes the experiment's kind from its own "GenAI | Model training" switch (kept in the browser's
local storage). One click on "Model training" (remembered), or on "Training runs" in the
experiment's side bar, shows the runs: the README says so, and this test checks that both ways
lead there. It checks what a user needs (the runs table, the compare view, a plot opening), never
the wording of MLflow's GenAI pages, which changes between releases.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import (
    FIRST_PAGE_MS,
    PAGE_MS,
    VIEWPORT,
    chromium,
    close_assistant,
    require_browser,
    shoot,
    tuner_ui,
)
from mlflow.tracking import MlflowClient
from paths import REPO

from tuner.tracking.store import resolve_tracking_uri

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAME = "browser-search"
README_SHOT = REPO / "docs" / "screenshots" / "mlflow-experiment.png"
# The columns the README tells a user to add to the runs table, and those to take away.
COLUMNS_ON = (
    "Description",
    "best_val_score",
    "val_score",
    "n_hidden",
    "n_neurons",
    "learning_rate",
    "optimizer",
    "tuner.state",
)
COLUMNS_OFF = ("Dataset", "Source", "Models")
TRIALS_ONLY = "tags.tuner.kind = 'trial'"  # hides the re-check folds and the refit


def _search() -> None:
    command = [sys.executable, "-m", "tuner", "search", "--space", "mlp_quick", "--data", "iris"]
    command += ["--trials", "4", "--epochs", "3", "--n-jobs", "1", "--quiet", "--name", NAME]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


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
        "plots": plots,
        "listed": 1 + len(every_trial),  # in the runs table filtered on TRIALS_ONLY
    }


def _parent_name(recorded: dict) -> str:
    return recorded["parent"].info.run_name


def _runs_view(page, parent_name: str) -> None:
    """The page shows the runs table, with the search's row in it."""
    page.get_by_role("columnheader", name="Run Name").first.wait_for(timeout=FIRST_PAGE_MS)
    page.get_by_role("link", name=parent_name).first.wait_for(timeout=PAGE_MS)


def _first_visit(page, url: str, recorded: dict, shots: Path) -> None:
    """A browser's first visit: experiment list, then the experiment by its name. Whatever page
    MLflow opens it on, the runs table or a GenAI page, "Training runs" in the experiment's side
    bar leads to the runs."""
    page.goto(f"{url}/#/experiments", timeout=FIRST_PAGE_MS)
    page.get_by_role("link", name=NAME, exact=True).click(timeout=FIRST_PAGE_MS)
    runs_link = page.get_by_role("link", name=_parent_name(recorded))
    training_runs = page.get_by_role("link", name="Training runs", exact=True)
    runs_link.or_(training_runs).first.wait_for(timeout=PAGE_MS)
    shoot(page, shots, "00-first-visit-experiment.png")
    if not runs_link.first.is_visible():  # a GenAI page, perhaps with a tip on top of it
        got_it = page.get_by_role("button", name="Got it")
        if got_it.is_visible():
            got_it.click()
        training_runs.first.click()
    _runs_view(page, _parent_name(recorded))


def _choose_columns(page) -> None:
    """Columns: add what the README recommends, take away the empty ones."""
    page.get_by_role("button", name="Columns").click()
    dialog = page.get_by_role("dialog", name="Popover content")
    for name in COLUMNS_ON + COLUMNS_OFF:
        dialog.get_by_placeholder("Search columns").fill(name)
        node = dialog.locator(".du-bois-light-tree-treenode", has_text=re.compile(rf"^{re.escape(name)}$"))
        node.first.locator("[class*=checkbox]").first.click()
    page.keyboard.press("Escape")


def _experiment_page(page, url: str, recorded: dict, shots: Path) -> None:
    """Home, "Model training" (once), Experiments, the experiment by name: its runs table, the
    search's row with its description, expanded to its trials."""
    page.goto(url, timeout=FIRST_PAGE_MS)
    page.get_by_text("Model training", exact=True).click(timeout=FIRST_PAGE_MS)
    page.get_by_role("link", name="Experiments", exact=True).first.click()
    page.get_by_role("link", name=NAME, exact=True).wait_for(timeout=PAGE_MS)
    shoot(page, shots, "01-experiments.png")
    page.get_by_role("link", name=NAME, exact=True).click()
    _runs_view(page, _parent_name(recorded))
    close_assistant(page)
    _choose_columns(page)
    search = page.get_by_placeholder(re.compile(r"metrics\.rmse"))  # the runs' search box
    search.fill(TRIALS_ONLY)  # the parent row stays, as the trials' group
    search.press("Enter")
    first_trial = page.get_by_role("link", name=recorded["trials"][0].info.run_name, exact=True)
    listed = re.compile(rf"^{recorded['listed']} matching runs$")  # the filter has applied
    page.get_by_text(listed).first.wait_for(timeout=PAGE_MS)
    if not first_trial.is_visible():
        parent_row = page.locator("div.ag-row", has_text=_parent_name(recorded)).first
        parent_row.locator("button[data-component-id*=runnamecellrenderer]").click()
    for trial in recorded["trials"]:
        page.get_by_role("link", name=trial.info.run_name, exact=True).wait_for(timeout=PAGE_MS)
    description = page.locator("div.ag-row [col-id*=Description]", has_text=recorded["description"][0][:30])
    description.first.wait_for(timeout=PAGE_MS)
    shoot(page, shots, "02-experiment-runs.png")
    if os.environ.get("TUNER_SAVE_SCREENSHOTS") == "1":  # the README's picture: down to the last row
        bottom = max(box["y"] + box["height"] for box in _boxes(page.locator("div.ag-row")))
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_SHOT), clip={**VIEWPORT, "x": 0, "y": 0, "height": bottom + 16})


def _boxes(locator) -> list[dict]:
    return [box for box in (item.bounding_box() for item in locator.all()) if box]


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
    shoot(page, shots, "03-compare-parameters.png")
    page.get_by_role("link", name="val_loss", exact=True).click()
    for name in order:  # the chart's legend, one entry per run
        page.get_by_text(f"{name} (val_loss)", exact=True).first.wait_for(timeout=PAGE_MS)
    page.wait_for_function(  # the curves, drawn by plotly: a path per run with points in it
        """() => [...document.querySelectorAll('svg.main-svg g.trace path.js-line')]
                   .filter(p => (p.getAttribute('d') || '').length > 10).length >= 2""",
        timeout=PAGE_MS,
    )
    shoot(page, shots, "04-compare-val-loss.png")


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


def test_the_mlflow_ui_shows_the_search_as_a_user_finds_it(tmp_path: Path):
    require_browser()
    began = time.monotonic()
    _search()
    recorded = _recorded()
    shots = tmp_path / "screenshots"
    searched = time.monotonic()
    with tuner_ui(tmp_path / "ui.log") as url, chromium() as browser:
        started = time.monotonic()
        page = browser.new_context(viewport=VIEWPORT).new_page()  # a browser never used on the UI
        try:
            _first_visit(page, url, recorded, shots)
            page.context.close()
            page = browser.new_context(viewport=VIEWPORT).new_page()
            _experiment_page(page, url, recorded, shots)
            _compare(page, recorded, shots)
            _search_run(page, url, recorded, shots)
        except BaseException:
            shoot(page, shots, "failed.png")
            raise
        browsed = time.monotonic()
    print(
        f"search {searched - began:.0f} s, tuner ui {started - searched:.0f} s, "
        f"browser {browsed - started:.0f} s; screenshots in {shots}"
    )
