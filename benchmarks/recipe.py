"""The book's recipe (Hands-On ML ch. 10): scikeras + RandomizedSearchCV, the slow reference.

Why: tuner's README starts from this recipe; this script shows what it costs and
scores on the same rows (tuner's split, via ``tuner.data.dataset.load_dataset``), so the
figures of `tuner search` and benchmarks/baseline.py have a point of reference.
Only meant for the datasets bundled with scikit-learn: 31 fits make it slow.

The search: the book's space (0-3 ReLU hidden layers of 1-100 neurons, log-uniform
learning rate 3e-4..3e-2, optimizer) as scipy distributions routed with ``model__``
to a plain Keras build function; ``RandomizedSearchCV(n_iter=10, cv=3)`` scored by the
wrapper's default score (accuracy, or R2 on the standardized target), 30 epochs at
batch size 32, EarlyStopping(patience=5) on ``validation_data=(X_valid, y_valid)`` as
the book does, then refit=True on the train split and one score on the test split.

    python benchmarks/recipe.py --data breast_cancer --seed 42

Prints one JSON object on stdout, the shape of benchmarks/baseline.py's.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 - the clock starts first
import json  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy.stats import loguniform, randint  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import RandomizedSearchCV  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
from baseline import OPTIMIZERS, make_optimizer, prepare  # noqa: E402 - the same data and optimizers
from scikeras.wrappers import KerasClassifier, KerasRegressor  # noqa: E402

CANDIDATES = 10
FOLDS = 3
EPOCHS = 30
BATCH_SIZE = 32
PATIENCE = 5


def build_model(
    n_features: int,
    task: str,
    n_classes: int,
    n_hidden: int = 1,
    n_neurons: int = 30,
    learning_rate: float = 3e-3,
    optimizer: str = "sgd",
) -> keras.Model:
    """The book's build function, plus the output layer and loss of each task."""
    model = keras.Sequential([keras.Input(shape=(n_features,))])
    for _ in range(n_hidden):
        model.add(keras.layers.Dense(n_neurons, activation="relu"))
    if task == "regression":
        model.add(keras.layers.Dense(1))
        loss = "mse"
    elif task == "binary":
        model.add(keras.layers.Dense(1, activation="sigmoid"))
        loss = "binary_crossentropy"
    else:
        model.add(keras.layers.Dense(n_classes, activation="softmax"))
        loss = "sparse_categorical_crossentropy"
    model.compile(loss=loss, optimizer=make_optimizer(optimizer, learning_rate))
    return model


def run(data: str, target: str | None, seed: int) -> dict[str, Any]:
    d = prepare(data, target, seed)
    keras.utils.set_random_seed(seed)
    wrapper = KerasRegressor if d["task"] == "regression" else KerasClassifier
    estimator = wrapper(
        model=build_model,
        model__n_features=d["X"]["train"].shape[1],
        model__task=d["task"],
        model__n_classes=d["n_classes"],
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)
        ],
        verbose=0,
    )
    distributions = {
        "model__n_hidden": randint(0, 4),
        "model__n_neurons": randint(1, 101),
        "model__learning_rate": loguniform(3e-4, 3e-2),
        "model__optimizer": OPTIMIZERS,
    }
    search = RandomizedSearchCV(estimator, distributions, n_iter=CANDIDATES, cv=FOLDS, random_state=seed)
    started = time.perf_counter()
    search.fit(d["X"]["train"], d["y"]["train"], validation_data=(d["X"]["valid"], d["y"]["valid"]))
    train_s = time.perf_counter() - started
    predicted = search.predict(d["X"]["test"])
    if d["task"] == "regression":
        score = r2_score(d["y_test"], np.ravel(predicted) * d["std"] + d["mean"])
    else:
        score = accuracy_score(d["y_test"], predicted)
    n_complete = int(np.sum(np.isfinite(search.cv_results_["mean_test_score"])))
    return {
        "contender": "recipe",
        "data": data,
        "seed": seed,
        "task": d["task"],
        "score_name": "r2" if d["task"] == "regression" else "accuracy",
        "test_score": float(score),
        "trials": CANDIDATES,
        "n_complete": n_complete,
        "n_pruned": 0,
        "train_s": round(train_s, 3),  # the whole search.fit: 30 CV fits, their scoring, the refit
        "fits": CANDIDATES * FOLDS + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The book's scikeras + RandomizedSearchCV recipe.")
    parser.add_argument("--data", required=True, help="bundled dataset name or a CSV path")
    parser.add_argument("--target", default=None, help="target column of a CSV file")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", choices=["json"], default="json")
    args = parser.parse_args()
    record = run(args.data, args.target, args.seed)
    record["wall_s"] = round(time.perf_counter() - STARTED, 3)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
