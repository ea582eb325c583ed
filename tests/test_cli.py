"""Every shipped config runs through the CLI with fast_dev_run."""

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.cli import main

CONFIGS = sorted((Path(__file__).parents[1] / "lightning_mixup" / "configs").glob("*.yaml"))
FAST = ["--trainer.fast_dev_run=2", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false"]


def run(config, tmp_path, subcommand="fit"):
    return main([subcommand, "--config", str(config), *FAST, f"--trainer.default_root_dir={tmp_path}"])


@pytest.mark.parametrize("config", [c for c in CONFIGS if not c.name.startswith("cifar")], ids=lambda c: c.stem)
def test_shipped_config_runs(config, tmp_path):
    cli = run(config, tmp_path)
    assert cli.trainer.state.finished
    mixup = [cb for cb in cli.trainer.callbacks if isinstance(cb, MixupCallback)]
    assert bool(mixup) == ("erm" not in config.stem)


class FakeCIFAR10(TensorDataset):
    """Stands in for torchvision.datasets.CIFAR10 (no network here): random 3×32×32 images in [0, 1]."""

    def __init__(self, root, train, transform=None, download=False):
        n = 300 if train else 100
        super().__init__(torch.rand(n, 3, 32, 32), torch.randint(10, (n,)))


@pytest.fixture
def fake_torchvision(monkeypatch):
    transforms = types.SimpleNamespace(
        ToTensor=lambda: None,
        Compose=lambda ts: None,
        RandomCrop=lambda *a, **k: None,
        RandomHorizontalFlip=lambda: None,
    )
    module = types.ModuleType("torchvision")
    module.datasets = types.SimpleNamespace(CIFAR10=FakeCIFAR10)
    module.transforms = transforms
    monkeypatch.setitem(sys.modules, "torchvision", module)


@pytest.mark.parametrize("config", [c for c in CONFIGS if c.name.startswith("cifar")], ids=lambda c: c.stem)
def test_cifar_configs_run_with_a_torchvision(config, tmp_path, fake_torchvision):
    cli = main(
        [
            "fit",
            "--config",
            str(config),
            *FAST,
            f"--trainer.default_root_dir={tmp_path}",
            "--data.init_args.num_workers=0",
            "--data.init_args.batch_size=8",
            "--data.init_args.val_size=50",
            "--trainer.precision=32-true",
        ]
    )
    assert cli.trainer.state.finished


def test_cifar_without_torchvision_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails
    with pytest.raises(ModuleNotFoundError, match="need a torchvision that matches torch.*pip install torchvision"):
        main(
            [
                "fit",
                "--config",
                str(CONFIGS[0].with_name("cifar10_erm.yaml")),
                *FAST,
                f"--trainer.default_root_dir={tmp_path}",
            ]
        )


def test_validate_and_test_subcommands(tmp_path):
    config = CONFIGS[0].with_name("digits_mixup.yaml")
    for sub in ("validate", "test"):
        assert run(config, tmp_path, sub).trainer.state.finished


def test_module_and_console_entry_points():
    result = subprocess.run([sys.executable, "-m", "lightning_mixup", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "fit" in result.stdout
    script = shutil.which("lightning-mixup", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "fit", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--trainer.callbacks" in result.stdout
