import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.gan import suite
from experiments.gan.study import SettingConfig, run_setting
from experiments.gan.suite import run_gan_study
from experiments.paths import CONFIGS as STUDY_CONFIGS
from lightning_mixup.gan import VERDICTS

ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = {"g_hidden": 8, "d_hidden": 8, "g_depth": 1, "d_depth": 1, "d_steps": 2}
TINY = {
    "datasets": ["ring", "grid"],
    "model": TINY_MODEL,
    "cells": [
        {"latent_dim": 2, "method": "erm", "alpha": 0.0},
        {"latent_dim": 2, "method": "shuffle", "alpha": 0.2},
        {"latent_dim": 2, "method": "paper", "alpha": 0.2},
    ],
    "seeds": 2,
    "iterations": 4,
    "batch_size": 8,
    "eval_every": 2,
    "eval_samples": 64,
    "snapshot_steps": [0, 4],
}


@pytest.mark.slow  # study
def test_setting_writes_json_markdown_and_figures(tmp_path):
    result = run_setting({**TINY, "name": "tiny"}, tmp_path)
    assert len(result["runs"]) == 2 * 3 * 2  # datasets × cells × seeds
    assert len(result["cells"]) == 6 and all(c["runs"] == 2 for c in result["cells"])
    for c in result["cells"]:
        assert sum(c[v] for v in VERDICTS) == pytest.approx(1.0)
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved["cells"] == json.loads(json.dumps(result["cells"]))
    assert len(result["paired"]) == 4  # two mixup arms × two datasets, each against its ERM runs
    pair = result["paired"][0]
    assert pair["pairs"] == 2 and pair["modes_captured"]["better"] + pair["modes_captured"]["worse"] <= 2
    assert pair["modes_captured"]["diff"] == pytest.approx(
        pair["modes_captured"]["mixup"] - pair["modes_captured"]["erm"]
    )
    table = (tmp_path / "tiny.md").read_text()
    assert "| ring (tiny) | 2 | shuffle α=0.2 | 2 |" in table and "uniform smear" in table
    for name in ("scatter_tiny_ring", "curves_tiny_grid"):
        assert Path(result["files"][name]).stat().st_size > 1000


def test_paired_runs_share_their_start_and_differ_only_by_mixing():
    result = run_setting({**TINY, "datasets": ["ring"], "iterations": 0, "eval_every": 1}, None)
    by_seed = {}
    for run in result["runs"]:
        by_seed.setdefault(run["seed"], set()).add(json.dumps(run["trajectory"]))
    assert all(len(t) == 1 for t in by_seed.values())  # at iteration 0 ERM and mixup runs are the same network


@pytest.mark.slow  # study
def test_suite_returns_the_orchestration_interface(tmp_path, monkeypatch):
    tiny = [SettingConfig(**{**TINY, "name": "authors", "datasets": ["ring"]})]
    pacgan = SettingConfig(**{**TINY, "name": "pacgan", "datasets": ["ring"], "cells": TINY["cells"][:2]})
    monkeypatch.setattr(suite, "settings", lambda demo: [*tiny, pacgan])
    result = suite.run(tmp_path, demo=True, workers=1)
    assert set(result) == {"markdown", "claims", "files", "seconds"}
    assert len(result["claims"]) == 3
    for row in result["claims"]:
        assert row["claim"] == suite.CLAIM and row["verdict"] in {"agrees", "disagrees", "inconclusive"}
        assert set(row) == {"claim", "setting", "measured", "verdict"}
    text = (tmp_path / "gan_report.md").read_text()
    assert "## Setting 3: the paper's Beta(α, α)" in text and "PacGAN Table 1: GAN | 6.3 | 98.2" in text
    assert "Baseline check: ring:" in text
    assert all(Path(f).exists() for f in result["files"])


@pytest.mark.slow  # study
def test_run_gan_study_keeps_the_old_interface(tmp_path):
    result = run_gan_study({**TINY, "datasets": ["ring"], "cells": TINY["cells"][:2], "out": str(tmp_path)})
    assert {e["method"] for e in result["summary"]} == {"erm", "shuffle α=0.2"}


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"datasets": ["spiral"]}, r"`datasets` to be a non-empty list from \('ring', 'grid', 'digits'\)"),
        ({"cells": []}, "at least one cell"),
        ({"cells": [{"latent_dim": 2, "method": "cutmix", "alpha": 0.2}]}, "Expected every cell to be"),
        ({"cells": [{"latent_dim": 2, "method": "paper", "alpha": 0.2}]}, r"latent sizes \[2\] have none"),
        ({"seeds": 0}, "`seeds` to be a positive int"),
        ({"num_threads": 0}, "`num_threads` to be a positive int or None"),
        ({"num_samples": 100}, r"`num_samples` to be None or an int >= batch_size \(128\), but got 100"),
        ({"verdict_window": 0}, "`window` to be an int >= 1"),
    ],
)
def test_invalid_settings(config, match):
    with pytest.raises(ValueError, match=match):
        SettingConfig(**config)


