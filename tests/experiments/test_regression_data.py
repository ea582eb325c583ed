import csv
import gzip
import io
import json

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch.utils.data import DataLoader, TensorDataset

from experiments.regression import study as regression_study
from experiments.regression.data import (
    INSTALL_LINE,
    REGRESSION_TABLES,
    TABLES,
    Standardizer,
    fold_indices,
    load_regression_table,
    package_dir,
)
from experiments.regression.study import StudyConfig, markdown_table, run_fold, run_study, wilcoxon_vs_erm
from lightning_mixup import MixupCallback

# (rows, features) after preprocessing: the sizes the sources document (ISLR: Hitters 263 players with a salary,
# Auto 392 cars, ...), the features counted from each table's columns, one-hot levels and drops.
SHAPES = {
    "islp_hitters": (263, 22),
    "islp_auto": (392, 9),
    "islp_carseats": (400, 14),
    "islp_credit": (400, 15),
    "sklearn_diabetes": (442, 10),
    "islp_boston": (506, 12),
    "dmba_airfares": (638, 17),
    "islp_college": (777, 18),
    "dmba_tayko": (1000, 22),
    "dmba_toyota": (1436, 46),
    "islp_wage": (3000, 22),
    "dmba_westroxbury": (5802, 14),
    "islp_bikeshare": (8645, 52),
}


def _raw(name):
    spec = TABLES[name]
    raw = (package_dir(spec.package) / spec.file).read_bytes()
    if spec.file.endswith(".gz"):
        raw = gzip.decompress(raw)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    return [{k.strip(): v.strip() for k, v in r.items()} for r in rows]


def test_there_are_at_least_ten_tables_of_mixed_sizes():
    assert len(REGRESSION_TABLES) >= 10
    assert set(REGRESSION_TABLES) == set(SHAPES)
    sizes = [SHAPES[n][0] for n in REGRESSION_TABLES]
    assert sizes == sorted(sizes)  # smallest first
    assert min(sizes) < 500 and max(sizes) > 5000


@pytest.mark.parametrize("name", REGRESSION_TABLES)
def test_every_table_loads_finite_float32_with_its_source(name):
    x, y, source = load_regression_table(name)
    assert (x.shape, y.shape) == (SHAPES[name], (SHAPES[name][0],))
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert np.isfinite(x).all() and np.isfinite(y).all()
    assert (x.std(axis=0) > 0).all() and y.std() > 0  # constant columns are dropped
    spec = TABLES[name]
    assert source.startswith(f"{spec.package} ") and f"{spec.package}/{spec.file}" in source
    assert spec.citation in source


@pytest.mark.parametrize("name", [n for n in REGRESSION_TABLES if TABLES[n].package != "sklearn"])
def test_target_and_rows_match_the_raw_file(name):
    """The target column read independently with csv.DictReader, after the table's documented row rules."""
    spec = TABLES[name]
    rows = _raw(name)
    if spec.keep_row is not None:
        rows = [r for r in rows if spec.keep_row(r)]
    rows = [r for r in rows if all(v not in ("", "NA") for v in r.values())]
    _, y, _ = load_regression_table(name)
    np.testing.assert_allclose(y, np.asarray([float(r[spec.target]) for r in rows], dtype=np.float32))


def test_diabetes_is_sklearns():
    from sklearn.datasets import load_diabetes

    x, y, _ = load_regression_table("sklearn_diabetes")
    ref_x, ref_y = load_diabetes(return_X_y=True, scaled=False)
    np.testing.assert_array_equal(x, ref_x.astype(np.float32))
    np.testing.assert_array_equal(y, ref_y.astype(np.float32))


