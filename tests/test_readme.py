"""The README's copy-pasteable blocks run (the pip-install block is run by .ci/run in a fresh environment)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.cli import main, packaged_configs

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def section(heading):
    """The README text under a heading (any level), up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\n", README, flags=re.M)
    assert match, f"README has no section {heading!r}"
    body = README[match.end() :]
    end = re.search(rf"^#{{1,{len(match.group(1))}}} ", body, flags=re.M)
    return body[: end.start()] if end else body


def blocks(language, heading):
    return re.findall(rf"```{language}\n(.*?)```", section(heading), flags=re.S)


def commands(block):
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_two_setup_commands_come_first_and_ci_runs_the_test_one():
    first = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1)
    assert commands(first) == ["make demo", "make test"]
    assert blocks("bash", "Two commands on a fresh machine") == [first]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_pip_block_pins_torch_first_and_ci_runs_it():
    (block,) = blocks("bash", "Install with pip")
    lines = commands(block)
    pinned = (ROOT / "constraints.txt").read_text().split()
    assert lines[0] == f"pip install {pinned[0]}"  # the torch that constraints.txt pins, installed first
    assert lines[1] == "pip install -c constraints.txt ."
    assert lines[2].startswith("pip install --no-deps torchattacks==")
    command = lines[3].split()
    assert command[:3] == ["lightning-mixup", "fit", "--config"] and command[3] in packaged_configs()
    assert "Install with pip" in (ROOT / ".ci" / "run").read_text()


def test_callback_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the block as it is; Lightning's PL_TRAINER_* defaults only shorten its epochs (arguments it passes still win)
    monkeypatch.setenv("PL_TRAINER_LIMIT_TRAIN_BATCHES", "4")
    monkeypatch.setenv("PL_TRAINER_LIMIT_VAL_BATCHES", "2")
    monkeypatch.setenv("PL_TRAINER_ENABLE_PROGRESS_BAR", "False")
    namespace = {}
    exec(blocks("python", "1. The callback, on an unchanged classifier")[0], namespace)
    assert float(namespace["trainer"].callback_metrics["mixup/mixed_share"]) > 0.5


def test_mixin_examples_run(make_trainer):
    namespace = {}
    exec(blocks("python", "The mixin, for custom steps")[0], namespace)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 8, generator=g), torch.randint(3, (16,), generator=g))
    for name in ("Custom", "Manifold"):
        trainer = make_trainer(callbacks=[MixupCallback(alpha=1.0)])
        trainer.fit(namespace[name](), DataLoader(data, batch_size=8))
        assert float(trainer.callback_metrics["mixup/mixed_share"]) > 0.5


@pytest.mark.slow  # trains and evaluates end to end
def test_evaluation_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(blocks("python", "3. The evaluations")[0], namespace)
    result = namespace["result"]
    assert set(result.robust_accuracy) == {"fgsm", "pgd", "pgdl2"}
    assert result.robust_accuracy["fgsm"][0.0] == result.clean_accuracy


@pytest.mark.slow  # one subprocess per script
def test_script_blocks_have_working_help():
    for command in commands(blocks("bash", "3. The evaluations")[0]):
        words = command.split()
        assert words[:2] == ["python", "-m"], command
        module = words[2]
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr


@pytest.mark.slow  # a CLI fit
def test_cli_blocks_run(tmp_path, capsys):
    command = commands(blocks("bash", "2. The CLI, from a YAML config")[0])[0].split()
    assert command[:2] == ["lightning-mixup", "fit"]
    fragment = tmp_path / "fragment.yaml"
    fragment.write_text(blocks("yaml", "2. The CLI, from a YAML config")[0])
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
    with pytest.raises(SystemExit) as exit_info:  # the block's command as written (the script: tests/test_cli.py)
        main([*command[1:], "--print_config"])
    assert exit_info.value.code in (0, None) and "lightning_mixup.MixupCallback" in capsys.readouterr().out
