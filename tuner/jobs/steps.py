"""A search in three steps: create, work, finish. Written once, used by every command.

``tuner search`` runs them in a row in one process tree (:func:`tuner.jobs.local.run_search`);
a cluster job runs them apart, as ``tuner study create``, any number of ``tuner worker``
and ``tuner study finish`` (:mod:`tuner.jobs.cluster`). Before them, :func:`prepare` refuses
every mistake it can before anything is written.

* **create**: the search's parent run in its experiment (an Optuna engine creates its
  study beside it, or joins a resumed one);
* **work**: the engine runs trials, in a pool of warm worker processes when it has one;
* **finish**: re-check the best few (when the engine's scores need it), refit the
  winner on train + validation rows, score it once on the test split, log the model,
  and record the result on the parent run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator

from tuner.config import SearchConfig
from tuner.engines import make_engine, start_workers_early
from tuner.engines.base import Engine
from tuner.errors import TunerError, first_line
from tuner.networks.contract import check_in_child
from tuner.processes.pool import WorkerPool
from tuner.search.context import Inputs, SearchContext, load_inputs, search_name
from tuner.search.finish import candidates, choose, summarize
from tuner.search.outcomes import EngineResult, SearchResult
from tuner.search.parent_run import children_of, open_search_run, write_search_views
from tuner.search.timing import PhaseClock
from tuner.tracking.reachability import check_reachable, check_registry
from tuner.tracking.runs import Run, RunTarget, open_experiment
from tuner.tracking.store import resolve_tracking_uri


def prepare(config: SearchConfig) -> tuple[Engine, Inputs]:
    """The engine and the checked inputs; every mistake refused before anything is written.

    The settings first (no I/O), then the engine's storage, then the data, then what
    needs both (a resumed study's settings, fold counts), then the tracking store.
    """
    config.validate()
    engine = make_engine(config)
    start_workers_early(config.engine)  # the workers' TensorFlow import overlaps the checks and the data
    inputs = engine.check(lambda: load_inputs(config))
    check_inputs(config, engine, inputs)
    return engine, inputs


def check_inputs(config: SearchConfig, engine: Engine, inputs: Inputs) -> None:
    """What every engine's search needs of its data, its network and its tracking store."""
    check_network_fits(inputs)
    if engine.rechecks and config.recheck > 1:
        inputs.dataset.check_folds(config.recheck_folds, "--recheck-folds", with_valid=True)
    check_reachable(resolve_tracking_uri(config.tracking_uri))  # in seconds, not after retries
    if config.register:
        check_registry(resolve_tracking_uri(config.tracking_uri))
    if config.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise TunerError(
            "--tensorboard needs the tensorboard package: pip install 'tuner-hpo[tensorboard]' "
            "(or pip install tensorboard)"
        )


def check_network_fits(inputs: Inputs) -> None:
    """A network other than the MLP (whose space is checked by name) is built once with the space's
    first values, on the CPU, in a process of its own: its signature, output and layers checked."""
    space, ds, _, network = inputs
    if network.spec == "mlp":
        return
    preprocessor = ds.make_preprocessor()
    shape = (
        ds.sample_shape
        if preprocessor is None
        else preprocessor.fit(ds.X_train).transform(ds.X_train[:1]).shape[1:]
    )
    data = {"task": ds.task, "input_shape": tuple(int(d) for d in shape), "n_outputs": ds.n_outputs}
    names = [*space.params, *space.fixed]
    conditional = tuple(n for n, p in space.params.items() if p.when)
    check_in_child(network, space.first_values(), names, str(space.path), data, conditional)


@contextlib.contextmanager
def worker_pool(engine: Engine) -> Iterator[WorkerPool | None]:
    """The warm worker processes the engine runs in, if any; they start importing TensorFlow at once.

    Left by an error, Ctrl-C or SIGTERM, the pool's running trials record why first.
    """
    if not engine.pool_size:
        yield None
        return
    # The trial unit's module: TensorFlow, Keras and scikeras, imported before the first trial.
    with WorkerPool(engine.pool_size, imports=("tuner.trial.estimator",)) as pool:
        yield pool


def create(config: SearchConfig, engine: Engine, inputs: Inputs) -> RunTarget:
    """The search's parent run (new, or a resumed study's), as the target its trials log under."""
    experiment = open_experiment(config.tracking_uri, search_name(config, inputs.space, inputs.dataset))
    joined = engine.join(experiment, inputs)
    if joined is not None:
        write_search_views(experiment, joined, config, inputs)  # the resumed search is the latest now
        return children_of(experiment, joined)
    search_run = open_search_run(config, inputs, experiment, engine.settings(), engine.run_name(experiment))
    engine.record(search_run, inputs)
    return search_run


def work(engine: Engine, ctx: SearchContext, pool: WorkerPool | None) -> int:
    """Run trials until the budget is spent; return how many this process's workers started."""
    return engine.run(ctx, pool)


def publish_pictures(ctx: SearchContext, outcome: EngineResult, search_run: Run) -> None:
    """The trials table and (unless ``--no-plots``) the pictures on the parent run; never fatal."""
    from tuner.views.plots import publish_search_artifacts

    try:
        publish_search_artifacts(
            search_run.tracking_uri,
            search_run.run_id,
            outcome.trials,
            direction=ctx.metric.direction,
            metric=ctx.metric.name,
            engine=ctx.config.engine,
            plots=ctx.config.plots,
        )
    except Exception as exc:  # noqa: BLE001 - a search that found its model is not failed by its pictures
        print(f"warning: the search's pictures were not logged: {first_line(exc)}", file=sys.stderr)


def finish(
    ctx: SearchContext, engine: Engine, pool: WorkerPool | None, search_run: Run, clock: PhaseClock
) -> SearchResult:
    """Re-check, refit, test and log the returned model; record the result on ``search_run``.

    The fits run where the engine says (:meth:`Engine.fits`); a candidate's mean over
    ``--recheck-folds`` folds of train + validation rows picks the winner.
    """
    outcome = engine.outcome(ctx)
    with clock.phase("finish"):
        # Drawn while the fits train: they need the trials only, and the pool's workers do the fits.
        pictures = threading.Thread(target=publish_pictures, args=(ctx, outcome, search_run), daemon=True)
        pictures.start()
        fits = engine.fits(ctx, pool)
        checked = candidates(outcome, ctx.metric, ctx.config.recheck if engine.rechecks else 1)
        if len(checked) > 1:
            folds = range(ctx.config.recheck_folds)
            results = iter(fits.recheck([(c, k) for c in checked for k in folds]))
            for candidate in checked:
                for _ in folds:
                    score, loss = next(results)
                    candidate.scores.append(score)
                    candidate.losses.append(loss)
        final = fits.refit(choose(ctx.metric, checked), checked)
        with clock.phase("plots"):  # what the pictures add: the wait for them once the fits are done
            pictures.join()
    phases = clock.phases(outcome.trials, final.seconds)
    return summarize(ctx, outcome, final, search_run, phases, engine.workers)