def test_settings_are_ordered_by_cost_for_the_workers():
    full = {cfg.name: cfg for cfg in suite.settings(demo=False)}
    assert suite._cost(full["authors"]) > suite._cost(full["digits"]) > 0


def test_study_settings_are_sized_as_the_issue_asks():
    full = {cfg.name: cfg for cfg in suite.settings(demo=False)}
    assert set(full) == {"authors", "pacgan", "digits"} and all(cfg.seeds >= 5 for cfg in full.values())
    authors = full["authors"]
    assert {c["alpha"] for c in authors.cells if c["method"] == "shuffle"} == {0.1, 0.2, 0.5, 1.0}
    assert {c["latent_dim"] for c in authors.cells} == {2, 5, 10}
    assert authors.model["g_objective"] == "saturating" and authors.model["d_steps"] == 5
    assert any(c["method"] == "paper" for c in authors.cells)  # setting 3 rides on setting 1's ERM runs
    assert full["pacgan"].model.get("g_objective", "non_saturating") == "non_saturating"
    assert [cfg.name for cfg in suite.settings(demo=True)] == ["authors", "digits"]


@pytest.mark.slow  # a subprocess
def test_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "experiments.gan_study", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "--demo" in out.stdout and "--setting" in out.stdout and "--set" in out.stdout


CONFIGS = sorted(p.stem for p in STUDY_CONFIGS.glob("gan_*.yaml"))


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: thread hand-offs only cost time on a shared machine
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", CONFIGS)
def test_cli_configs_build_and_train(name, tmp_path):
    from lightning.pytorch.cli import LightningCLI

    from lightning_mixup import MixupCallback
    from lightning_mixup.gan import GANModule, GANStabilityCallback

    args = [
        "--config",
        str(STUDY_CONFIGS / f"{name}.yaml"),
        "--trainer.max_steps=4",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={tmp_path}",
        "--model.init_args.g_hidden=8",
        "--model.init_args.d_hidden=8",
    ]
    cli = LightningCLI(run=False, args=args, save_config_callback=None)
    assert isinstance(cli.model, GANModule)
    mixups = [cb for cb in cli.trainer.callbacks if isinstance(cb, MixupCallback)]
    assert len(mixups) == (0 if name.endswith("erm") else 1)
    assert any(isinstance(cb, GANStabilityCallback) for cb in cli.trainer.callbacks)
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.global_step == 4


@pytest.mark.slow  # benchmark
def test_benchmark_smoke(tmp_path):
    from benchmarks import bench_gan_batched

    bench_gan_batched.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gan_batched.json").read_text())
    assert len(saved["rows"]) == 1
    assert all(row["max_relative_weight_difference"] < 1e-4 for row in saved["rows"])  # the same runs both ways
    assert "speed-up" in (tmp_path / "gan_batched.md").read_text()


def test_full_scale_runner_uses_the_original_sizes():
    from experiments.gan import full_scale

    authors, pacgan = full_scale.full_setting("authors"), full_scale.full_setting("pacgan")
    assert (authors.model["g_hidden"], authors.model["d_hidden"], authors.model["g_depth"]) == (512, 512, 3)
    assert (pacgan.model["g_hidden"], pacgan.model["d_hidden"], pacgan.model["d_maxout"]) == (400, 200, 5)
    specs = full_scale.groups()
    assert {(s["setting"], s["dataset"]) for s in specs} == {
        (name, data) for name in ("authors", "pacgan") for data in ("ring", "grid")
    }
    shuffle = next(s for s in specs if s["setting"] == "authors" and s["form"] == "shuffle")
    assert shuffle["alphas"] == [0.1, 0.2, 0.5, 1.0]


def _pair(modes=(0.0, 0.0), hq=(0.0, 0.0), hq_mixup=0.9, conv=(0.0, 0.0), coll=(0.0, 0.0), div=(0.0, 0.0)):
    def entry(low_high, mixup=0.5):
        low, high = low_high
        return {"low": low, "high": high, "diff": (low + high) / 2, "mixup": mixup, "erm": 0.5}

    return {
        "modes_captured": entry(modes),
        "high_quality_share": entry(hq, hq_mixup),
        "converged": entry(conv),
        "mode-collapsed": entry(coll),
        "diverged": entry(div),
    }


@pytest.mark.parametrize(
    ("pair", "verdict"),
    [
        (_pair(conv=(0.2, 0.8)), "agrees"),
        (_pair(modes=(1.0, 3.0)), "agrees"),  # more modes from sharp samples
        (_pair(modes=(1.0, 3.0), hq_mixup=0.03), "inconclusive"),  # more modes, but as blurry as a smear
        (_pair(modes=(1.0, 3.0), div=(0.2, 0.6)), "inconclusive"),  # more modes, but more runs diverge
        (_pair(hq=(-0.5, -0.1)), "disagrees"),
        (_pair(coll=(0.2, 0.6)), "disagrees"),
        (_pair(modes=(-1.0, 2.0)), "inconclusive"),
    ],
)
def test_claim_verdict(pair, verdict):
    assert suite._verdict(pair) == verdict
