"""How often a search's call path comes back to a module it had left, in the process that runs it.

Why: a layout where each part is entered once on the way through a search is one a newcomer can
follow; a module the path keeps returning to (the old ``tracking.py``: URIs, clients, run states,
worker ids and an Optuna clean-up) holds several ideas. This runs a ``tuner`` command in this
process with ``sys.setprofile`` (and ``threading.setprofile``) watching which of tuner's modules
holds the innermost tuner frame, and prints the changes of module, the returns (entering a module
already seen and left) by module, and the distinct moves (from one module to another, however
often a loop repeats them) and distinct returns, which do not grow with the number of trials. Workers in other processes are not
watched: their path is the trial unit's.

    python benchmarks/call_path.py search --data digits           # the default search
    PYTHONPATH=/path/to/other/checkout python benchmarks/call_path.py search --data digits

The tuner imported is whichever comes first on ``sys.path`` (PYTHONPATH before the install),
so two checkouts can be measured with one environment.
"""

from __future__ import annotations

import collections
import json
import os
import runpy
import sys
import threading
from pathlib import Path
from typing import Any

import tuner

PACKAGE = str(Path(tuner.__file__).resolve().parent) + os.sep


class ModulePath:
    """The sequence of tuner modules holding the innermost tuner frame, one per thread."""

    def __init__(self) -> None:
        self.current: dict[int, str] = {}
        self.changes = 0
        self.returns: collections.Counter[str] = collections.Counter()
        self.seen: dict[int, set[str]] = collections.defaultdict(set)
        self.edges: set[tuple[str, str]] = set()  # (left, entered): loops repeat the same ones
        self.edge_returns: set[tuple[str, str]] = set()

    def _enter(self, module: str) -> None:
        thread = threading.get_ident()
        previous = self.current.get(thread)
        if module == previous:
            return
        self.changes += 1
        self.edges.add((previous or "", module))
        if module in self.seen[thread]:
            self.returns[module] += 1
            self.edge_returns.add((previous or "", module))
        self.seen[thread].add(module)
        self.current[thread] = module

    def profile(self, frame: Any, event: str, _arg: Any) -> None:
        if event not in ("call", "return"):
            return
        path = frame.f_code.co_filename
        if not path.startswith(PACKAGE):
            return
        if event == "call":
            self._enter(path[len(PACKAGE) :])
            return
        caller = frame.f_back  # leaving a tuner frame: the innermost tuner frame below it
        while caller is not None and not caller.f_code.co_filename.startswith(PACKAGE):
            caller = caller.f_back
        if caller is not None:
            self._enter(caller.f_code.co_filename[len(PACKAGE) :])


def main() -> None:
    watched = ModulePath()
    sys.argv = ["tuner", *sys.argv[1:]]
    threading.setprofile(watched.profile)
    sys.setprofile(watched.profile)
    code = 0
    try:
        runpy.run_module("tuner", run_name="__main__")
    except SystemExit as exc:
        code = exc.code or 0
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    summary = {
        "package": PACKAGE,
        "exit_code": code,
        "module_changes": watched.changes,
        "returns": sum(watched.returns.values()),
        "modules_returned_to": len(watched.returns),
        "distinct_moves": len(watched.edges),
        "distinct_returns": len(watched.edge_returns),
        "returns_by_module": dict(watched.returns.most_common()),
    }
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
