"""The catalogue of bad input: each mistake, tried as a new user would, with `tuner search`.

Every row must end with exactly one line, starting ``error: ``, that names the
offending value and says how to fix it; exit status 2; no traceback; and nothing
written to the working directory (no ``mlruns/``, no journal, no study, no MLflow
experiment, no stray file). Each row is checked before any Keras model trains, so
the whole table runs in seconds.

To add a mistake, append a ``bad(...)`` row to ``CATALOGUE`` (or extend it from
another list): an id that reads as the catalogue (``area-what-is-wrong``), the
arguments after ``tuner search --quiet``, a substring the error line must hold, and
the files to write into the test's working directory first.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import model_files
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_iris

from tuner.cli.main import cli
from tuner.config import SearchConfig

# What a file in a row may be: text, raw bytes, or a function that writes it to a path.
Content = str | bytes | Callable[[Path], None]
PASSWORD = "Hunter2-never-shown"
UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: refused at once


@dataclass(frozen=True)
class Bad:
    args: tuple[str, ...]
    expect: str  # a substring of the one error line
    files: dict[str, Content] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # text that must appear nowhere in the output (a password)


def bad(
    id: str,
    args: list[str],
    expect: str,
    files: dict[str, Content] | None = None,
    env: dict[str, str] | None = None,
    hidden: tuple[str, ...] = (),
) -> pytest.param:
    """One row of the catalogue; a row that needs a real study first is slow."""
    slow = [pytest.mark.slow] if any(v is globals().get("with_study") for v in (files or {}).values()) else []
    return pytest.param(Bad(tuple(args), expect, files or {}, env or {}, hidden), id=id, marks=slow)


# --- files the rows write -------------------------------------------------------------------


def csv(columns: dict[str, list]) -> str:
    return pd.DataFrame(columns).to_csv(index=False)


def table(n: int = 30, **extra: list) -> str:
    """A small valid CSV: two features and a binary target ``y``, plus ``extra`` columns."""
    return csv({"a": list(range(n)), "b": [i % 7 for i in range(n)], "y": [i % 2 for i in range(n)], **extra})


def npz(**arrays: np.ndarray) -> Callable[[Path], None]:
    return lambda path: np.savez(path, **arrays)


def space(text: str) -> dict[str, Content]:
    return {"space.yaml": text}


SPACE = ["--space", "space.yaml"]
ROWS = np.arange(60, dtype="float64").reshape(20, 3)
LABELS = np.arange(20) % 2
IMAGES = np.zeros((20, 4, 4))
IMAGES[3, 1, 1] = np.nan
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
LATIN1 = ("a,b,y\n" + "\n".join(f"caf\u00e9 {i},{i},{i % 2}" for i in range(20))).encode("latin-1")
INFINITE = csv(
    {"a": [np.inf if i == 3 else i for i in range(20)], "b": range(20), "y": [i % 2 for i in range(20)]}
)
# 12 rows in 4 classes of 3: enough for each class, too few for every split to hold all 4.
FOUR_CLASSES = csv({"a": range(12), "y": [i % 4 for i in range(12)]})
TEN_ROWS = csv({"a": range(10), "y": [i % 2 for i in range(10)]})


def _parquet_of_csv(path: Path) -> None:
    path.write_bytes(b"a,b,y\n1,2,3\n")  # text, not Parquet


CATALOGUE = [
    # --- space files ---------------------------------------------------------------------------
    bad("space-missing-file", ["--space", "missing.yaml"], "search space file not found: missing.yaml"),
    bad("space-malformed-yaml", SPACE, "space.yaml: not valid YAML at line", space("params: [\n")),
    bad("space-not-a-mapping", SPACE, "expected a mapping with a 'params' key", space("- a list\n")),
    bad("space-empty-file", SPACE, "expected a mapping with a 'params' key", space("")),
    bad(
        "space-not-utf8",
        SPACE,
        "space.yaml: not UTF-8 text (byte 0xe9",
        {"space.yaml": b"params:\n  optimizer: caf\xe9\n"},
    ),
    bad(
        "space-unknown-top-level-key", SPACE, "space: unknown top-level key", space("space:\n  n_hidden: 1\n")
    ),
    bad("space-no-params", SPACE, "params: must be a non-empty mapping", space("params: {}\n")),
    bad(
        "space-unknown-type",
        SPACE,
        "params.n_hidden: unknown type 'integer'; allowed: int, float, categorical",
        space("params:\n  n_hidden: {type: integer, low: 0, high: 3}\n"),
    ),
    bad(
        "space-unknown-field",
        SPACE,
        "unknown field(s) scale for type int",
        space("params:\n  n_hidden: {type: int, low: 0, high: 3, scale: log}\n"),
    ),
    bad(
        "space-missing-bound",
        SPACE,
        "params.n_hidden: missing 'high'",
        space("params:\n  n_hidden: {type: int, low: 0}\n"),
    ),
    bad(
        "space-low-greater-than-high",
        SPACE,
        "params.n_hidden: low (5) > high (3); swap them",
        space("params:\n  n_hidden: {type: int, low: 5, high: 3}\n"),
    ),
    bad(
        "space-log-with-nonpositive-low",
        SPACE,
        "params.learning_rate: log scale needs low > 0, got low=0.0",
        space("params:\n  learning_rate: {type: float, low: 0.0, high: 0.1, log: true}\n"),
    ),
    bad(
        "space-step-larger-than-range",
        SPACE,
        "params.n_hidden: 'step' (10) is larger than the range [0, 3]",
        space("params:\n  n_hidden: {type: int, low: 0, high: 3, step: 10}\n"),
    ),
    bad(
        "space-float-step-larger-than-range",
        SPACE,
        "params.dropout: 'step' (0.5) is larger than the range [0.0, 0.2]",
        space("params:\n  dropout: {type: float, low: 0.0, high: 0.2, step: 0.5}\n"),
    ),
    bad(
        "space-step-not-positive",
        SPACE,
        "'step' must be > 0, got 0",
        space("params:\n  n_hidden: {type: int, low: 0, high: 3, step: 0}\n"),
    ),
    bad(
        "space-step-with-log",
        SPACE,
        "'step' cannot be combined with log",
        space("params:\n  n_neurons: {type: int, low: 1, high: 9, log: true, step: 2}\n"),
    ),
    bad(
        "space-fractional-int-bound",
        SPACE,
        "'low' must be an integer, got 0.5",
        space("params:\n  n_hidden: {type: int, low: 0.5, high: 3}\n"),
    ),
    bad(
        "space-exponent-without-dot",
        SPACE,
        "'low' must be a number, got '1e-4'; YAML reads 1e-4 as text: write 1.0e-4",
        space("params:\n  learning_rate: {type: float, low: 1e-4, high: 1.0e-2}\n"),
    ),
    bad(
        "space-empty-choices",
        SPACE,
        "params.optimizer: 'choices' must be a non-empty list",
        space("params:\n  optimizer: {type: categorical, choices: []}\n"),
    ),
    bad(
        "space-duplicate-choices",
        SPACE,
        "params.optimizer: 'choices' has duplicates",
        space("params:\n  optimizer: {type: categorical, choices: [adam, adam]}\n"),
    ),
    bad(
        "space-parameter-build-model-does-not-take",
        SPACE,
        "params.n_layers: not a parameter of the mlp network; allowed: n_hidden",
        space("params:\n  n_layers: {type: int, low: 0, high: 3}\n"),
    ),
    bad(
        "space-type-does-not-fit-parameter",
        SPACE,
        "learning_rate takes a float, so type int does not fit",
        space("params:\n  learning_rate: {type: int, low: 1, high: 3}\n"),
    ),
    bad(
        "space-unknown-optimizer",
        SPACE,
        "params.optimizer.choices[1]: unknown optimizer 'adamx'; allowed: sgd,",
        space("params:\n  optimizer: {type: categorical, choices: [adam, adamx]}\n"),
    ),
    bad(
        "space-unknown-activation",
        SPACE,
        "params.activation: unknown activation 'relux'; allowed: relu,",
        space("params:\n  n_hidden: {type: int, low: 1, high: 2}\n  activation: relux\n"),
    ),
    bad(
        "space-unknown-loss",
        [*SPACE, "--data", "diabetes"],
        "params.loss.choices[1]: unknown loss 'rmse'; allowed: mse, mae, huber",
        space("params:\n  loss: {type: categorical, choices: [mse, rmse]}\n"),
    ),
    bad(
        "space-loss-on-a-classification-task",
        SPACE,
        "params.loss: only regression takes a loss; this is a multiclass task",
        space("params:\n  n_hidden: {type: int, low: 1, high: 2}\n  loss: mae\n"),
    ),
    bad(
        "space-negative-layer-size",
        SPACE,
        "params.n_neurons: low -8 is out of range: n_neurons must be >= 1",
        space("params:\n  n_neurons: {type: int, low: -8, high: 32}\n"),
    ),
    bad(
        "space-negative-hidden-layers",
        SPACE,
        "params.n_hidden: low -1 is out of range: n_hidden must be >= 0",
        space("params:\n  n_hidden: {type: int, low: -1, high: 2}\n"),
    ),
    bad(
        "space-zero-batch-size",
        SPACE,
        "params.batch_size: value 0 is out of range: batch_size must be >= 1",
        space("params:\n  n_hidden: {type: int, low: 1, high: 2}\n  batch_size: 0\n"),
    ),
    bad(
        "space-zero-layer-size-choice",
        SPACE,
        "params.n_neurons.choices[0]: value 0 is out of range: n_neurons must be >= 1",
        space("params:\n  n_neurons: {type: categorical, choices: [0, 16]}\n"),
    ),
    bad(
        "space-dropout-of-one",
        SPACE,
        "params.dropout: high 1.0 is out of range: dropout must be in [0, 1)",
        space("params:\n  dropout: {type: float, low: 0.0, high: 1.0}\n"),
    ),
    bad(
        "space-zero-learning-rate",
        SPACE,
        "params.learning_rate: value 0 is out of range: learning_rate must be > 0",
        space("params:\n  n_hidden: {type: int, low: 1, high: 2}\n  learning_rate: 0\n"),
    ),
    bad(
        "space-fixed-number-of-the-wrong-type",
        SPACE,
        "params.n_hidden: expected a number, got 'two'",
        space("params:\n  n_hidden: two\n  n_neurons: {type: int, low: 1, high: 8}\n"),
    ),
    bad(
        "space-fixed-name-of-the-wrong-type",
        SPACE,
        "params.optimizer: expected a name, got 3; allowed: sgd,",
        space("params:\n  optimizer: 3\n  n_neurons: {type: int, low: 1, high: 8}\n"),
    ),
    bad(
        "space-every-parameter-fixed",
        SPACE,
        "params: every parameter is fixed; give at least one a type to search",
        space("params:\n  optimizer: adam\n"),
    ),
    # --- data ----------------------------------------------------------------------------------
    bad("data-unknown-dataset", ["--data", "digitz"], "unknown dataset 'digitz': give a bundled one"),
    bad("data-missing-file", ["--data", "missing.csv", "--target", "y"], "data file not found: missing.csv"),
    bad(
        "data-unknown-extension",
        ["--data", "data.txt", "--target", "y"],
        "data.txt: unknown file type '.txt'; give a .csv/.parquet/.npz file",
        {"data.txt": table()},
    ),
    bad(
        "data-empty-file",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: the file is empty",
        {"data.csv": ""},
    ),
    bad(
        "data-header-only",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: a header (a, b, y) but no data rows",
        {"data.csv": "a,b,y\n"},
    ),
    bad(
        "data-no-target-given",
        ["--data", "data.csv"],
        "data.csv: say which column to predict with --target COLUMN (columns: a, b, y)",
        {"data.csv": table()},
    ),
    bad(
        "data-target-column-absent",
        ["--data", "data.csv", "--target", "price"],
        "data.csv: target column 'price' not found; columns are: a, b, y",
        {"data.csv": table()},
    ),
    bad(
        "data-no-feature-columns",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: no feature columns besides the target 'y'",
        {"data.csv": csv({"y": [i % 2 for i in range(20)]})},
    ),
    bad(
        "data-target-with-one-class",
        ["--data", "data.csv", "--target", "y", "--task", "binary"],
        "data.csv: the target has one class (1) in every row; a classifier needs at least two",
        {"data.csv": csv({"a": range(20), "y": [1] * 20})},
    ),
    bad(
        "data-target-with-one-class-inferred",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: the target has one class ('yes') in every row",
        {"data.csv": csv({"a": range(20), "y": ["yes"] * 20})},
    ),
    bad(
        "data-constant-regression-target",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: the target is 2.5 in every row; there is nothing to predict",
        {"data.csv": csv({"a": range(20), "y": [2.5] * 20})},
    ),
    bad(
        "data-target-with-missing-values",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: the target 'y' has 2 missing value(s); drop those rows first",
        {"data.csv": csv({"a": range(20), "y": [None, None] + [i % 2 for i in range(18)]})},
    ),
    bad(
        "data-target-all-nan",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: the target 'y' has no values (all missing)",
        {"data.csv": csv({"a": range(20), "y": [None] * 20})},
    ),
    bad(
        "data-infinite-features",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: infinite values in column(s) a; replace them",
        {"data.csv": INFINITE},
    ),
    bad(
        "data-too-few-rows",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: only 5 rows; a search needs at least 10",
        {"data.csv": table(5)},
    ),
    bad(
        "data-too-few-rows-for-the-split",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: 12 rows are too few to split into train/validation/test rows (6/3/3) that each hold "
        "all 4 classes; give at least 17 rows, or --test-size 0",
        {"data.csv": FOUR_CLASSES},
    ),
    bad(
        "data-too-few-rows-for-cv",
        ["--data", "data.csv", "--target", "y", "--engine", "random", "--cv", "5"],
        "--cv 5: the train split holds at most 3 rows of any one class (6 in all), too few for 5 folds; "
        "lower --cv to 3 or less",
        {"data.csv": TEN_ROWS},
    ),
    bad(
        "data-too-few-rows-for-recheck-folds",
        ["--data", "data.csv", "--target", "y", "--recheck-folds", "6"],
        "--recheck-folds 6: the train and validation rows hold at most 4 rows of any one class",
        {"data.csv": TEN_ROWS},
    ),
    bad(
        "data-npz-without-X",
        ["--data", "data.npz"],
        "data.npz: no array named X; it holds: features, y",
        {"data.npz": npz(features=ROWS, y=LABELS)},
    ),
    bad(
        "data-npz-without-y",
        ["--data", "data.npz"],
        "data.npz: no array named y; it holds: X, labels",
        {"data.npz": npz(X=ROWS, labels=LABELS)},
    ),
    bad(
        "data-npz-lengths-differ",
        ["--data", "data.npz"],
        "data.npz: 'X' has 20 rows but 'y' has 15; they need one target value per row",
        {"data.npz": npz(X=ROWS, y=LABELS[:15])},
    ),
    bad(
        "data-npz-one-dimensional-X",
        ["--data", "data.npz"],
        "data.npz: 'X' has shape (20,); it needs one row per sample",
        {"data.npz": npz(X=np.arange(20.0), y=LABELS)},
    ),
    bad(
        "data-npz-text-features",
        ["--data", "data.npz"],
        "data.npz: 'X' holds <U1 values; features in an .npz must be numbers",
        {"data.npz": npz(X=np.full((20, 2), "a"), y=LABELS)},
    ),
    bad(
        "data-npz-nan-in-images",
        ["--data", "data.npz"],
        "data.npz: 'X' has 1 missing (NaN) value(s)",
        {"data.npz": npz(X=IMAGES, y=LABELS)},
    ),
    bad(
        "data-npz-not-an-archive",
        ["--data", "data.npz"],
        "data.npz: not an .npz archive; save the arrays with numpy.savez",
        {"data.npz": b"this is not a zip archive"},
    ),
    bad(
        "data-unreadable-parquet",
        ["--data", "data.parquet", "--target", "y"],
        "data.parquet: not a readable Parquet file",
        {"data.parquet": _parquet_of_csv},
    ),
    bad(
        "data-binary-file-named-csv",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: not a CSV text file (it holds binary data)",
        {"data.csv": PNG},
    ),
    bad(
        "data-non-utf8-csv",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8",
        {"data.csv": LATIN1},
    ),
    bad(
        "data-ragged-csv",
        ["--data", "data.csv", "--target", "y"],
        "data.csv: could not read csv file: Error tokenizing data",
        {"data.csv": "a,b,y\n1,2,0\n1,2,3,4,5\n"},
    ),
    bad(
        "data-task-binary-with-three-classes",
        ["--data", "data.csv", "--target", "y", "--task", "binary"],
        "data.csv: --task binary needs exactly 2 classes; the target has 3 (0, 1, 2): use --task multiclass",
        {"data.csv": csv({"a": range(30), "y": [i % 3 for i in range(30)]})},
    ),
    bad(
        "data-task-regression-with-text-target",
        ["--data", "data.csv", "--target", "y", "--task", "regression"],
        "data.csv: --task regression needs a numeric target, but it holds 'cat'",
        {"data.csv": csv({"a": range(20), "y": ["cat", "dog"] * 10})},
    ),
    bad(
        "data-task-multilabel-with-one-column",
        ["--data", "data.csv", "--target", "y", "--task", "multilabel"],
        "data.csv: --task multilabel needs two or more 0/1 target columns",
        {"data.csv": table()},
    ),
    # --- flags (each numeric and each choice flag also has generated rows: FLAG_ROWS) ----------
    bad("flag-timeout-nan", ["--timeout", "nan"], "--timeout must be a finite number, got nan"),
    bad("flag-test-size-half", ["--test-size", "0.5"], "--test-size must be below 0.5, got 0.5"),
    bad("flag-test-size-nan", ["--test-size", "nan"], "--test-size must be a finite number, got nan"),
    bad("flag-seed-negative", ["--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
    bad(
        "flag-seed-too-large",
        ["--seed", str(2**32)],
        "--seed must be between 0 and 4294967295, got 4294967296",
    ),
    bad(
        "flag-grace-period-not-above-heartbeat",
        ["--grace-period", "30", "--heartbeat-interval", "60"],
        "--grace-period (30 s) must be longer than --heartbeat-interval (60 s)",
    ),
    bad("flag-metric-unknown", ["--metric", "f1"], "unknown metric 'f1'; choose one of: accuracy, mse, mae"),
    bad(
        "flag-metric-does-not-fit-classification",
        ["--metric", "mse"],
        "metric 'mse' does not apply to a multiclass task; use one of: accuracy",
    ),
    bad(
        "flag-metric-does-not-fit-regression",
        ["--data", "diabetes", "--metric", "accuracy"],
        "metric 'accuracy' does not apply to a regression task; use one of: mse, mae",
    ),
    bad(
        "flag-output-unknown",
        ["--output", "yaml"],
        "Invalid value for '--output': 'yaml' is not one of 'table', 'json'",
    ),
    bad("flag-misspelt-option", ["--trails", "3"], "No such option '--trails'"),
    bad("flag-option-without-its-value", ["--n-jobs"], "Option '--n-jobs' requires an argument"),
    bad("flag-resume-without-study", ["--resume"], "--resume needs --study NAME"),
    bad(
        "flag-resume-with-random-engine",
        ["--engine", "random", "--resume", "--study", "x"],
        "--resume works with --engine optuna only",
    ),
    bad(
        "flag-timeout-with-random-engine",
        ["--engine", "random", "--timeout", "60"],
        "--timeout works with --engine optuna only",
    ),
    # --- stores --------------------------------------------------------------------------------
    bad(
        "store-invalid-storage-url",
        ["--storage", "foo://bar"],
        "cannot open Optuna storage 'foo://bar': Can't load plugin: sqlalchemy.dialects:foo; give sqlite:///file.db",
    ),
    bad(
        "store-storage-not-a-url",
        ["--storage", "optuna.db"],
        "--storage 'optuna.db' is neither a database URL nor a journal file; give sqlite:///file.db, "
        "postgresql://user@host/db or a path ending in .journal (sqlite:///optuna.db for a SQLite file)",
    ),
    bad(
        "store-unreachable-postgresql",
        ["--storage", f"postgresql://tuner@{UNREACHABLE}/x"],
        f"cannot open Optuna storage 'postgresql://tuner@{UNREACHABLE}/x': nothing answers at {UNREACHABLE} "
        "(Connection refused); start the database server, or fix the host and port",
    ),
    bad(
        "store-wrong-password",
        ["--storage", f"postgresql://tuner:{PASSWORD}@{UNREACHABLE}/x"],
        f"cannot open Optuna storage 'postgresql://tuner:***@{UNREACHABLE}/x'",
        hidden=(PASSWORD,),
    ),
    bad(
        "store-wrong-password-from-environment",
        [],
        f"cannot open Optuna storage 'postgresql://tuner:***@{UNREACHABLE}/x'",
        env={"TUNER_STORAGE": f"postgresql://tuner:{PASSWORD}@{UNREACHABLE}/x"},
        hidden=(PASSWORD,),
    ),
    bad(
        "store-driver-not-installed",
        ["--storage", f"mysql://tuner@{UNREACHABLE}/x"],
        "cannot open Optuna storage 'mysql://tuner@127.0.0.1:1/x': No module named 'MySQLdb'; install the "
        "database's driver",
    ),
    bad(
        "store-sqlite-folder-missing",
        ["--storage", "sqlite:///nowhere/optuna.db"],
        "cannot open Optuna storage 'sqlite:///nowhere/optuna.db': folder 'nowhere' does not exist; create it",
    ),
    bad(
        "store-sqlite-file-not-a-database",
        ["--storage", "sqlite:///notes.db"],
        "cannot open Optuna storage 'sqlite:///notes.db': notes.db is not a SQLite database",
        {"notes.db": "some notes, not a database\n" * 200},
    ),
    bad(
        "store-sqlite-in-memory",
        ["--storage", "sqlite://"],
        "cannot open Optuna storage 'sqlite://': an in-memory database; worker processes cannot share it",
    ),
]


# --- resuming a study with other settings, and tracking stores --------------------------------


@functools.lru_cache(maxsize=1)
def _study_folder() -> Path:
    """An ``mlruns/`` holding study 'base' (digits, mlp_quick, 2 epochs), made once by a real search."""
    folder = Path(tempfile.mkdtemp(prefix="tuner-catalogue-"))
    command = [
        sys.executable,
        "-m",
        "tuner",
        "search",
        "--quiet",
        *BASE_SEARCH,
        "--trials",
        "1",
        "--n-jobs",
        "1",
    ]
    subprocess.run(
        [*command, "--recheck", "1", "--study", "base"], cwd=folder, check=True, capture_output=True
    )
    return folder / "mlruns"


def with_study(path: Path) -> None:
    shutil.copytree(_study_folder(), path)


BASE_SEARCH = ["--space", "mlp_quick", "--data", "digits", "--epochs", "2"]
RESUME = ["--study", "base", "--resume"]
STUDY = {"mlruns": with_study}
CATALOGUE += [
    bad("resume-missing-study", ["--study", "nope", "--resume"], "no study named 'nope' to resume"),
    bad(
        "resume-other-direction",
        [*RESUME, *BASE_SEARCH, "--data", "diabetes"],
        "study 'base' was created to maximize its metric; resume it with the same --metric",
        STUDY,
    ),
    bad(
        "resume-other-space",
        [*RESUME, *BASE_SEARCH, "--space", "mlp"],
        "study 'base' was created with other settings: the space ('mlp_quick' in the study)",
        STUDY,
    ),
    bad("resume-other-data", [*RESUME, *BASE_SEARCH, "--data", "wine"], "the data (fingerprint", STUDY),
    bad(
        "resume-other-epochs",
        [*RESUME, *BASE_SEARCH, "--epochs", "5"],
        "epochs 2 (study) vs 5 (given)",
        STUDY,
    ),
    bad("resume-other-seed", [*RESUME, *BASE_SEARCH, "--seed", "7"], "seed 42 (study) vs 7 (given)", STUDY),
    bad(
        "tracking-unreachable-server",
        ["--tracking-uri", f"http://{UNREACHABLE}"],
        f"cannot reach the MLflow tracking server http://{UNREACHABLE} (ConnectionError); start it",
    ),
    bad(
        "tracking-password-never-shown",
        ["--tracking-uri", f"http://me:{PASSWORD}@{UNREACHABLE}"],
        f"cannot reach the MLflow tracking server http://me:***@{UNREACHABLE}",
        hidden=(PASSWORD,),
    ),
    bad(
        "tracking-unknown-scheme",
        ["--tracking-uri", "foo://bar"],
        "unknown tracking URI scheme in 'foo://bar'",
    ),
    bad(
        "tracking-store-folder-is-a-file",
        [],
        "cannot write to ",
        {"mlruns": "a file where the store's folder goes\n"},
    ),
]


# --- networks and conditions: refused on load, or by the one build before the search -----------
QUICK = ["--trials", "1", "--epochs", "1"]  # each row fails before its first trial anyway
NET = ["--model", "net.py:build", "--data", "iris", *QUICK, *SPACE]
WIDTH = "params:\n  width: {type: int, low: 2, high: 4}\n"


def model(text: str, space_text: str = WIDTH) -> dict[str, Content]:
    """A model file ``net.py`` beside the space that names its parameters."""
    return {"net.py": text, **space(space_text)}


def conditional(when: str) -> dict[str, Content]:
    return space(
        "params:\n  optimizer: {type: categorical, choices: [adam, nesterov]}\n"
        f"  momentum: {{type: float, low: 0.5, high: 0.9, when: {when}}}\n"
    )


CATALOGUE += [
    bad(
        "model-file-missing",
        NET,
        "net.py (from 'net.py:build'; relative paths start at --model-root, $TUNER_MODEL_ROOT or the working",
        space(WIDTH),
    ),
    bad(
        "model-module-missing",
        [*NET, "--model", "no_such_nets_module:build"],
        "model 'no_such_nets_module:build': no module named 'no_such_nets_module'",
        space(WIDTH),
    ),
    bad(
        "model-syntax-error", NET, "net.py:3: syntax error in the model file", model(model_files.SYNTAX_ERROR)
    ),
    bad(
        "model-name-not-a-function",
        [*NET, "--model", "net.py:NOT_A_FUNCTION"],
        "net.py:NOT_A_FUNCTION: NOT_A_FUNCTION is a int, not a function",
        model(model_files.GOOD),
    ),
    bad(
        "model-requires-a-parameter-the-space-lacks",
        NET,
        "net.py:build requires width, which space.yaml neither samples nor fixes: add params.width",
        model(model_files.GOOD, "params:\n  depth: {type: int, low: 1, high: 2}\n"),
    ),
    bad(
        "model-does-not-take-a-sampled-name",
        NET,
        "space.yaml: params.height: net.py:build takes no parameter 'height' (it takes: depth, width)",
        model(model_files.GOOD, WIDTH + "  height: 3\n"),
    ),
    bad(
        "model-raises-while-building",
        NET,
        "net.py:build raised ValueError: width 2 is too odd (called with width=2, task='multiclass')",
        model(model_files.RAISES),
    ),
    bad(
        "model-returns-no-keras-model",
        NET,
        "net.py:build returned a dict, not a Keras model",
        model(model_files.NOT_A_MODEL),
    ),
    bad(
        "model-output-shape-does-not-fit-the-task",
        NET,
        "net.py:build returned outputs of shape (None, 7); a multiclass task needs (None, 3), 3 units",
        model(model_files.WRONG_SHAPE),
    ),
    bad(
        "model-lambda-layer",
        NET,
        "net.py:build: layer 'doubler' is a Lambda layer",
        model(model_files.LAMBDA),
    ),
    bad(
        "model-named-in-the-space-file",
        [*SPACE, "--data", "iris", *QUICK],
        "net.py:build: the outputs are not probabilities, as a multiclass task's loss needs",
        model(model_files.NO_SOFTMAX, "model: net.py:build\n" + WIDTH),
    ),
    bad(
        "model-reserved-name-in-the-space",
        NET,
        "params.n_outputs: n_outputs is reserved: tuner passes task, input_shape, n_outputs to the network",
        model(model_files.GOOD, WIDTH + "  n_outputs: 3\n"),
    ),
    bad(
        "model-wide-deep-given-images",
        ["--model", "wide_deep", "--data", "digits-images", *QUICK],
        "wide_deep needs a table of features, and this data is images of shape (8, 8): use --model cnn",
    ),
    bad(
        "model-cnn-given-a-table",
        ["--space", "cnn", "--model", "cnn", "--data", "iris", *QUICK],
        "cnn needs images, arrays of shape (n, h, w) or (n, h, w, c), and this data is a table of 4 features",
    ),
    bad(
        "when-unknown-parameter",
        SPACE,
        "params.momentum.when.optimiser: 'optimiser' is not a searched parameter of this space; known: optimizer",
        conditional("{optimiser: [nesterov]}"),
    ),
    bad(
        "when-value-the-parent-never-draws",
        SPACE,
        "params.momentum.when.optimizer: optimizer never draws 'momentum'; it draws adam, nesterov",
        conditional("{optimizer: [momentum]}"),
    ),
    bad(
        "when-circular",
        SPACE,
        "params.n_hidden.when: circular condition: n_hidden -> n_neurons -> n_hidden",
        space(
            "params:\n  n_hidden: {type: int, low: 1, high: 2, when: {n_neurons: [8]}}\n"
            "  n_neurons: {type: categorical, choices: [8, 16], when: {n_hidden: [2]}}\n"
        ),
    ),
]


def test_a_tracking_server_that_never_answers_fails_within_5_seconds():
    """A server that takes the connection and says nothing (hung, or a firewall's black hole)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["search", "--quiet", "--data", "iris", "--tracking-uri", uri])
        took = time.monotonic() - started
    assert result.exit_code == 2
    assert (
        result.output == f"error: cannot reach the MLflow tracking server {uri} (ReadTimeout); start it, "
        "or fix --tracking-uri / $MLFLOW_TRACKING_URI\n"
    )
    assert took < 5


NUMBER_KINDS = {"int": "integer", "int | None": "integer", "float": "float", "float | None": "float"}


def _flag_rows() -> list:
    """For every numeric option of `tuner search`, a word and a value below its bound; for every
    option with choices, a name not among them: a new setting gets its rows unasked."""
    rows = []
    for f in fields(SearchConfig):
        meta, flag, kind = f.metadata, "--" + f.name.replace("_", "-"), NUMBER_KINDS.get(str(f.type))
        if not meta["cli"]:
            continue
        if kind:
            rows.append(
                bad(
                    f"flag{flag[1:]}-not-a-number",
                    [flag, "many"],
                    f"Invalid value for '{flag}': 'many' is not a valid {kind}",
                )
            )
        if kind and meta["minimum"] is not None:
            below = meta["minimum"] - (1 if kind == "integer" else 0.1)
            rows.append(
                bad(
                    f"flag{flag[1:]}-out-of-range",
                    [flag, str(below)],
                    f"{flag} must be at least {meta['minimum']}",
                )
            )
        elif kind and meta["positive"]:
            rows.append(bad(f"flag{flag[1:]}-out-of-range", [flag, "0"], f"{flag} must be positive, got 0"))
        if meta["choices"]:
            allowed = ", ".join(map(repr, meta["choices"]))
            rows.append(
                bad(
                    f"flag{flag[1:]}-unknown",
                    [flag, "nope"],
                    f"Invalid value for '{flag}': 'nope' is not one of {allowed}",
                )
            )
    return rows


CATALOGUE += _flag_rows()


def _write(cwd: Path, files: dict[str, Content]) -> None:
    for name, content in files.items():
        path = cwd / name
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content(path)


def _snapshot(cwd: Path) -> dict[str, str]:
    """Every path under ``cwd`` with a digest of its content (folders: empty)."""
    found = {}
    for root, dirs, names in os.walk(cwd):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), cwd) + "/"] = ""
        for name in names:
            path = Path(root, name)
            found[os.path.relpath(path, cwd)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_the_catalogue_has_at_least_45_mistakes():
    ids = [row.id for row in CATALOGUE]
    assert len(ids) == len(set(ids)) >= 45


@pytest.mark.parametrize("case", CATALOGUE)
def test_bad_input_ends_with_one_error_line_and_exit_2(case: Bad, tmp_path: Path, monkeypatch):
    _write(tmp_path, case.files)
    monkeypatch.delenv("TUNER_STORAGE", raising=False)  # the default store unless a row sets one
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    before = _snapshot(tmp_path)

    result = CliRunner().invoke(cli, ["search", "--quiet", *case.args], prog_name="tuner")

    lines = result.output.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert case.expect in lines[0]
    assert "Traceback" not in result.output and result.stdout == ""
    for text in case.hidden:
        assert text not in result.output
    assert _snapshot(tmp_path) == before, "nothing half-written"


# --- after the search: show, compare, export, predict, --register ---------------------------


@functools.cache
def _finished_search() -> Path:
    """A store with one finished tiny search ('done', on iris) whose model is registered as 'champ'."""
    folder = Path(tempfile.mkdtemp(prefix="tuner-done-"))
    command = [sys.executable, "-m", "tuner", "search", "--space", "mlp_quick", "--data", "iris"]
    command += ["--trials", "1", "--epochs", "2", "--recheck", "1", "--n-jobs", "1", "--quiet"]
    command += ["--name", "done", "--register", "champ", "--no-plots"]
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return folder / "mlruns"


def with_search(path: Path) -> None:
    shutil.copytree(_finished_search(), path)


def iris_rows(drop: str | None = None, text: str | None = None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        X = load_iris(as_frame=True).data.head(5)
        if text:
            X[text] = "wide"
        X.drop(columns=[drop] if drop else []).to_csv(path, index=False)

    return write


def a_full_folder(path: Path) -> None:
    path.mkdir()
    (path / "keep.txt").write_text("someone's file\n")


DONE = {"mlruns": with_search, "rows.csv": iris_rows()}
PREDICT = ["predict", "--data", "rows.csv", "--out", "predictions.csv", "--model"]
AFTER = [
    bad("show-unknown-search", ["show", "nope"], "no search named 'nope'", DONE),
    bad("show-no-store-yet", ["show", "done"], "no search named 'done': no MLflow store at"),
    bad("compare-unknown-search", ["compare", "done", "nope"], "no search named 'nope'", DONE),
    bad("export-unknown-search", ["export", "nope", "--out", "out"], "no search named 'nope'", DONE),
    bad(
        "export-folder-not-empty",
        ["export", "done", "--out", "full"],
        "--out full: exists and is not an empty folder",
        {**DONE, "full": a_full_folder},
    ),
    bad(
        "predict-unknown-model-uri",
        [*PREDICT, "models:/m-0123456789"],
        "models:/m-0123456789: no such model",
        DONE,
    ),
    bad("predict-unknown-alias", [*PREDICT, "models:/champ@nope"], "registered model 'champ' has no", DONE),
    bad(
        "predict-unknown-registered-name", [*PREDICT, "models:/nobody@champion"], "no registered model", DONE
    ),
    bad(
        "predict-no-such-folder",
        [*PREDICT, "exported/"],
        "exported/: no such folder",
        {"rows.csv": iris_rows()},
    ),
    bad(
        "predict-missing-column",
        [*PREDICT, "models:/champ@champion"],
        "missing column(s) 'petal width (cm)'",
        {**DONE, "rows.csv": iris_rows(drop="petal width (cm)")},
    ),
    bad(
        "predict-text-where-numbers-belong",
        [*PREDICT, "models:/champ@champion"],
        "'sepal length (cm)'",
        {**DONE, "rows.csv": iris_rows(text="sepal length (cm)")},
    ),
]


@pytest.mark.slow  # each row's store holds a real finished search
@pytest.mark.parametrize("case", AFTER)
def test_after_the_search_bad_input_ends_with_one_error_line_and_exit_2(case: Bad, tmp_path: Path):
    _write(tmp_path, case.files)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(cli, list(case.args), prog_name="tuner")
    lines = result.output.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert case.expect in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _snapshot(tmp_path) == before, "nothing half-written"


def test_register_on_a_store_without_a_model_registry_is_refused_before_anything_is_written(tmp_path):
    before = _snapshot(tmp_path)
    args = [
        "search",
        "--quiet",
        "--data",
        "iris",
        "--register",
        "m",
        "--tracking-uri",
        f"file://{tmp_path}/fs",
    ]
    result = CliRunner().invoke(cli, args, prog_name="tuner")
    assert result.exit_code == 2 and result.output.startswith("error: --register: "), result.output
    assert "offers no model registry" in result.output and len(result.output.splitlines()) == 1
    assert _snapshot(tmp_path) == before
