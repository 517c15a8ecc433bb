"""One search, end to end: inputs -> search run -> engine -> refit -> result.

This is the Python API behind ``tuner search``::

    from tuner.search import SearchConfig, run_search
    result = run_search(SearchConfig(space="search_spaces/mlp_classification.yaml", data="digits"))
    result.best_params, result.best_value, result.test_score, result.model_uri
"""

from __future__ import annotations

import time

from tuner.config import SearchConfig
from tuner.context import build_context, load_inputs, search_name
from tuner.engines import make_engine
from tuner.finish import SearchResult, finish
from tuner.progress import SearchProgress
from tuner.tracking import open_experiment, recorded_run

__all__ = ["SearchConfig", "SearchResult", "run_search"]


def run_search(config: SearchConfig) -> SearchResult:
    """Run one search and return its result; raise TunerError for the user's mistakes."""
    config.validate()
    engine = make_engine(config)
    inputs = load_inputs(config)
    started = time.perf_counter()
    experiment = open_experiment(config.tracking_uri, search_name(config, inputs.space, inputs.dataset))
    search_run = engine.start(experiment, inputs)
    with recorded_run(search_run, run_id=search_run.search_run_id) as run:
        with SearchProgress(
            engine.unit, engine.total(), inputs.metric.name, config.show_progress
        ) as progress:
            ctx = build_context(config, search_run, progress, inputs)
            outcome = engine.run(ctx)
        result = finish(ctx, outcome, run)
    result.duration_s = time.perf_counter() - started
    return result