def test_categoricals_are_one_hot_and_missing_rows_dropped():
    x, _, _ = load_regression_table("islp_carseats")
    raw = _raw("islp_carseats")
    # ShelveLoc (Bad, Good, Medium) comes after CompPrice, Income, Advertising, Population, Price: columns 5-7
    shelve = x[:, 5:8]
    assert set(np.unique(shelve).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(shelve.sum(axis=1), np.ones(len(x)))
    np.testing.assert_array_equal(shelve.argmax(axis=1), [["Bad", "Good", "Medium"].index(r["ShelveLoc"]) for r in raw])
    raw_hitters = _raw("islp_hitters")
    assert len(raw_hitters) == 322
    assert load_regression_table("islp_hitters")[0].shape[0] == sum(r["Salary"] != "" for r in raw_hitters)


def test_leaks_are_not_features():
    """Bikeshare's casual + registered add up to the target; no feature column may equal it."""
    x, y, _ = load_regression_table("islp_bikeshare")
    raw = _raw("islp_bikeshare")
    total = np.asarray([float(r["casual"]) + float(r["registered"]) for r in raw], dtype=np.float32)
    np.testing.assert_array_equal(total, y)
    assert not any(np.array_equal(x[:, j], y) for j in range(x.shape[1]))


def test_unknown_table_and_missing_package_raise():
    with pytest.raises(ValueError, match="Expected argument `name` to be one of"):
        load_regression_table("airfoil")
    with pytest.raises(ModuleNotFoundError, match=INSTALL_LINE.replace(".", r"\.")):
        package_dir("no_such_package_for_regression_tables")


@pytest.mark.parametrize(("n", "num_folds"), [(263, 10), (442, 10), (11, 3)])
def test_folds_partition_the_rows(n, num_folds):
    folds = [fold_indices(n, k, num_folds, seed=0) for k in range(num_folds)]
    tests = np.concatenate([f.test for f in folds])
    np.testing.assert_array_equal(np.sort(tests), np.arange(n))
    for f in folds:
        assert len(np.intersect1d(f.train, f.test)) == 0
        np.testing.assert_array_equal(np.sort(np.concatenate([f.train, f.test])), np.arange(n))
        assert len(f.val) == 0
    sizes = [len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= 1


def test_folds_are_shuffled_reproducible_and_seeded():
    a, b, c = fold_indices(100, 3, seed=0), fold_indices(100, 3, seed=0), fold_indices(100, 3, seed=1)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)
    assert not np.array_equal(a.test, np.arange(30, 40))  # not KFold's unshuffled block


def test_inner_validation_split_comes_from_the_training_rows():
    full = fold_indices(200, 4, seed=0)
    f = fold_indices(200, 4, seed=0, val_fraction=0.1)
    assert len(f.val) == 18 and len(f.train) == 162
    np.testing.assert_array_equal(np.sort(np.concatenate([f.train, f.val])), full.train)
    np.testing.assert_array_equal(f.test, full.test)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fold": 10}, "Expected argument `fold` to be an int in \\[0, 10\\)"),
        ({"fold": -1}, "Expected argument `fold`"),
        ({"num_folds": 1}, "Expected argument `num_folds` to be an int in \\[2, 20\\]"),
        ({"num_folds": 21}, "Expected argument `num_folds`"),
        ({"val_fraction": 1.0}, "Expected argument `val_fraction` to be a float in \\[0, 1\\)"),
    ],
)
def test_fold_argument_errors(kwargs, match):
    args = {"n": 20, "fold": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        fold_indices(**args)


def test_standardizer_uses_training_rows_only():
    x, y, _ = load_regression_table("islp_auto")
    f = fold_indices(len(y), 0, seed=0)
    s = Standardizer(x[f.train], y[f.train])
    xt, yt = s.x(x[f.train]), s.y(y[f.train])
    np.testing.assert_allclose(xt.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(xt.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(s.y_inverse(yt), y[f.train], rtol=1e-5)
    assert abs(float(s.y(y[f.test]).mean())) > 1e-4  # the test fold's statistics are not used
    constant = Standardizer(np.ones((4, 1)), np.arange(4.0))
    np.testing.assert_array_equal(constant.x(np.full((2, 1), 3.0)), [[2.0], [2.0]])


# --- the study -------------------------------------------------------------------------------------------------

TINY = StudyConfig(max_steps=8, batch_size=16, alpha=1.0)


def test_mixup_arm_mixes_and_erm_is_reproducible():
    x, y, _ = load_regression_table("islp_hitters")
    erm, erm_again = run_fold(x, y, 0, "erm", TINY), run_fold(x, y, 0, "erm", TINY)
    mixup = run_fold(x, y, 0, "mixup", TINY)
    assert erm["rmse"] == erm_again["rmse"] and erm["train_loss"] == erm_again["train_loss"]
    assert erm["steps"] == mixup["steps"] == 8
    assert mixup["train_loss"] != erm["train_loss"]
    assert mixup["rmse"] != erm["rmse"]


def test_mixup_interpolates_float_targets_for_the_mse_step(monkeypatch):
    """What the step sees: targets λ·y_i + (1-λ)·y_j for inputs λ·x_i + (1-λ)·x_j (one λ per batch)."""
    seen = []
    original = regression_study.RegressionMLP.training_step

    def spy(self, batch, batch_idx):
        seen.append((batch[0].clone(), batch[1].clone()))
        return original(self, batch, batch_idx)

    monkeypatch.setattr(regression_study.RegressionMLP, "training_step", spy)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g).numpy()
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32)).astype(np.float32)  # y is linear in x
    run_fold(x, y, 0, "mixup", StudyConfig(max_steps=3, batch_size=16, alpha=1.0, num_folds=2))
    assert len(seen) == 3
    f = fold_indices(64, 0, 2)
    s = Standardizer(x[f.train], y[f.train])
    w = torch.from_numpy(np.array([1.0, -2.0, 0.5], dtype=np.float32) * s.x_std / s.y_std)
    b = float((s.x_mean @ np.array([1.0, -2.0, 0.5]) - s.y_mean) / s.y_std)
    for xb, yb in seen:
        assert yb.shape == (16,)
        # a linear target stays linear under interpolation: mixed targets = the map of the mixed inputs
        torch.testing.assert_close(yb, xb @ w + b, atol=1e-4, rtol=1e-4)
    originals = {tuple(np.round(r, 5)) for r in s.x(x[f.train]).tolist()}
    assert any(tuple(np.round(r, 5)) not in originals for xb, _ in seen for r in xb.tolist())


