"""Every shipped config runs through the CLI with fast_dev_run; `--config` takes a packaged config's name."""

import runpy
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.cli import main, packaged_configs, resolve_config, resolve_config_args

CONFIGS = sorted((Path(__file__).parents[1] / "lightning_mixup" / "configs").glob("*.yaml"))
FAST = ["--trainer.fast_dev_run=2", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false"]


def run(config, tmp_path, subcommand="fit"):
    return main([subcommand, "--config", str(config), *FAST, f"--trainer.default_root_dir={tmp_path}"])


# gan_* configs run in tests/experiments/test_gan_study.py; CIFAR-10 ones below, with a stand-in torchvision
TRAINED = [c for c in CONFIGS if not c.name.startswith(("cifar", "gan_"))]


@pytest.mark.parametrize("config", TRAINED, ids=lambda c: c.stem)
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
@pytest.mark.slow  # CLI fits of the CIFAR ResNet configs
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


def test_packaged_config_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = main(["fit", "--config", "iris_mixup", *FAST, f"--trainer.default_root_dir={tmp_path}"])
    assert cli.trainer.state.finished and cli.datamodule.dataset == "iris"
    expected = str(packaged_configs()["iris_mixup"])
    for args in (["-c", "iris_mixup.yaml"], ["--config=iris_mixup"], ["--config", "iris_mixup.yml"]):
        assert expected in resolve_config_args(["fit", *args])[-1]
    assert set(packaged_configs()) == {c.stem for c in CONFIGS}


def test_an_existing_file_wins_over_a_packaged_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("digits_mixup.yaml", "digits_mixup"):
        (tmp_path / name).write_text("trainer: {max_epochs: 1}\n")
        assert resolve_config(name) == name
    inline = "{trainer: {max_epochs: 1}}"
    assert resolve_config(inline) == inline
    assert resolve_config("configs/missing.yaml") == "configs/missing.yaml"  # a path: LightningCLI reports it


def test_an_unknown_name_lists_the_packaged_ones(tmp_path, capsys):
    expected = (
        r"Expected argument `--config` to be a config file or the name of a packaged config \(breast_cancer_erm, "
    )
    with pytest.raises(ValueError, match=expected + r".*digits_mixup.*\), but got 'digits_mixpu', which is neither"):
        resolve_config("digits_mixpu")
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "digits_mixpu.yaml", f"--trainer.default_root_dir={tmp_path}"])
    assert exit_info.value.code == 2
    assert "but got 'digits_mixpu.yaml', which is neither" in capsys.readouterr().err


@pytest.mark.slow  # CLI subprocess
def test_console_script_and_module_entry_points(tmp_path, monkeypatch, capsys):
    # the console script: a real fit from a directory without configs; exit status 0 (entry_point returns nothing)
    script = shutil.which("lightning-mixup", path=str(Path(sys.executable).parent))
    assert script is not None
    command = [script, "fit", "--config", "iris_mixup", *FAST]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    # python -m lightning_mixup (in-process): the same entry point; --config's help names the packaged configs
    monkeypatch.setattr(sys, "argv", ["lightning-mixup", "fit", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("lightning_mixup", run_name="__main__")
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--trainer.callbacks" in help_text and all(name in help_text for name in packaged_configs())


def test_cli_page_lists_the_packaged_configs():
    page = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    unlisted = [name for name in packaged_configs() if f"`{name}`" not in page and not name.startswith("gan_")]
    assert unlisted == [], "add them to the table of docs/cli.md"
    assert "`gan_*`" in page
