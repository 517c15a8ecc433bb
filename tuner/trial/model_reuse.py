"""A traced model reused by the next fit of the same network: a candidate's re-check folds and its refit.

A new Keras model traces its train step in its first epoch, which can take longer than
a re-check fold trains on a small table (benchmarks/model_reuse.py). The folds and
the refit of one candidate build the same network with the same settings, so a worker
keeps the last few such models and hands a fit of the same network one of them, its
weights, optimizer state and seed generators set to a freshly built model's. The fit
is then the fresh model's to the last bit (``tests/trial/test_model_reuse.py``), without the
trace. Trials do not reuse: each tries other settings.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

from tuner.processes.tensorflow_env import keras

Reuse = Literal["no", "keep", "take"]
KEEP = 4  # models kept per process: the re-check's candidates (3 by default) and one more

_kept: OrderedDict[str, keras.Model] = OrderedDict()


def reused_or_built(build: Callable[[], keras.Model], key: str, reuse: Reuse) -> keras.Model:
    """A model as ``build()`` makes it, reusing a kept one of the same ``key`` (its build settings).

    ``keep``: keep the model for the next fit of the same network (a re-check fold);
    ``take``: reuse one but keep none, so the model is its fit's alone (the refit, whose
    model is saved); ``no``: just ``build()``.
    """
    fresh = build()  # its initial values, drawn as a new model's are; building traces nothing
    if reuse == "no":
        return fresh
    model = _kept.pop(key, None)
    if model is None:
        model = fresh
    else:
        _assign(model.variables, fresh.variables)  # weights and dropout's seed generators
        _assign(model.optimizer.variables, fresh.optimizer.variables)  # step count and slots
    if reuse == "keep":
        _kept[key] = model
        while len(_kept) > KEEP:
            _kept.popitem(last=False)
    return model


def _assign(targets: list, sources: list) -> None:
    for target, source in zip(targets, sources, strict=True):  # same build settings, same variables
        target.assign(source)


def forget() -> None:
    """Drop every kept model (a test starts clean)."""
    _kept.clear()
