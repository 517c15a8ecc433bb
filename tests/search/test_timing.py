"""The search's clock: when a process started, which every start-up figure counts from."""

import subprocess
import sys
import time

from tuner.search.timing import process_started_at


def test_a_process_start_is_read_to_the_clock_tick_not_to_the_boot_seconds():
    launched = time.time()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tuner.search.timing import process_started_at; print(process_started_at())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    started = float(out.stdout)
    # psutil's create_time read here up to 1 s before the launch (a boot time in whole seconds)
    assert launched - 0.02 <= started <= launched + 2.0


def test_this_process_started_before_now():
    assert 0 < time.time() - process_started_at() < 24 * 3600
