"""The README's copy-pasteable blocks run."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.cli import main

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_two_setup_commands_and_ci_agree():
    first = blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_callback_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(blocks("python")[0], namespace)
    assert float(namespace["trainer"].callback_metrics["mixup/mixed_share"]) > 0.5


def test_mixin_examples_run(make_trainer):
    namespace = {}
    exec(blocks("python")[2], namespace)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 8, generator=g), torch.randint(3, (16,), generator=g))
    for name in ("Custom", "Manifold"):
        trainer = make_trainer(callbacks=[MixupCallback(alpha=1.0)])
        trainer.fit(namespace[name](), DataLoader(data, batch_size=8))
        assert float(trainer.callback_metrics["mixup/mixed_share"]) > 0.5


def test_evaluation_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(blocks("python")[1], namespace)
    result = namespace["result"]
    assert set(result.robust_accuracy) == {"fgsm", "pgd", "pgdl2"}
    assert result.robust_accuracy["fgsm"][0.0] == result.clean_accuracy


def test_script_blocks_have_working_help():
    for line in blocks("bash")[2].splitlines():
        command = line.split("#")[0].split()
        assert command[0] == "python" and (ROOT / command[1]).exists()
        result = subprocess.run([sys.executable, command[1], "--help"], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr


def test_cli_blocks_run(tmp_path):
    command = blocks("bash")[1].split("#")[0].split()
    assert command[:2] == ["lightning-mixup", "fit"]
    fragment = tmp_path / "fragment.yaml"
    fragment.write_text(blocks("yaml")[0])
    cli = main(
        [
            *command[1:],
            "--config",
            str(fragment),
            "--trainer.fast_dev_run=2",
            "--trainer.accelerator=cpu",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
        ]
    )
    callbacks = [cb for cb in cli.trainer.callbacks if isinstance(cb, MixupCallback)]
    assert len(callbacks) == 1 and callbacks[0].policy.alpha == 0.2
    script = shutil.which("lightning-mixup", path=str(Path(sys.executable).parent))
    result = subprocess.run([script, *command[1:], "--print_config"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
