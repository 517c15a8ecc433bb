"""What several training steps per call into the graph cost and save, for tuner.trial.network.SHORT_FIT_STEPS.

Keras' ``steps_per_execution`` above 1 wraps the train step in a loop inside the traced
function. The loop makes each step cheaper (one call from Python per epoch, not per
batch) but makes every new model's trace longer. A search trains many new models,
most of them briefly on small tables, so the trade decides where the time goes.

    python benchmarks/steps_per_call.py            # about a minute on this machine

Prints, for one step per call and for one epoch per call, side by side in one process
(alternating, 3 rounds; one TensorFlow thread, as a search's worker has on 2 cores):
the first epoch's excess over a later one (the trace) and the time per step of later
epochs; then the number of steps in a fit above which a loop pays for its trace.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TUNER_TF_THREADS", "1")  # tuner.processes.gpus.THREADS_ENV: a 2-core worker's share

import numpy as np  # noqa: E402

from tuner.processes.tensorflow_env import tf  # noqa: E402  (one thread: set before TensorFlow starts)

STEPS = 300  # one epoch
ROUNDS = 3


def measure(steps_per_execution: int, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(trace seconds, seconds per step) of a new 2 x 30 Adam MLP."""
    from tuner.networks.mlp import build_model
    from tuner.trial.batch_stream import training_data

    model = build_model(
        2, 30, 1e-3, "adam", task="multiclass", input_shape=X.shape[1:], n_outputs=10,
        steps_per_execution=steps_per_execution,
    )  # fmt: skip
    data = training_data(X, y, None, 32)
    started = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0)
    first = time.perf_counter() - started
    started = time.perf_counter()
    model.fit(data, epochs=3, steps_per_epoch=STEPS, verbose=0)
    per_step = (time.perf_counter() - started) / (3 * STEPS)
    return first - STEPS * per_step, per_step


def main() -> None:
    print(f"TensorFlow threads: {tf.config.threading.get_intra_op_parallelism_threads()}")
    rng = np.random.default_rng(0)
    X = rng.random((STEPS * 32, 64), dtype=np.float32)
    y = rng.integers(0, 10, len(X))
    results: dict[int, list[tuple[float, float]]] = {1: [], STEPS: []}
    for _ in range(ROUNDS):
        for spe in results:
            results[spe].append(measure(spe, X, y))
    trace = {spe: statistics.median(r[0] for r in runs) for spe, runs in results.items()}
    step = {spe: statistics.median(r[1] for r in runs) for spe, runs in results.items()}
    for spe in results:
        print(f"steps per call {spe:>4}: trace {trace[spe]:.3f} s, {1000 * step[spe]:.3f} ms per step")
    extra_trace, saved = trace[STEPS] - trace[1], step[1] - step[STEPS]
    print(
        f"a loop traces {extra_trace:.3f} s longer and saves {1000 * saved:.3f} ms a step: "
        f"it pays from about {extra_trace / saved:.0f} steps in a fit"
    )


if __name__ == "__main__":
    main()
