"""The Optuna engine with a real study: pruned trials are recorded as pruned."""

from __future__ import annotations

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tuner.config import SearchConfig
from tuner.engines.optuna.storage import get_storage
from tuner.engines.optuna.study import collect
from tuner.engines.optuna.worker import optimize
from tuner.errors import TunerError
from tuner.search.context import build_context, load_inputs
from tuner.search.progress import SearchProgress
from tuner.tracking.runs import RunTarget
from tuner.tracking.store import get_or_create_experiment

pytestmark = pytest.mark.slow  # real searches, processes and servers: CI runs them all


class PruneOddTrials(optuna.pruners.BasePruner):
    """A real pruner with a predictable verdict: every odd-numbered trial stops at its first report."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number % 2 == 1


def _context(tracking_uri: str, trials: int):
    config = SearchConfig(space="mlp_quick", data="digits", trials=trials, epochs=4, patience=2)
    experiment = get_or_create_experiment(tracking_uri, "engine")
    parent = MlflowClient(tracking_uri).create_run(experiment).info.run_id
    search_run = RunTarget(tracking_uri, experiment, parent, "", "search", parent)
    progress = SearchProgress("trials", trials, "accuracy", enabled=False)
    return build_context(config, search_run, progress, load_inputs(config))


def test_pruned_trials_are_recorded_as_pruned_in_optuna_and_mlflow(tracking_uri, tmp_path):
    ctx = _context(tracking_uri, trials=4)
    storage = get_storage(str(tmp_path / "study.journal"))
    study = optuna.create_study(storage=storage, direction="maximize", pruner=PruneOddTrials())
    optimize(ctx, study, ctx.config.trials, None)  # in this process; a worker runs the same
    result = collect(study)
    assert [t.state for t in result.trials] == ["complete", "pruned", "complete", "pruned"]
    assert result.best.state == "complete"
    client = MlflowClient(tracking_uri)
    for record in result.trials:
        run = client.get_run(record.run_id)
        assert run.data.tags["tuner.state"] == record.state
        assert run.info.status == {"complete": "FINISHED", "pruned": "KILLED"}[record.state]
        if record.state == "pruned":
            assert run.data.tags["tuner.reason"].startswith("pruned at epoch 1")
            assert run.data.metrics["epochs_run"] == 1


def test_a_study_where_nothing_completes_says_so(tracking_uri, tmp_path):
    ctx = _context(tracking_uri, trials=2)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01))
    with pytest.raises(TunerError, match=r"no trial of study .* completed \(2 ended\)"):
        optimize(ctx, study, ctx.config.trials, None)
        collect(study)
