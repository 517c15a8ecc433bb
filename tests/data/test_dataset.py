"""Datasets: bundled and file data, task inference, seeded splits.

Bad data files (and every other bad input) are the catalogue in tests/e2e/test_bad_input.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuner.data.dataset import infer_task, load_dataset
from tuner.errors import TunerError


@pytest.mark.parametrize(
    ("name", "task", "n"),
    [
        ("digits", "multiclass", 1797),
        ("breast_cancer", "binary", 569),
        ("diabetes", "regression", 442),
        ("iris", "multiclass", 150),
        ("wine", "multiclass", 178),
    ],
)
def test_bundled_datasets_load_offline_with_their_task(name, task, n):
    ds = load_dataset(name)
    assert ds.task == task
    assert ds.n_samples == n
    assert len(ds.y_test) == pytest.approx(0.2 * n, abs=1)
    assert len(ds.y_valid) == pytest.approx(0.2 * n, abs=1)


def test_split_is_seeded_disjoint_and_stratified():
    a, b, c = load_dataset("digits", seed=1), load_dataset("digits", seed=1), load_dataset("digits", seed=2)
    assert a.X_test.index.equals(b.X_test.index)
    assert not a.X_test.index.equals(c.X_test.index)
    train, valid, test = set(a.X_train.index), set(a.X_valid.index), set(a.X_test.index)
    assert not (train & valid or train & test or valid & test)
    assert len(train | valid | test) == 1797
    assert set(np.unique(a.y_test)) == set(range(10))


def test_preprocessing_scales_numbers_and_one_hot_encodes_categories(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "size": rng.normal(100, 20, 200),
            "color": rng.choice(["red", "green", "blue"], 200),
            "price": rng.normal(size=200),
        }
    )
    frame.loc[3, "size"] = np.nan
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(str(path), target="price")
    assert ds.task == "regression" and ds.categorical_columns == ("color",)
    prep = ds.make_preprocessor().fit(ds.X_train)
    Xt = prep.transform(ds.X_train)
    assert Xt.shape == (len(ds.y_train), 1 + 3)
    assert abs(Xt[:, 0].mean()) < 1e-6 and not np.isnan(Xt).any()


def test_parquet_npz_and_multilabel_targets(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    frame = pd.DataFrame(X, columns=list("abcd")).assign(l1=rng.integers(0, 2, 60), l2=rng.integers(0, 2, 60))
    frame.to_parquet(tmp_path / "d.parquet")
    ds = load_dataset(str(tmp_path / "d.parquet"), target="l1,l2")
    assert ds.task == "multilabel" and ds.y_train.shape[1] == 2
    np.savez(tmp_path / "d.npz", X=X, y=rng.integers(0, 3, 60))
    assert load_dataset(str(tmp_path / "d.npz")).task == "multiclass"


@pytest.mark.parametrize(
    ("y", "task"),
    [
        (np.array([0, 1, 1, 0]), "binary"),
        (np.array(["cat", "dog", "cow", "cat"]), "multiclass"),
        (np.array([0.5, 1.25, 3.0, 2.0]), "regression"),
        (np.array([[0, 1], [1, 1], [0, 0]]), "multilabel"),
        (np.arange(200), "regression"),
    ],
)
def test_task_inference(y, task):
    assert infer_task(y) == task


def test_task_can_be_overridden():
    assert load_dataset("diabetes", task="regression").task == "regression"
    assert load_dataset("breast_cancer", task="multiclass").task == "multiclass"


def test_an_unknown_task_through_the_api():
    """The CLI refuses it as a choice (tests/e2e/test_bad_input.py); the Python API here."""
    with pytest.raises(TunerError, match="unknown task 'ranking'; choose one of: regression"):
        load_dataset("digits", task="ranking")


def test_missing_features_are_imputed_not_refused(tmp_path):
    """NaN features are legitimate in tables: the preprocessing imputes them (infinite ones are refused)."""
    frame = pd.DataFrame({"a": [np.nan if i % 5 == 0 else i for i in range(30)], "y": np.arange(30) % 2})
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    ds = load_dataset(str(tmp_path / "gaps.csv"), target="y")
    assert not np.isnan(ds.make_preprocessor().fit(ds.X_train).transform(ds.X_valid)).any()


def test_a_changed_file_is_loaded_again(tmp_path):
    """The cache knows the file, not its name: the same path rewritten gives the new rows."""
    path = tmp_path / "d.csv"
    pd.DataFrame({"a": range(20), "y": np.arange(20) % 2}).to_csv(path, index=False)
    assert load_dataset(str(path), target="y").n_samples == 20
    pd.DataFrame({"a": range(30), "y": np.arange(30) % 2}).to_csv(path, index=False)
    assert load_dataset(str(path), target="y").n_samples == 30


@pytest.mark.parametrize("name", ["california_housing", "fashion_mnist"])
def test_online_loaders_fail_clearly_when_offline(name, tmp_path, monkeypatch):
    """The real loaders, offline on any machine: every download goes through a proxy that
    refuses connections (nothing listens on the discard port), and scikit-learn's cache is empty."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "scikit_learn_data"))
    try:
        ds = load_dataset(name)
    except TunerError as exc:
        assert f"could not download dataset {name!r}" in str(exc)
        assert "internet" in str(exc) and "bundled dataset" in str(exc)
    else:
        # Only Keras' cache (~/.keras, fixed when Keras is imported) can hold a copy from before:
        # then it must be the whole dataset.
        assert name == "fashion_mnist", "downloaded through a proxy that refuses every connection"
        assert len(ds.y_train) + len(ds.y_valid) + len(ds.y_test) == 70_000
