"""A trial's network: the search's build function called with the trial's values, then compiled by tuner.

Every network trains alike (:mod:`tuner.networks.compiling`): the space's optimizer and
learning rate, the task's loss and metrics, the fast steps below.
"""

from __future__ import annotations

from typing import Any

from tuner.choices import COMPILE_PARAMS
from tuner.networks.compiling import DEFAULTS, compile_model
from tuner.networks.contract import build_uncompiled
from tuner.networks.reference import ModelRef
from tuner.processes.tensorflow_env import keras

# Below this many planned training steps (epochs x steps per epoch), Keras runs one step per
# call into the graph. Several steps per call trace a loop around the step (more tracing per
# new model) and save time on every step: benchmarks/steps_per_call.py measures both, and the
# loop pays from a few hundred steps; early stopping and pruning end many fits before their plan.
SHORT_FIT_STEPS = 300


def steps_per_call(steps_per_epoch: int, epochs: int) -> int:
    """Training steps per call into the compiled graph: one epoch's, unless the whole fit is short."""
    return 1 if steps_per_epoch * epochs < SHORT_FIT_STEPS else steps_per_epoch


def build_network(
    network: ModelRef,
    params: dict[str, Any],
    *,
    task: str,
    input_shape: tuple[int, ...],
    n_outputs: int,
    steps_per_execution: int = 1,
) -> keras.Model:
    """The network ``network`` names, built with the trial's ``params`` and compiled for ``task``."""
    data = {"task": task, "input_shape": input_shape, "n_outputs": n_outputs}
    model = build_uncompiled(network, params, data)
    compiled = {k: params.get(k, DEFAULTS[k]) for k in COMPILE_PARAMS}
    return compile_model(model, task, steps_per_execution=steps_per_execution, **compiled)
