import json
import math

import pytest
import torch
from scipy import stats

from experiments.studies import run_robustness_study
from experiments.studies.robustness import (
    markdown_table,
    robustness_test_data,
    summarise,
    t_interval,
    train_model,
)
from lightning_mixup.data import SklearnDataModule
from lightning_mixup.evaluation import AttackModel


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_t_interval_matches_scipy():
    values = [0.61, 0.7, 0.64, 0.69, 0.72]
    ci = t_interval(values)
    low, high = stats.t.interval(0.95, df=4, loc=sum(values) / 5, scale=stats.sem(values))
    assert ci["low"] == pytest.approx(low) and ci["high"] == pytest.approx(high)
    assert math.isnan(t_interval([0.5])["low"])
    with pytest.raises(ValueError, match="at least one value"):
        t_interval([])


def test_summary_is_paired_by_seed():
    # seed effects dominate, the mixup effect is a constant +0.02: unpaired intervals overlap, the paired one is tight
    runs = [
        {"seed": s, "method": m, "metrics": {"acc": base + (0.02 if m == "mixup" else 0.0)}}
        for s, base in enumerate([0.5, 0.7, 0.6, 0.8, 0.55])
        for m in ("erm", "mixup")
    ]
    row = summarise(runs)["acc"]
    assert row["erm"]["low"] < row["mixup"]["mean"] < row["erm"]["high"]
    assert row["diff"]["mean"] == pytest.approx(0.02)
    assert row["diff"]["half_width"] == pytest.approx(0.0, abs=1e-12)
    table = markdown_table(summarise(runs))
    assert "| acc |" in table and "+0.0200" in table and " * |" in table
    with pytest.raises(ValueError, match=r"seeds \[0\] lack one"):
        summarise(runs[:1] + runs[2:])


def test_tabular_box_feeds_the_model_its_training_features():
    dm = SklearnDataModule("wine", batch_size=16)
    dm.setup("fit")
    test_loader, info = robustness_test_data(dm)
    unit = test_loader.dataset.tensors[0]
    assert bool(unit.min() >= 0) and bool(unit.max() <= 1)
    standardised = dm.test_set.tensors[0]
    model = AttackModel(torch.nn.Identity(), info["normalize_mean"], info["normalize_std"])
    low = dm.train_set.tensors[0].min(0).values
    high = dm.train_set.tensors[0].max(0).values
    expected = torch.maximum(torch.minimum(standardised, high), low)  # clipped to the training range
    assert torch.allclose(model(unit), expected, atol=1e-5)
    assert info["clipped_values"] == int(((standardised < low) | (standardised > high)).sum())


def test_erm_and_mixup_start_from_the_same_model():
    dm = SklearnDataModule("iris", batch_size=16)
    dm.setup("fit")
    erm = train_model(dm, method="erm", seed=3, arch="mlp", max_epochs=0, alpha=1.0, lr=1e-3, accelerator="cpu")
    mix = train_model(dm, method="mixup", seed=3, arch="mlp", max_epochs=0, alpha=1.0, lr=1e-3, accelerator="cpu")
    assert all(torch.equal(a, b) for a, b in zip(erm.state_dict().values(), mix.state_dict().values(), strict=True))
    with pytest.raises(ValueError, match="`method` to be one of"):
        train_model(dm, method="cutmix", seed=3, arch="mlp", max_epochs=0, alpha=1.0, lr=1e-3)


@pytest.mark.slow  # study
def test_small_study_writes_json_markdown_and_plots(tmp_path):
    out = run_robustness_study(
        "iris",
        seeds=(0, 1),
        max_epochs=2,
        fgsm_eps=[0.0, 0.1, 0.5],
        pgd_eps=[0.0, 0.5],
        pgdl2_eps=[0.0, 1.5],
        pgd_steps=3,
        accelerator="cpu",
        output_dir=tmp_path,
        progress=False,
    )
    assert [(r["seed"], r["method"]) for r in out["runs"]] == [(0, "erm"), (0, "mixup"), (1, "erm"), (1, "mixup")]
    assert {"clean_accuracy", "ece", "nll", "fgsm@0.1", "pgd@0.5", "pgdl2@1.5"} <= set(out["summary"])
    for name in ("json", "markdown", "accuracy_plot", "reliability_plot"):
        assert (tmp_path / out["files"][name].split("/")[-1]).stat().st_size > 0
    saved = json.loads((tmp_path / "iris.json").read_text())
    assert saved["summary"]["fgsm@0.1"]["diff"]["n"] == 2
    assert saved["config"]["input_space"].startswith("features min-max rescaled")
    assert "mixup − ERM" in (tmp_path / "iris.md").read_text()
    assert sum(out["reliability"]["erm"]["count"]) == 2 * out["config"]["test_examples"]


def test_study_errors():
    with pytest.raises(ValueError, match="`dataset` to be one of"):
        run_robustness_study("mnist")
    with pytest.raises(ValueError, match="`seeds` to be distinct ints"):
        run_robustness_study("iris", seeds=(1, 1))
