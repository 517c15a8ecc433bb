"""The contract between tuner and a build function, checked before anything is written.

A build function takes the sampled hyperparameters by name, and any of ``task``,
``input_shape`` and ``n_outputs`` it asks for; it returns an uncompiled Keras model with
one input and an output of the task's shape (:func:`tuner.networks.compiling.output_layer`
makes that layer). :func:`check_signature` compares a space with the function's
parameters; :func:`check_network` builds the model once, on the CPU, with the space's
first values, in a process of its own (:func:`check_in_child`), so that the search's
own process never starts CUDA nor runs the user's code.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tuner.choices import COMPILE_PARAMS, DATA_ARGS, FIT_PARAMS
from tuner.errors import TunerError
from tuner.networks.reference import ModelRef

TUNERS_OWN = (*COMPILE_PARAMS, *FIT_PARAMS)
CLASS_NAMES = {"multiclass": "class", "multilabel": "label", "regression": "target"}  # what one unit is


def _as_python(value: Any) -> Any:
    """NumPy scalars as Python's (samplers draw NumPy's; Keras refuses ``np.int64`` layer sizes)."""
    return value.item() if hasattr(value, "item") and getattr(value, "shape", None) == () else value


def call_arguments(
    function: Callable[..., Any], params: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments ``function`` gets: its hyperparameters, and the data's facts it asks for."""
    accepted = inspect.signature(function).parameters
    any_name = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    out = {k: _as_python(v) for k, v in params.items() if k in accepted or (any_name and k not in TUNERS_OWN)}
    out.update({k: v for k, v in data.items() if k in accepted})
    return out


