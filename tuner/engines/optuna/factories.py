"""Optuna samplers and pruners by name: the names users may pass are this table's keys.

Optuna is imported only when a sampler or pruner is made, so the CLI can list the
names without loading it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tuner.errors import TunerError


def _tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True)


def _random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _cmaes(seed: int) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _qmc(seed: int) -> Any:
    import optuna

    return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)


def _gp(seed: int) -> Any:
    import optuna

    try:
        import torch  # noqa: F401 - GPSampler needs it
    except ImportError:
        raise TunerError("sampler 'gp' needs PyTorch: pip install torch (or pick tpe)") from None
    return optuna.samplers.GPSampler(seed=seed)


SAMPLERS: dict[str, Callable[[int], Any]] = {
    "tpe": _tpe,
    "random": _random,
    "cmaes": _cmaes,
    "gp": _gp,
    "qmc": _qmc,
}


def _first_rung(epochs: int) -> int:
    return max(1, epochs // 20)


def _hyperband(epochs: int) -> Any:
    import optuna

    return optuna.pruners.HyperbandPruner(min_resource=_first_rung(epochs), max_resource=epochs)


def _median(epochs: int) -> Any:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=_first_rung(epochs))


def _successive_halving(epochs: int) -> Any:
    import optuna

    return optuna.pruners.SuccessiveHalvingPruner(min_resource=_first_rung(epochs))


def _none(epochs: int) -> Any:
    import optuna

    return optuna.pruners.NopPruner()


PRUNERS: dict[str, Callable[[int], Any]] = {
    "hyperband": _hyperband,
    "median": _median,
    "successive-halving": _successive_halving,
    "none": _none,
}
