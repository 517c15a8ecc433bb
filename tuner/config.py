"""The settings of a search, in one place.

Each field of :class:`SearchConfig` carries its default, its help text, its allowed
values and its bounds. The CLI's ``tuner search`` options are derived from these
fields (:func:`tuner.cli.options.config_options`), the Python API takes the dataclass, and
workers read it back from the study; :meth:`SearchConfig.validate` checks them all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tuner.choices import ENGINES, PRUNERS, SAMPLERS, TASKS
from tuner.errors import TunerError


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    positive: bool = False,
    envvar: str | None = None,
    cli: bool = True,
    launch: bool = False,
    resumable: bool = False,
) -> Any:
    """A field with what the CLI and :meth:`SearchConfig.validate` need to know of it.

    ``launch``: the setting belongs to one launch, not to the study (where it runs, for
    how long, where it logs): it may differ between ``tuner study create`` runs, workers
    and resumes. ``resumable``: a resume may change it too (the budget, the finish), or it
    is compared another way (the space by its text, the data by its fingerprint).
    """
    meta = {"help": help, "choices": choices, "minimum": minimum, "positive": positive, "envvar": envvar}
    meta.update(cli=cli, launch=launch, resumable=resumable or launch)
    return field(default=default, metadata=meta)


def launch_settings() -> tuple[str, ...]:
    """Settings of one launch: they may differ when ``tuner study create`` runs again."""
    return tuple(f.name for f in fields(SearchConfig) if f.metadata["launch"])


def resumable_settings() -> tuple[str, ...]:
    """Settings a resumed search may change: they do not change what a trial is."""
    return tuple(f.name for f in fields(SearchConfig) if f.metadata["resumable"])


@dataclass
class SearchConfig:
    """Everything a search needs; ``tuner search`` has one option per field."""

    space: str = setting(
        "mlp", "Search-space YAML file, or the name of a shipped one (see `tuner spaces`).", resumable=True
    )
    model: Any = setting(
        None,
        "The network: mlp, wide_deep, cnn, or your own build function as path/to/file.py:function "
        "or package.module:function. Default: the space's model: (else mlp). The Python API also "
        "takes the function itself.",
    )
    model_root: str | None = setting(
        None,
        "Folder that relative model paths (and package.module names) are found in. Default: "
        "$TUNER_MODEL_ROOT, else the working folder.",
        envvar="TUNER_MODEL_ROOT",
        launch=True,
    )
    data: str = setting(
        "digits",
        "Bundled dataset (digits, digits-images, breast_cancer, wine, iris, diabetes), online one "
        "(mnist, fashion_mnist, california_housing) or a .csv/.parquet/.npz file.",
        resumable=True,
    )
    target: str | None = setting(
        None, "Target column(s) of a CSV/Parquet file (comma-separated for multilabel)."
    )
    task: str | None = setting(None, "Override the task inferred from the target.", choices=TASKS)
    metric: str | None = setting(None, "accuracy (classification), mse or mae (regression). Default by task.")
    engine: str = setting("optuna", "Search engine.", choices=ENGINES, launch=True)
    trials: int | None = setting(
        15, "Trials to run (optuna) or candidates to sample (random).", minimum=1, resumable=True
    )
    timeout: float | None = setting(
        None, "Stop starting trials after this many seconds (optuna).", positive=True, launch=True
    )
    cv: int = setting(3, "Cross-validation folds (random).", minimum=2)
    n_jobs: int = setting(
        0,
        "Trials (optuna) or fits (random) in parallel; 0 = one per CPU core. "
        "--n-jobs 1 repeats a search exactly (see --seed).",
        minimum=0,
        launch=True,
    )
    sampler: str = setting("tpe", "Optuna sampler.", choices=SAMPLERS)
    pruner: str = setting("hyperband", "Optuna pruner.", choices=PRUNERS)
    storage: str | None = setting(
        None,
        "Optuna storage: an RDB URL (sqlite:///x.db, postgresql://...) or a .journal file. "
        "Default: $TUNER_STORAGE, else the study's own mlruns/optuna/<study>.journal. Keep a password out of the "
        "command line: put the URL in $TUNER_STORAGE.",
        envvar="TUNER_STORAGE",
        launch=True,
    )
    study: str | None = setting(None, "Optuna study name. Default: <name>-<timestamp>.", launch=True)
    heartbeat_interval: int = setting(
        60,
        "RDB storages: seconds between a running trial's heartbeats (recorded in the study; "
        "workers use the study's).",
        minimum=1,
    )
    grace_period: int = setting(
        180,
        "RDB storages: a running trial with no heartbeat for this many seconds is failed "
        "and retried with the same parameters (its worker died or was cut off).",
        minimum=1,
    )
    max_failures: int = setting(
        5,
        "Stop the search when this many trials in a row fail (a space that cannot train), "
        "quoting the first error; 0 = never stop for failures.",
        minimum=0,
        resumable=True,
    )
    resume: bool = setting(False, "Add trials to the existing --study instead of starting one.", launch=True)
    name: str | None = setting(None, "Search name = MLflow experiment. Default: <space>-<data>.")
    epochs: int = setting(30, "Maximum epochs per trial.", minimum=1)
    patience: int = setting(5, "EarlyStopping patience on the validation loss, in epochs.", minimum=1)
    recheck: int = setting(
        3,
        "Before the refit, re-check this many of the best trials by cross-validation on "
        "train + validation rows, and keep the best mean (1 = trust the validation split).",
        minimum=1,
        resumable=True,
    )
    recheck_folds: int = setting(2, "Folds of that re-check.", minimum=2, resumable=True)
    test_size: float = setting(
        0.2,
        "Share of the rows held out to score the returned model once; 0 gives every row to "
        "the search (when you keep your own test set).",
        minimum=0.0,
    )
    seed: int = setting(
        42,
        "Seeds the split, the sampler and every model (with --study NAME, a search repeats exactly).",
    )
    tracking_uri: str | None = setting(
        None,
        "MLflow tracking URI. Default: $MLFLOW_TRACKING_URI, else the local store in ./mlruns.",
        envvar="MLFLOW_TRACKING_URI",
        launch=True,
    )
    plots: bool = setting(
        True,
        "Draw the search's pictures (history, importances, parallel coordinates, curves) "
        "onto its MLflow parent run under plots/.",
        launch=True,
    )
    register: str | None = setting(
        None,
        "Register the returned model under this name in MLflow's model registry; it becomes "
        "`champion` when it beats the current one on this search's test rows.",
        launch=True,
    )
    tensorboard: str | None = setting(
        None, "Also write each trial's TensorBoard logs under DIR/<search>/<trial>.", launch=True
    )
    show_progress: bool = setting(True, "Draw live progress.", cli=False, launch=True)

    def validate(self) -> None:
        """Raise TunerError naming the first setting that is out of bounds.

        The fields alone, as scikit-learn's parameter constraints are: no file is read
        and no server asked. What needs the data or a server is the engine's check
        (:meth:`tuner.engines.base.Engine.check`).
        """
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            flag = "--" + f.name.replace("_", "-")
            if value is None:
                continue
            if meta["choices"] and value not in meta["choices"]:
                raise TunerError(f"unknown {f.name} {value!r}; choose one of: {', '.join(meta['choices'])}")
            if isinstance(value, float) and not math.isfinite(value):  # click reads "nan" and "inf"
                raise TunerError(f"{flag} must be a finite number, got {value}")
            if meta["minimum"] is not None and value < meta["minimum"]:
                raise TunerError(f"{flag} must be at least {meta['minimum']}, got {value}")
            if meta["positive"] and value <= 0:
                raise TunerError(f"{flag} must be positive, got {value}")
        if self.test_size >= 0.5:
            raise TunerError(f"--test-size must be below 0.5, got {self.test_size}")
        if not 0 <= self.seed < 2**32:  # NumPy's and scikit-learn's seeds are 32-bit unsigned
            raise TunerError(f"--seed must be between 0 and {2**32 - 1}, got {self.seed}")
        if self.trials is None and self.timeout is None:
            raise TunerError("give --trials, --timeout or both")
        if self.grace_period <= self.heartbeat_interval:
            raise TunerError(
                f"--grace-period ({self.grace_period} s) must be longer than --heartbeat-interval "
                f"({self.heartbeat_interval} s), or live trials would be failed as stale"
            )
        if self.resume and self.study is None:
            raise TunerError("--resume needs --study NAME, the study to continue")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values; a function given as ``model`` by its name (its reference
        is recorded with the study and the parent run)."""
        out = asdict(self)
        if callable(self.model):
            out["model"] = f"{self.model.__module__}:{getattr(self.model, '__qualname__', self.model)}"
        return out
