"""One search, end to end: inputs -> search run -> engine -> finish -> result.

This is the Python API behind ``tuner search``::

    from tuner.search import SearchConfig, run_search
    result = run_search(SearchConfig(space="search_spaces/mlp_classification.yaml", data="digits"))
    result.best_params, result.best_value, result.test_score, result.model_uri
"""

from __future__ import annotations

from tuner.config import SearchConfig
from tuner.context import build_context, load_inputs, search_name
from tuner.engines import make_engine
from tuner.finish import SearchResult, summarize
from tuner.progress import SearchProgress
from tuner.timing import PhaseClock
from tuner.tracking import check_reachable, open_experiment, recorded_run, resolve_tracking_uri

__all__ = ["SearchConfig", "SearchResult", "run_search"]


def run_search(config: SearchConfig) -> SearchResult:
    """Run one search and return its result; raise TunerError for the user's mistakes."""
    config.validate()
    clock = PhaseClock()
    with clock.phase("data"):
        inputs = load_inputs(config)  # first: most mistakes show here, before any worker starts
        check_reachable(resolve_tracking_uri(config.tracking_uri))  # in seconds, not after retries
    engine = make_engine(config)
    engine.check(inputs)  # a bad storage or study name: refused before anything is written
    with engine:  # worker processes start here, while the rest sets up
        experiment = open_experiment(config.tracking_uri, search_name(config, inputs.space, inputs.dataset))
        search_run = engine.start(experiment, inputs)
        with recorded_run(search_run, run_id=search_run.search_run_id) as run:
            with SearchProgress(
                engine.unit, engine.total(), inputs.metric.name, config.show_progress
            ) as progress:
                ctx = build_context(config, search_run, progress, inputs)
                clock.mark("startup")
                with clock.phase("trials"):
                    outcome = engine.run(ctx)
                with clock.phase("finish"):
                    final = engine.finish(ctx, outcome)
            phases = clock.phases(outcome.trials, final.seconds)
            return summarize(ctx, outcome, final, run, phases, engine.workers)
