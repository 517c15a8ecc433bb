"""The hand-written baseline that `tuner search` is measured against: plain Keras + Optuna.

Why: to tell what tuner's machinery (its model factory, estimator, MLflow logging,
worker processes) costs or gains against the loop a practitioner would write by hand
in an afternoon. This file is fixed once and for all: change it and past figures in
benchmarks/results/ stop being comparable. It uses tuner only for the split
(``tuner.data.dataset.load_dataset``), so train/valid/test rows are the ones tuner sees, and
for tables with categorical columns its one-hot encoding, which any loop needs.

The search: the book's space (Hands-On ML ch. 10: 0-3 ReLU hidden layers of 1-100
neurons, log-uniform learning rate 3e-4..3e-2, optimizer), 15 trials of at most 30
epochs at batch size 64, TPE sampler, Hyperband pruning on the validation loss,
EarlyStopping(patience=5) restoring the best weights; the best trial's model is
scored once on the test split (accuracy, or R2 for regression).

    python benchmarks/baseline.py --data digits --seed 42
    python benchmarks/baseline.py --data benchmarks/.data/friedman20k.csv --target target --seed 0

Prints one JSON object on stdout (see ``main``); benchmarks/compare.py runs it.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 - the clock starts first
import json  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402

TRIALS = 15
EPOCHS = 30
BATCH_SIZE = 64
PATIENCE = 5
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    if name == "nesterov":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    return keras.optimizers.Adam(learning_rate=learning_rate)


def build_model(trial: optuna.Trial, n_features: int, task: str, n_classes: int) -> keras.Model:
    n_hidden = trial.suggest_int("n_hidden", 0, 3)
    n_neurons = trial.suggest_int("n_neurons", 1, 100)
    learning_rate = trial.suggest_float("learning_rate", 3e-4, 3e-2, log=True)
    optimizer = trial.suggest_categorical("optimizer", OPTIMIZERS)
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


class ReportToPruner(keras.callbacks.Callback):
    """Report the validation loss to Optuna each epoch; stop the trial if pruned."""

    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__()
        self.trial = trial

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.trial.report(logs["val_loss"], epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def prepare(data: str, target: str | None, seed: int) -> dict[str, Any]:
    """tuner's split as float32 arrays: features standardized, and the target for regression."""
    from tuner.data.dataset import load_dataset

    ds = load_dataset(data, target, None, seed)
    raw = {
        "train": (ds.X_train, ds.y_train),
        "valid": (ds.X_valid, ds.y_valid),
        "test": (ds.X_test, ds.y_test),
    }
    if ds.categorical_columns:  # one-hot categories, as a practitioner must; numeric tables as before
        encoder = ds.make_preprocessor().fit(ds.X_train)
        raw = {k: (encoder.transform(x), y) for k, (x, y) in raw.items()}
    scaler = StandardScaler().fit(np.asarray(raw["train"][0], dtype="float32"))
    X = {k: scaler.transform(np.asarray(x, dtype="float32")).astype("float32") for k, (x, _) in raw.items()}
    if ds.task == "regression":
        mean, std = float(np.mean(ds.y_train)), float(np.std(ds.y_train))
        y = {k: ((np.asarray(v, dtype="float32") - mean) / std) for k, (_, v) in raw.items()}
        return dict(task=ds.task, X=X, y=y, mean=mean, std=std, n_classes=1, y_test=ds.y_test)
    classes = np.unique(ds.y_train)
    y = {k: np.searchsorted(classes, v) for k, (_, v) in raw.items()}
    return dict(task=ds.task, X=X, y=y, n_classes=len(classes), y_test=y["test"])


def test_score(model: keras.Model, d: dict[str, Any]) -> float:
    predicted = model.predict(d["X"]["test"], verbose=0)
    if d["task"] == "regression":
        return float(r2_score(d["y_test"], predicted.ravel() * d["std"] + d["mean"]))
    if d["task"] == "binary":
        return float(accuracy_score(d["y_test"], (predicted.ravel() > 0.5).astype(int)))
    return float(accuracy_score(d["y_test"], predicted.argmax(axis=1)))


def run(data: str, target: str | None, seed: int) -> dict[str, Any]:
    d = prepare(data, target, seed)
    models: dict[int, keras.Model] = {}
    train_s = 0.0

    def objective(trial: optuna.Trial) -> float:
        nonlocal train_s
        keras.utils.set_random_seed(seed + trial.number)
        model = build_model(trial, d["X"]["train"].shape[1], d["task"], d["n_classes"])
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True),
            ReportToPruner(trial),
        ]
        started = time.perf_counter()
        try:
            history = model.fit(
                d["X"]["train"],
                d["y"]["train"],
                validation_data=(d["X"]["valid"], d["y"]["valid"]),
                epochs=EPOCHS,
                batch_size=BATCH_SIZE,
                callbacks=callbacks,
                verbose=0,
            )
        finally:
            train_s += time.perf_counter() - started
        models[trial.number] = model
        return min(history.history["val_loss"])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="baseline",  # Hyperband's brackets hash the name: a fixed one repeats a run
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS, reduction_factor=3),
    )
    study.optimize(objective, n_trials=TRIALS)
    states = [t.state for t in study.trials]
    return {
        "contender": "baseline",
        "data": data,
        "seed": seed,
        "task": d["task"],
        "score_name": "r2" if d["task"] == "regression" else "accuracy",
        "test_score": test_score(models[study.best_trial.number], d),
        "trials": TRIALS,
        "n_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "n_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "train_s": round(train_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Hand-written Keras + Optuna baseline.")
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
