"""torchattacks is optional (the ``[robustness]`` extra): everything but running an attack works without it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "pip install 'lightning-mixup[robustness]'"

WITHOUT_TORCHATTACKS = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torchattacks':
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
sys.meta_path.insert(0, Block())

import lightning_mixup
for info in pkgutil.walk_packages(lightning_mixup.__path__, "lightning_mixup."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from lightning_mixup.evaluation import (
    AttackModel, AttackSuite, RobustnessCallback, RobustnessEvaluator, evaluate_robustness, fgsm_eps_sweep,
)
assert "torchattacks" not in sys.modules

torch.manual_seed(0)
net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
data = DataLoader(TensorDataset(torch.rand(8, 4), torch.randint(3, (8,))), batch_size=4)
result = evaluate_robustness(net, data, fgsm_eps=[], pgd_eps=[], pgdl2_eps=[])
print("calibration only:", result.num_examples, sorted(result.robust_accuracy))
AttackSuite(AttackModel(net), torch.device("cpu"))
calls = {
    "evaluate_robustness": lambda: evaluate_robustness(net, data, fgsm_eps=[0.1], pgd_eps=[], pgdl2_eps=[]),
    "RobustnessEvaluator": lambda: RobustnessEvaluator(net, 3),
    "RobustnessCallback": lambda: RobustnessCallback(),
    "AttackSuite": lambda: AttackSuite(AttackModel(net), torch.device("cpu"), pgd_eps=[0.1]),
    "fgsm_eps_sweep": lambda: fgsm_eps_sweep(None, torch.rand(2, 4, 1, 1), torch.tensor([0, 1]), [0.1]),
}
for name, call in calls.items():
    try:
        call()
    except ModuleNotFoundError as err:
        print(name, "->", str(err).replace(chr(10), " "))
    else:
        print(name, "-> no error")
"""


@pytest.mark.slow  # a subprocess importing the whole package
def test_plugin_works_without_torchattacks_until_an_attack_runs():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCHATTACKS], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "calibration only: 8 []"
    refused = dict(line.split(" -> ", 1) for line in lines[1:])
    assert set(refused) == {"evaluate_robustness", "RobustnessEvaluator", "RobustnessCallback", "AttackSuite",
                            "fgsm_eps_sweep"}  # fmt: skip
    for name, message in refused.items():
        assert message.startswith("The attacks of `lightning_mixup.evaluation` need torchattacks>=3.5.1"), name
        assert f"Install the robustness extra: {INSTALL} (or, where pip's torchvision" in message, name
        assert "`pip install --no-deps torchattacks==3.5.1`: see the install docs" in message, name
