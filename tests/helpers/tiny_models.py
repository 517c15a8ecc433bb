"""Tiny real models and the table they learn, shared by the export and registry tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tuner.trial.estimator import make_estimator

TINY = dict(
    epochs=2,
    patience=None,
    model__n_hidden=1,
    model__n_neurons=8,
    model__learning_rate=1e-2,
    model__optimizer="adam",
    random_state=0,
)


def fit(ds, epochs: int = 2):
    """A tiny estimator fitted on ``ds`` as a search fits one: preprocessing on train rows only."""
    pre = ds.make_preprocessor()
    if pre is not None:
        pre.fit(ds.X_train)

    def prep(X):
        return pre.transform(X) if pre is not None else X

    est = make_estimator(task=ds.task, metric=None, **{**TINY, "epochs": epochs})
    est.fit(prep(ds.X_train), ds.y_train, validation_data=(prep(ds.X_valid), ds.y_valid))
    return est, pre, prep


def table_csv(path: Path, n: int = 240, targets: tuple[str, ...] = ("label",)) -> Path:
    """Numbers (some missing), a text category (some missing) and learnable targets."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n), rng.integers(0, 5, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    frame = pd.DataFrame({"a": a, "b": b, "color": color})
    signal_ = a + (color == "red") - 0.2 * b
    if targets == ("label",):
        frame["label"] = np.where(signal_ > 0, "yes", "no")
    else:
        frame[targets[0]] = (signal_ > 0).astype(int)
        frame[targets[1]] = (b > 2).astype(int)
    frame.loc[[3, 40], "a"] = np.nan
    frame.loc[[5, 77], "color"] = None
    frame.to_csv(path, index=False)
    return path


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