def test_a_trained_erm_model_beats_the_training_mean():
    x, y, _ = load_regression_table("sklearn_diabetes")
    f = fold_indices(len(y), 0, seed=0)
    baseline = float(np.sqrt(np.mean((y[f.test] - y[f.train].mean()) ** 2)))
    out = run_fold(x, y, 0, "erm", StudyConfig(max_steps=150))
    assert out["rmse"] < 0.9 * baseline  # in y's units: standardisation is undone


def test_unknown_arms_raise():  # the cmixup arm: tests/experiments/test_regression_study.py
    x, y, _ = load_regression_table("islp_hitters")
    with pytest.raises(ValueError, match="Expected argument `arm` to be one of"):
        run_fold(x, y, 0, "cutmix", TINY)
    with pytest.raises(ValueError, match="Expected every arm to be one of"):
        run_study(["islp_hitters"], TINY, [0], ["erm", "manifold"])
    with pytest.raises(ValueError, match="Expected the arms to include 'erm'"):  # before any training
        run_study(["islp_hitters"], TINY, [0], ["cmixup"])


def test_study_runs_end_to_end_and_writes_json_and_markdown(tmp_path):
    tables = ["islp_hitters", "islp_auto"]
    study = run_study(tables, TINY, folds=[0, 3], out=tmp_path)
    saved = json.loads((tmp_path / "regression_study.json").read_text())
    assert saved["arms"] == ["erm", "mixup", "cmixup"] and saved["folds"] == [0, 3]
    assert saved["config"]["max_steps"] == 8
    for t, name in zip(saved["tables"], tables, strict=True):
        assert t["name"] == name and (t["n"], t["d"]) == SHAPES[name]
        assert [f["fold"] for f in t["folds"]] == [0, 3]
        for f in t["folds"]:
            assert f["n_train"] + f["n_test"] == t["n"]
            assert set(f["arms"]) == {"erm", "mixup", "cmixup"}
            assert all(f["arms"][a]["rmse"] > 0 and f["arms"][a]["steps"] == 8 for a in f["arms"])
        for arm in ("erm", "mixup", "cmixup"):
            assert t["mean_rmse"][arm] == pytest.approx(np.mean([f["arms"][arm]["rmse"] for f in t["folds"]]))
    assert saved["wilcoxon"]["mixup"] == pytest.approx(wilcoxon_vs_erm(study["tables"], "mixup"), nan_ok=True)
    md = (tmp_path / "regression_study.md").read_text()
    assert md == markdown_table(study) and "| islp_auto | 392 | 9 |" in md and "Wilcoxon" in md


