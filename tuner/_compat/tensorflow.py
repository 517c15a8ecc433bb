"""The two private TensorFlow APIs tuner relies on, kept together so they are easy to watch.

Both are checked by tests that fail when TensorFlow moves them
(``tests/_compat/test_tensorflow.py``). If a TensorFlow release moves them:

* :func:`forget_custom_gradients` finds no registry and does nothing: memory grows
  again with every trial in a process that runs many (benchmarks/memory.py);
* :func:`restore_op_determinism` cannot read the setting: a seeded fit leaves op
  determinism on, and a later unseeded fit in the same process fails with
  "Random ops require a seed".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def gradient_registry() -> dict | None:
    """TensorFlow's global registry of gradient functions, or None if it moved."""
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def forget_custom_gradients() -> Iterator[None]:
    """Unregister the custom gradients a fit adds, so its traced graphs can be freed.

    Keras' TensorFlow optimizer sums gradients through ``tf.custom_gradient``; every
    traced train step registers a ``CustomGradient-N`` entry in TensorFlow's global
    gradient registry that is never removed and holds the whole traced graph (about
    5 MB per small model; ``clear_session`` and ``gc`` do not free it). Those gradients
    are only looked up while the step is traced, inside the fit.
    """
    registry = gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        if registry is not None:
            for name in [n for n in registry if n not in before and n.startswith("CustomGradient-")]:
                del registry[name]


@contextlib.contextmanager
def restore_op_determinism() -> Iterator[None]:
    """Undo scikeras' seeding side effect on TensorFlow's op determinism.

    scikeras seeds a fit by setting ``TF_DETERMINISTIC_OPS``, which TensorFlow latches:
    op determinism stays on after the fit, and any later unseeded fit in the process
    fails with "Random ops require a seed". We put the previous setting back.
    """
    from tensorflow.python.framework import config

    was_enabled = config.is_op_determinism_enabled()
    try:
        yield
    finally:
        if not was_enabled:
            config.disable_op_determinism()