def check_signature(
    ref: ModelRef,
    function: Callable[..., Any],
    names: Iterable[str],
    space_path: str,
    conditional: Iterable[str] = (),
) -> None:
    """Refuse a space that does not fit the function: a required parameter it leaves out (or
    samples only under a condition, so that some trials lack it), or a name it does not take."""
    parameters = inspect.signature(function).parameters
    names = set(names)
    positional = [n for n, p in parameters.items() if p.kind is p.POSITIONAL_ONLY]
    if positional:
        raise TunerError(
            f"{ref.spec}: parameter(s) {', '.join(positional)} are positional-only; tuner passes names"
        )
    takes = {n for n, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    required = sorted(
        n
        for n, p in parameters.items()
        if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n not in DATA_ARGS
    )
    missing = [n for n in required if n not in names]
    if missing:
        raise TunerError(
            f"{ref.spec} requires {', '.join(missing)}, which {space_path} neither samples nor fixes: "
            f"add params.{missing[0]} to the space, or give the function a default"
        )
    sometimes = [n for n in required if n in set(conditional)]
    if sometimes:
        raise TunerError(
            f"{space_path}: params.{sometimes[0]} is sampled only under its when: condition, so some trials "
            f"lack it, and {ref.spec} requires it: give {sometimes[0]} a default in the function"
        )
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(n for n in names if n not in takes and n not in TUNERS_OWN)
    if unknown:
        raise TunerError(
            f"{space_path}: params.{unknown[0]}: {ref.spec} takes no parameter {unknown[0]!r} "
            f"(it takes: {', '.join(sorted(takes - set(DATA_ARGS))) or 'none'}); remove it from the space "
            f"or add it to the function"
        )


def build_uncompiled(ref: ModelRef, params: dict[str, Any], data: dict[str, Any]) -> Any:
    """Call the build function and check what it returned is one Keras model with the task's output."""
    from tuner.processes.tensorflow_env import keras

    function = ref.load()
    arguments = call_arguments(function, params, data)
    try:
        model = function(**arguments)
    except TunerError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: its message, with what it was given
        shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
        raise TunerError(f"{ref.spec} raised {type(exc).__name__}: {exc} (called with {shown})") from None
    if not isinstance(model, keras.Model):
        raise TunerError(
            f"{ref.spec} returned a {type(model).__name__}, not a Keras model: return keras.Model(inputs, outputs) "
            f"or a keras.Sequential"
        )
    check_output(ref, model, data["task"], data["n_outputs"])
    return model


def check_output(ref: ModelRef, model: Any, task: str, n_outputs: int) -> None:
    """One input, and one output of shape ``(None, units)`` for the task."""
    from tuner.networks.compiling import output_activation, output_units

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TunerError(
            f"{ref.spec} returned a model with {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            f"tuner trains models with one input array and one output"
        )
    units, shape = output_units(task, n_outputs), tuple(model.outputs[0].shape)
    if shape[1:] != (units,):
        what = "one unit" if task == "binary" else f"{units} units, one per {CLASS_NAMES[task]}"
        raise TunerError(
            f"{ref.spec} returned outputs of shape {shape}; a {task} task needs (None, {units}), {what}: "
            f"end with tuner.output_layer(task, n_outputs), a Dense({units}, activation="
            f"{output_activation(task)!r})"
        )


def check_layers(ref: ModelRef, model: Any) -> None:
    """Layers tuner can save and load without pickle: Keras' own, or classes registered with Keras."""
    from tuner.processes.tensorflow_env import keras

    for layer in _all_layers(model):
        cls = type(layer)
        if isinstance(layer, keras.layers.Lambda):
            raise TunerError(
                f"{ref.spec}: layer {layer.name!r} is a Lambda layer, whose code Keras refuses to load "
                f"safely (safe_mode): write it as a layer class decorated with "
                f"@keras.saving.register_keras_serializable()"
            )
        if cls.__module__.split(".")[0] in ("keras", "tensorflow"):
            continue
        if keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is not cls:
            raise TunerError(
                f"{ref.spec}: layer class {cls.__name__} is not registered with Keras, so the returned model "
                f"could not be loaded: decorate it with @keras.saving.register_keras_serializable()"
            )


def _all_layers(model: Any) -> list[Any]:
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers") and layer is not model:
            found.extend(_all_layers(layer))
    return found


def custom_layers(model: Any) -> list[str]:
    """The classes of ``model``'s layers that are not Keras' own (their file must travel with the model)."""
    return sorted(
        {type(x).__name__ for x in _all_layers(model) if type(x).__module__.split(".")[0] != "keras"}
    )


def check_network(
    ref: ModelRef,
    params: dict[str, Any],
    names: list[str],
    space_path: str,
    data: dict[str, Any],
    conditional: tuple[str, ...] = (),
) -> None:
    """The whole check of a space against its network: signature, one build, its layers, its outputs on 16 rows."""
    import numpy as np

    check_signature(ref, ref.load(), names, space_path, conditional)
    model = build_uncompiled(ref, params, data)
    check_layers(ref, model)
    # Spread-out rows: a linear output (no sigmoid) then leaves [0, 1] on some of them.
    rows = np.random.default_rng(0).normal(0, 3, (16, *data["input_shape"])).astype("float32")
    try:
        out = np.asarray(model(rows, training=False))
    except Exception as exc:  # noqa: BLE001 - the user's network, on its own input shape
        raise TunerError(
            f"{ref.spec}: the built model fails on inputs of shape {rows.shape[1:]}: {exc}"
        ) from None
    _check_probabilities(ref, out, data["task"])


def _check_probabilities(ref: ModelRef, out: Any, task: str) -> None:
    import numpy as np

    if task == "regression":
        return
    in_unit = bool(np.all((out >= 0) & (out <= 1)))
    sums_to_one = bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-3))
    if not in_unit or (task == "multiclass" and not sums_to_one):
        activation = "softmax" if task == "multiclass" else "sigmoid"
        raise TunerError(
            f"{ref.spec}: the outputs are not probabilities, as a {task} task's loss needs: end with "
            f"activation={activation!r} (tuner.output_layer(task, n_outputs) does)"
        )


def _checker_init(cwd: str, env: dict[str, str]) -> None:
    """The check's process: the caller's folder and environment, and no GPU (CPU is enough for one build)."""
    os.environ.clear()
    os.environ.update({**env, "CUDA_VISIBLE_DEVICES": ""})
    os.chdir(cwd)


def _check_and_report(*args: Any) -> str | None:
    try:
        check_network(*args)
    except TunerError as exc:
        return str(exc)
    return None


def check_in_child(
    ref: ModelRef,
    params: dict[str, Any],
    names: list[str],
    space_path: str,
    data: dict[str, Any],
    conditional: tuple[str, ...] = (),
) -> None:
    """:func:`check_network` in a process of its own, started as the workers are; its error raised here."""
    from tuner.processes.fork_server import worker_context

    with ProcessPoolExecutor(
        1, worker_context(), initializer=_checker_init, initargs=(os.getcwd(), dict(os.environ))
    ) as pool:
        problem = pool.submit(_check_and_report, ref, params, names, space_path, data, conditional).result()
    if problem:
        raise TunerError(problem)
