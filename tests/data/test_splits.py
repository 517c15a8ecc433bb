"""The splitting rules, directly: part sizes, stratification and its fallback, too few rows.

No file and no dataset: arrays made here, split by ``tuner.data.splits``. Loading and splitting
real data end to end is in tests/data/test_dataset.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuner.data.splits import holds_classes, split_rows, split_sizes, stratify_by
from tuner.errors import TunerError


def _rows(y) -> tuple[pd.DataFrame, np.ndarray]:
    y = np.asarray(y)
    return pd.DataFrame({"a": np.arange(len(y), dtype=float)}), y


def _classes(n: int, n_classes: int) -> np.ndarray:
    return np.arange(n) % n_classes


@pytest.mark.parametrize(
    ("n", "test_size", "sizes"),
    [
        (10, 0.2, (6, 2, 2)),
        (11, 0.2, (6, 2, 3)),  # both shares round up, so train takes what rounding leaves
        (12, 0.2, (6, 3, 3)),
        (100, 0.2, (60, 20, 20)),
        (1797, 0.2, (1077, 360, 360)),  # digits, the default 60/20/20
        (10, 0, (8, 2, 0)),  # --test-size 0: no test rows, validation still 20 % of all rows
        (31, 0, (24, 7, 0)),
        (150, 0.1, (104, 31, 15)),
        (100, 0.33, (46, 21, 33)),
        (20, 0.5, (6, 4, 10)),
    ],
)
def test_split_sizes(n, test_size, sizes):
    assert split_sizes(n, test_size) == sizes
    assert sum(sizes) == n


@pytest.mark.parametrize("test_size", [0, 0.1, 0.2, 0.33, 0.5])
@pytest.mark.parametrize("n", [11, 20, 37, 150])
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_the_split_makes_the_sizes_it_promises(n, test_size, task):
    X, y = _rows(_classes(n, 2) if task == "multiclass" else np.linspace(0, 1, n))
    split = split_rows("rows", X, y, task, seed=0, test_size=test_size)
    assert (len(split.y_train), len(split.y_valid), len(split.y_test)) == split_sizes(n, test_size)
    assert [len(x) for x in (split.X_train, split.X_valid, split.X_test)] == list(split_sizes(n, test_size))


def test_the_parts_are_disjoint_and_cover_every_row():
    X, y = _rows(_classes(40, 4))
    split = split_rows("rows", X, y, "multiclass", seed=3, test_size=0.2)
    parts = [set(part.index) for part in (split.X_train, split.X_valid, split.X_test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(range(40))


def test_test_size_0_keeps_no_test_rows_with_the_columns_still_there():
    X, y = _rows(_classes(20, 2))
    split = split_rows("rows", X, y, "binary", seed=0, test_size=0)
    assert len(split.X_test) == len(split.y_test) == 0
    assert list(split.X_test.columns) == ["a"]
    assert len(split.y_train) + len(split.y_valid) == 20


def test_the_same_seed_splits_the_same_way():
    X, y = _rows(_classes(50, 5))
    a, b = (split_rows("rows", X, y, "multiclass", seed=7, test_size=0.2) for _ in range(2))
    c = split_rows("rows", X, y, "multiclass", seed=8, test_size=0.2)
    assert a.X_test.index.equals(b.X_test.index)
    assert not a.X_test.index.equals(c.X_test.index)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_classification_is_stratified_so_every_part_holds_every_class(task):
    y = _classes(30, 2 if task == "binary" else 5)
    assert stratify_by(y, task) is y
    split = split_rows("rows", *_rows(y), task, seed=0, test_size=0.2)
    for part in (split.y_train, split.y_valid, split.y_test):
        assert set(part.tolist()) == set(y.tolist())


def test_regression_and_multilabel_are_not_stratified():
    assert stratify_by(np.linspace(0, 1, 30), "regression") is None
    assert stratify_by(np.eye(2, dtype=int)[_classes(30, 2)], "multilabel") is None


def test_a_class_too_rare_for_three_parts_falls_back_to_a_plain_split():
    """Two rows of a class cannot be in train, validation and test: the split is not stratified,
    and not refused either, whatever the other classes could fill."""
    y = np.array([0] * 14 + [1] * 14 + [2] * 2)
    assert stratify_by(y, "multiclass") is None
    assert stratify_by(np.array([0] * 14 + [1] * 13 + [2] * 3), "multiclass") is not None  # three will do
    split = split_rows("rows", *_rows(y), "multiclass", seed=0, test_size=0.2)
    assert (len(split.y_train), len(split.y_valid), len(split.y_test)) == split_sizes(30, 0.2)
    assert sorted(np.concatenate([split.y_train, split.y_valid, split.y_test]).tolist()) == sorted(y.tolist())


def test_too_few_rows_for_every_class_in_every_part_names_how_many_would_do():
    X, y = _rows(_classes(12, 4))  # 6/3/3 rows: validation and test cannot hold 4 classes
    with pytest.raises(TunerError) as caught:
        split_rows("small.csv", X, y, "multiclass", seed=0, test_size=0.2)
    assert str(caught.value) == (
        "small.csv: 12 rows are too few to split into train/validation/test rows (6/3/3) that each hold "
        "all 4 classes; give at least 17 rows, or --test-size 0 (no test split)"
    )
    assert not holds_classes(16, 4, 0.2) and holds_classes(17, 4, 0.2)  # 17 is the fewest that do
    split = split_rows("small.csv", *_rows(_classes(17, 4)), "multiclass", seed=0, test_size=0.2)
    for part in (split.y_train, split.y_valid, split.y_test):
        assert set(part.tolist()) == {0, 1, 2, 3}


def test_without_a_test_split_the_advice_counts_two_parts_and_offers_no_test_size_0():
    X, y = _rows(_classes(12, 4))  # 9/3/0 rows
    with pytest.raises(TunerError) as caught:
        split_rows("small.csv", X, y, "multiclass", seed=0, test_size=0)
    assert str(caught.value) == (
        "small.csv: 12 rows are too few to split into train/validation/test rows (9/3/0) that each hold "
        "all 4 classes; give at least 16 rows"
    )
    assert not holds_classes(15, 4, 0) and holds_classes(16, 4, 0)
    split_rows("small.csv", *_rows(_classes(16, 4)), "multiclass", seed=0, test_size=0)


def test_a_class_left_too_thin_for_the_second_split_is_refused_with_scikit_learns_reason():
    """Sizes allow every class, but half the rows go to test and take two of a class's three,
    leaving one for train and validation: scikit-learn's refusal becomes ours, with its reason."""
    y = np.array([0] * 10 + [1] * 3)
    assert holds_classes(13, 2, 0.5)
    with pytest.raises(
        TunerError, match=r"^thin: 13 rows are too few to split .* hold all 2 classes \(.+\); give"
    ):
        split_rows("thin", *_rows(y), "binary", seed=0, test_size=0.5)
