"""The progress display's watcher: an error while polling warns once and polling goes on."""

from __future__ import annotations

import time

from tuner.search.progress import SearchProgress


def test_a_failing_poll_warns_once_and_the_watcher_keeps_polling(tmp_path, capsys):
    source = tmp_path / "finished.txt"  # missing at first: every poll fails, as a busy store's would
    attempts, seen = [], []

    def poll() -> None:
        attempts.append(time.monotonic())
        seen.append(int(source.read_text()))

    def wait_for(condition, what: str) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, f"the watcher stopped polling: {what}"
            time.sleep(0.01)

    progress = SearchProgress("fits", 4, "accuracy", enabled=False)
    with progress, progress.watch(poll, interval=0.01):
        wait_for(lambda: len(attempts) >= 5, "no fifth attempt after failures")
        source.write_text("3")
        wait_for(lambda: seen, "nothing read once the source came back")
    stopped = len(attempts)
    time.sleep(0.05)
    assert len(attempts) == stopped  # the watcher ends with its block

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # once, however many polls failed
    assert lines[0].startswith("warning: the progress display could not update (FileNotFoundError: ")
    assert lines[0].endswith("the search goes on")