def test_wilcoxon_is_scipys_on_relative_differences():
    rmse = [(10.0, 9.0), (2.0, 2.5), (100.0, 90.0), (1.0, 0.7), (5.0, 5.0), (3.0, 2.7)]
    tables = [{"mean_rmse": {"erm": e, "mixup": m}} for e, m in rmse]
    out = wilcoxon_vs_erm(tables, "mixup")
    d = [m / e - 1 for e, m in rmse]
    ref = stats.wilcoxon(d, zero_method="zsplit")
    assert out["pvalue"] == pytest.approx(ref.pvalue) and out["statistic"] == pytest.approx(ref.statistic)
    assert (out["wins"], out["losses"], out["ties"], out["n_tables"]) == (4, 1, 1, 6)
    assert out["median_relative_difference"] == pytest.approx(float(np.median(d)))
    same = wilcoxon_vs_erm([{"mean_rmse": {"erm": 1.0, "mixup": 1.0}}] * 3, "mixup")
    assert same["pvalue"] == 1.0 and same["ties"] == 3


def test_command_line_quick_options(tmp_path, monkeypatch):
    calls = {}

    def fake_run_study(tables, config, folds, arms, out, jobs=1):
        calls.update(tables=tables, config=config, folds=folds, arms=arms, out=out, jobs=jobs)
        w = {"n_tables": 0, "wins": 0, "losses": 0, "ties": 0, "median_relative_difference": 0.0, "pvalue": 1.0}
        return {"arms": arms, "tables": [], "wilcoxon": {"mixup": w, "cmixup": w}, "seconds": 0.0}

    monkeypatch.setattr(regression_study, "run_study", fake_run_study)
    regression_study.main(["--quick", "--out", str(tmp_path), "--steps", "7", "--jobs", "2"])
    assert calls["tables"] == regression_study.QUICK_TABLES and calls["folds"] == [0, 1]
    assert calls["config"].max_steps == 7 and calls["jobs"] == 2 and calls["arms"] == ["erm", "mixup", "cmixup"]


def test_parallel_tables_give_the_same_results():
    tables = ["islp_hitters", "islp_auto"]
    config = StudyConfig(max_steps=4, batch_size=16)
    one, two = run_study(tables, config, [1], jobs=1), run_study(tables, config, [1], jobs=2)
    for a, b in zip(one["tables"], two["tables"], strict=True):
        for arm in ("erm", "mixup"):
            assert a["folds"][0]["arms"][arm]["rmse"] == b["folds"][0]["arms"][arm]["rmse"]
            assert a["folds"][0]["arms"][arm]["train_loss"] == b["folds"][0]["arms"][arm]["train_loss"]


@pytest.mark.parametrize("shape", [(16,), (16, 1)])
def test_callback_interpolates_float_targets_of_either_shape(tmp_path, shape):
    """MixupCallback hands an unchanged MSE step plain float targets λ·y_i + (1-λ)·y_j, as (B,) or (B, 1)."""
    seen = []

    class Probe(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            seen.append((x.clone(), y.clone(), type(y)))
            out = self.net(x)
            return F.mse_loss(out if y.ndim == 2 else out.squeeze(-1), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    y = (3 * x[:, 0] - x[:, 1]).reshape(shape)
    trainer = pl.Trainer(
        max_steps=2, callbacks=[MixupCallback(alpha=1.0, seed=0, log=False)], logger=False, enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(Probe(), DataLoader(TensorDataset(x, y), batch_size=16))
    for xb, yb, kind in seen:
        assert kind is torch.Tensor and yb.shape == shape and yb.dtype == torch.float32
        torch.testing.assert_close(yb, (3 * xb[:, 0] - xb[:, 1]).reshape(shape))
        assert not torch.allclose(xb, x)  # the inputs were mixed
