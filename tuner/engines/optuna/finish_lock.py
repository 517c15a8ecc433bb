"""One finish per study, whoever starts it: a lock recorded in the study, with a heartbeat.

Optuna has no lock, and a scheduler may start ``tuner study finish`` twice (a retried
job, a finish beside the last worker's). The first to claim the study records itself
as the finish's owner and beats; another waits while the owner's heartbeat is fresh,
takes over when it is stale (a crashed finish), and returns the stored result once the
owner is done. Claims are settled by reading back: the last writer owns the lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import optuna

from tuner.engines.optuna.record import finish_claim, stored_result, write_finish_claim
from tuner.processes.worker_id import worker_id

SETTLE_SECONDS = 1.0  # how long two claims written at once take to show which one stuck


def _stale(claim: dict | None, now: float) -> bool:
    return claim is None or not claim.get("owner") or now - claim["heartbeat"] > 3 * claim["interval"]


@contextlib.contextmanager
def finish_lock(study: optuna.Study, interval: float = 5.0, poll: float = 2.0) -> Iterator[bool]:
    """Yield True holding the study's finish lock, or False once another process finished it.

    While held, the claim beats every ``interval`` seconds; leaving releases it (an error
    releases it too, so another finish may take over at once).
    """
    me = worker_id()
    while True:
        if stored_result(study.user_attrs) is not None:
            yield False
            return
        claim = finish_claim(study.user_attrs)
        if _stale(claim, time.time()) or claim.get("owner") == me:
            write_finish_claim(study, {"owner": me, "heartbeat": time.time(), "interval": interval})
            time.sleep(SETTLE_SECONDS)
            if (finish_claim(study.user_attrs) or {}).get("owner") == me:
                break
        time.sleep(poll)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a missed beat is retried next interval
                write_finish_claim(study, {"owner": me, "heartbeat": time.time(), "interval": interval})

    thread = threading.Thread(target=beat, name="tuner-finish-lock", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join()
        write_finish_claim(study, {"owner": None, "heartbeat": time.time(), "interval": interval})
