"""What reusing a candidate's traced model saves in the finish (tuner.trial.model_reuse).

The finish re-checks 3 candidates on 2 folds each and refits the winner: 7 fits of 3
networks. With reuse, a worker hands a candidate's second fold and its refit the model
its first fold traced. Here the same 7 fits run in one process as one worker runs them
(a candidate's folds one after the other, the refit of the first candidate last), with
reuse and without, alternating over rounds; the scores must be equal to the last bit.

    python benchmarks/model_reuse.py             # about 2 minutes on this machine
    python benchmarks/model_reuse.py --datasets wine --rounds 5

Prints, per dataset: median seconds of the 7 fits without and with reuse, and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TUNER_TF_THREADS", "1")  # tuner.processes.gpus.THREADS_ENV: a 2-core worker's share

import numpy as np  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from tuner.trial import model_reuse  # noqa: E402
from tuner.trial.estimator import make_estimator  # noqa: E402

LOADERS = {
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}
# Three candidates as the classification space draws them (search_spaces/mlp_classification.yaml)
CANDIDATES = [
    dict(n_hidden=2, n_neurons=64, learning_rate=3e-3, optimizer="adam", activation="relu", dropout=0.1),
    dict(n_hidden=1, n_neurons=181, learning_rate=1e-2, optimizer="nadam", activation="elu", dropout=0.0),
    dict(n_hidden=3, n_neurons=23, learning_rate=5e-3, optimizer="rmsprop", activation="tanh", dropout=0.2),
]
EPOCHS = [30, 20, 25]


def fits(X: np.ndarray, y: np.ndarray, task: str, reuse: bool) -> tuple[float, list[float]]:
    """Seconds of a finish's 7 fits in one worker, and their scores (the refit's on the training rows)."""
    model_reuse.forget()
    folds = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    scores, started = [], time.perf_counter()
    for number, (params, epochs) in enumerate(zip(CANDIDATES, EPOCHS, strict=True)):
        for fold, (train, held_out) in enumerate(folds):
            estimator = make_estimator(
                task, epochs=epochs, patience=None, epoch_validation=False, reuse="keep" if reuse else "no",
                random_state=1000 * fold + number, **{f"model__{k}": v for k, v in params.items()},
            )  # fmt: skip
            estimator.fit(X[train], y[train], validation_data=(X[held_out], y[held_out]))
            scores.append(estimator.val_score_)
    refit = make_estimator(
        task, epochs=EPOCHS[0], patience=None, validation_fraction=0.0, reuse="take" if reuse else "no",
        random_state=0, **{f"model__{k}": v for k, v in CANDIDATES[0].items()},
    )  # fmt: skip
    refit.fit(X, y)
    scores.append(float(np.mean(refit.predict(X) == y)))
    return time.perf_counter() - started, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(LOADERS))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'dataset':<14} {'rows':>5} {'no reuse s':>10} {'reuse s':>8} {'ratio':>6}  scores equal")
    for name in args.datasets.split(","):
        X, y = LOADERS[name](return_X_y=True)
        X = StandardScaler().fit_transform(X).astype("float32")
        task = "binary" if len(np.unique(y)) == 2 else "multiclass"
        fits(X, y, task, reuse=False)  # warm: the first fits in a process pay one-time costs
        gc.collect()
        gc.freeze()  # as a pool worker does once it has joined (tuner.engines.optuna.worker.settle)
        seconds: dict[bool, list[float]] = {False: [], True: []}
        equal = True
        for round_ in range(args.rounds):
            arms = (False, True) if round_ % 2 == 0 else (True, False)
            results = {reuse: fits(X, y, task, reuse) for reuse in arms}
            for reuse, (took, _) in results.items():
                seconds[reuse].append(took)
            equal = equal and results[False][1] == results[True][1]
        plain, reused = statistics.median(seconds[False]), statistics.median(seconds[True])
        print(f"{name:<14} {len(y):>5} {plain:>10.2f} {reused:>8.2f} {reused / plain:>6.2f}  {equal}")


if __name__ == "__main__":
    main()
