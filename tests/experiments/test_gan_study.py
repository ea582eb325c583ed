import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.gan.study import GANStudyConfig, run_gan_study
from lightning_mixup.gan import VERDICTS

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "architectures": [[8, 1]],
    "latent_dims": [2],
    "seeds": 2,
    "iterations": 6,
    "batch_size": 8,
    "d_steps": 2,
    "eval_every": 3,
    "eval_samples": 64,
    "snapshot_steps": [0, 6],
    "progress": False,
}


def test_study_writes_json_markdown_and_figures(tmp_path):
    result = run_gan_study({**TINY, "out": str(tmp_path), "learning_rates": [1e-3, 1e-4]})
    assert len(result["runs"]) == 2 * 2 * 2 * 2  # datasets × lrs × seeds × methods
    assert len(result["cells"]) == 8 and all(c["runs"] == 2 for c in result["cells"])
    for c in result["cells"]:
        assert sum(c[v] for v in VERDICTS) == pytest.approx(1.0)
    saved = json.loads((tmp_path / "gan_study.json").read_text())
    assert saved["cells"] == json.loads(json.dumps(result["cells"]))
    table = (tmp_path / "gan_study.md").read_text()
    assert (
        "| PacGAN Table 1 | GAN | ring | 6.3 | 98.2 |" in table
        and "| VEEGAN Table 1 | GAN | grid | 3.3 | n/a |" in table
    )
    assert "| ring | 8×1 | 0.001 | 2 | mixup |" in table
    for name in ("scatter_ring", "scatter_grid", "curves_ring", "curves_grid"):
        assert Path(result["files"][name]).stat().st_size > 1000
    assert result["paired"] and sum(result["paired"][0][k] for k in ("better", "tie", "worse")) == 2


def test_study_is_deterministic_and_restores_threads():
    threads = torch.get_num_threads()
    a = run_gan_study({**TINY, "datasets": ["ring"], "out": None, "num_threads": 1})
    b = run_gan_study({**TINY, "datasets": ["ring"], "out": None})
    assert torch.get_num_threads() == threads
    assert [r["trajectory"] for r in a["runs"]] == [r["trajectory"] for r in b["runs"]]


def test_quick_preset_is_small():
    quick = GANStudyConfig.quick()
    full = GANStudyConfig()
    assert quick.iterations < full.iterations and quick.seeds < full.seeds and len(quick.architectures) == 1
    assert full.seeds >= 5


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        ({"datasets": ["spiral"]}, ValueError, r"`datasets` to be a non-empty list from \('ring', 'grid'\)"),
        ({"methods": ["cutmix"]}, ValueError, r"`methods` to be a non-empty list from \('erm', 'paper', 'shuffle'\)"),
        ({"architectures": [[64]]}, ValueError, r"`architectures` to be a non-empty list of \[hidden units"),
        ({"learning_rates": [0.0]}, ValueError, "`learning_rates` to be positive floats"),
        ({"latent_dims": [0]}, ValueError, "`latent_dims` to be positive ints"),
        ({"seeds": 0}, ValueError, "`seeds` to be a positive int"),
        ({"num_threads": 0}, ValueError, "`num_threads` to be a positive int or None"),
        ({"verdict_window": 0}, ValueError, "`window` to be a positive int"),
        ({"epochs": 3}, ValueError, r"unknown keys \['epochs'\]"),
    ],
)
def test_invalid_configs(config, error, match):
    with pytest.raises(error, match=match):
        run_gan_study(config)


def test_config_of_wrong_type():
    with pytest.raises(TypeError, match="GANStudyConfig, a mapping or None, but got list"):
        run_gan_study([1, 2])  # type: ignore[arg-type]


def test_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "experiments.gan_study", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--quick" in out.stdout and "--seeds" in out.stdout and "--out" in out.stdout


@pytest.mark.parametrize("name", ["gan_ring_erm", "gan_ring_mixup", "gan_grid_erm", "gan_grid_mixup"])
def test_cli_configs_build_and_train(name, tmp_path):
    from lightning.pytorch.cli import LightningCLI

    from lightning_mixup import MixupCallback
    from lightning_mixup.gan import GANModule, GaussianMixtureDataModule

    args = [
        "--config",
        str(ROOT / "lightning_mixup" / "configs" / f"{name}.yaml"),
        "--trainer.max_steps=6",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={tmp_path}",
        "--model.init_args.g_hidden=8",
        "--model.init_args.d_hidden=8",
        "--data.init_args.num_samples=1024",
    ]
    cli = LightningCLI(run=False, args=args, save_config_callback=None)
    assert isinstance(cli.model, GANModule) and isinstance(cli.datamodule, GaussianMixtureDataModule)
    mixups = [cb for cb in cli.trainer.callbacks if isinstance(cb, MixupCallback)]
    assert len(mixups) == (1 if name.endswith("mixup") else 0)
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.global_step == 6


def test_benchmark_smoke(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_gan_batched", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    saved = json.loads((tmp_path / "gan_batched.json").read_text())
    assert len(saved["rows"]) == 4
    assert all(row["max_relative_weight_difference"] < 1e-3 for row in saved["rows"])
    assert "speed-up" in (tmp_path / "gan_batched.md").read_text()
