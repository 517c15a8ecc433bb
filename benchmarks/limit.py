"""The physical limit of a search: one plain fit of the returned model's network.

Why: a search can never take less than training its winner once. compare.py runs
this after each tuner run and prints the search's wall time divided by this fit's.
The fit is plain Keras (`build_model(**best_params)`, `model.fit`), in a warm
process (TensorFlow imported and the data prepared before the clock starts), on the
rows the returned model was refitted on (train + validation, preprocessed as tuner
does) for the epochs it was refitted for, at the space's batch size. Building,
compiling and the fit's own tracing are inside the clock: a plain fit pays them too.

    python benchmarks/limit.py --data digits --seed 42 --params '{"n_hidden": 2, ...}' --epochs 12

Prints one JSON object: {"fit_s": ..., "rows": ..., "epochs": ..., "batch_size": ...}.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from tuner.data.dataset import load_dataset  # noqa: E402
from tuner.networks.mlp import build_model  # noqa: E402
from tuner.trial.estimator import DEFAULT_BATCH_SIZE  # noqa: E402

MODEL_ARGS = set(inspect.signature(build_model).parameters)


def prepared(data: str, target: str | None, seed: int) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Train + validation rows as tuner's refit sees them: (X, y, task, outputs)."""
    ds = load_dataset(data, target, None, seed)
    preprocessor = ds.make_preprocessor()
    if preprocessor is None:
        transform = np.asarray
    else:
        preprocessor.fit(ds.X_train)
        transform = preprocessor.transform
    X = np.concatenate([transform(ds.X_train), transform(ds.X_valid)]).astype("float32")
    y = np.concatenate([np.asarray(ds.y_train), np.asarray(ds.y_valid)])
    if ds.task == "regression":
        return X, y.astype("float32"), ds.task, 1
    classes = np.unique(y)
    outputs = 1 if ds.task == "binary" else len(classes)
    return X, np.searchsorted(classes, y), ds.task, outputs


def plain_fit_seconds(
    X: np.ndarray, y: np.ndarray, task: str, outputs: int, params: dict, epochs: int
) -> float:
    """Seconds to build, compile and fit the network once: nothing but Keras."""
    model_args = {k: v for k, v in params.items() if k in MODEL_ARGS}
    batch_size = int(params.get("batch_size") or DEFAULT_BATCH_SIZE)
    started = time.perf_counter()
    model = build_model(**model_args, task=task, input_shape=X.shape[1:], n_outputs=outputs)
    model.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="Time one plain fit of a search's returned network.")
    parser.add_argument("--data", required=True)
    parser.add_argument("--target", default=None)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--params", required=True, help="the search's best_params, as JSON")
    parser.add_argument("--epochs", type=int, required=True, help="the refit's epochs")
    args = parser.parse_args()
    params = json.loads(args.params)
    X, y, task, outputs = prepared(args.data, args.target, args.seed)
    seconds = plain_fit_seconds(X, y, task, outputs, params, args.epochs)
    batch_size = int(params.get("batch_size") or DEFAULT_BATCH_SIZE)
    print(
        json.dumps(
            {"fit_s": round(seconds, 3), "rows": len(y), "epochs": args.epochs, "batch_size": batch_size}
        )
    )


if __name__ == "__main__":
    main()
