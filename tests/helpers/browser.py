"""Helpers for the browser test: `tuner ui` as a user starts it, and Debian's Chromium driven by
Playwright (which cannot download a browser of its own here)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
from servers import free_port

CHROMIUM = os.environ.get("TUNER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1920, "height": 1080}
FIRST_PAGE_MS = 120_000  # the first page of a freshly started UI, on a slow and loaded machine
PAGE_MS = 60_000


@contextlib.contextmanager
def tuner_ui(log: Path, timeout: float = 150) -> Iterator[str]:
    """`python -m tuner ui` on a free loopback port, in a session of its own; yields the URL it
    printed once `/health` answers. At the end, SIGTERM to tuner (which stops what it started),
    then SIGKILL to every process group it and its descendants were in."""
    port = free_port()
    with log.open("w") as out:
        ui = subprocess.Popen(
            [sys.executable, "-m", "tuner", "ui", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    groups = {ui.pid}
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(psutil.Error, OSError):
                groups |= {os.getpgid(p.pid) for p in psutil.Process(ui.pid).children(recursive=True)}
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except OSError:
                assert ui.poll() is None, f"tuner ui exited: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, f"the UI did not answer within {timeout:.0f} s"
                time.sleep(0.5)
        printed = re.search(r"at (http://\S+)", log.read_text())
        assert printed, f"tuner ui printed no URL: {log.read_text()[-2000:]}"
        yield printed.group(1).rstrip("/")
    finally:
        with contextlib.suppress(psutil.Error, OSError):
            groups |= {os.getpgid(p.pid) for p in psutil.Process(ui.pid).children(recursive=True)}
        ui.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            ui.wait(30)
        for group in groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        ui.wait(10)


def require_browser() -> None:
    """Fail at once (before any search) when Chromium or Playwright is missing: never skip."""
    assert Path(CHROMIUM).exists(), (
        f"no Chromium at {CHROMIUM}: install Debian's package "
        "(apt-get install --no-install-recommends chromium, as .ci/run does) or set TUNER_CHROMIUM"
    )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        raise AssertionError("Playwright is not installed: pip install -e '.[dev]'") from error


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (a Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def close_assistant(page) -> None:
    """Close the MLflow Assistant panel, which opens by itself on a first visit and takes a third
    of the screen (a user closes it once; the browser remembers)."""
    panel_close = page.get_by_role("button", name="Close", exact=True)
    with contextlib.suppress(Exception):
        panel_close.first.click(timeout=5_000)


def shoot(page, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path))
    return path
