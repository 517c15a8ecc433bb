"""One search, end to end: the three steps of :mod:`tuner.jobs.steps` in a row, in one process tree.

This is the Python API behind ``tuner search``::

    from tuner.jobs.local import SearchConfig, run_search
    result = run_search(SearchConfig(space="search_spaces/mlp_classification.yaml", data="digits"))
    result.best_params, result.best_value, result.test_score, result.model_uri
"""

from __future__ import annotations

from tuner.config import SearchConfig
from tuner.jobs.steps import create, finish, prepare, work, worker_pool
from tuner.search.context import build_context
from tuner.search.outcomes import SearchResult
from tuner.search.progress import SearchProgress
from tuner.search.timing import PhaseClock
from tuner.tracking.runs import recorded_run

__all__ = ["SearchConfig", "SearchResult", "run_search"]


def run_search(config: SearchConfig) -> SearchResult:
    """Run one search and return its result; raise TunerError for the user's mistakes."""
    clock = PhaseClock()
    with clock.phase("data"):
        # First: most mistakes show here. It starts the workers' fork server, whose TensorFlow
        # import overlaps all that follows until the workers are forked (tuner.processes.fork_server).
        engine, inputs = prepare(config)
    search_run = create(config, engine, inputs)
    with recorded_run(search_run, run_id=search_run.search_run_id) as run:
        metric = inputs.metric.name
        with SearchProgress(engine.unit, engine.total(), metric, config.show_progress) as progress:
            ctx = build_context(config, search_run, progress, inputs)
            with worker_pool(engine) as pool:  # stopped first when the search is interrupted
                clock.mark("startup")
                with clock.phase("trials"):
                    work(engine, ctx, pool)
                return finish(ctx, engine, pool, run, clock)
