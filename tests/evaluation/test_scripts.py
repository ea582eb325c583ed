import importlib.util
import json
from pathlib import Path

import pytest

from lightning_mixup.data import SklearnDataModule
from lightning_mixup.models import Classifier

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    return importlib.import_module(f"experiments.{name}")


@pytest.mark.parametrize("name", ["evaluate_checkpoint", "robustness_study"])
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script(name).main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_evaluate_checkpoint_end_to_end(tmp_path, test_trainer, capsys):
    dm = SklearnDataModule("iris", batch_size=16)
    model = Classifier("mlp", input_shape=[4], num_classes=3, lr=0.01)
    trainer = test_trainer(max_epochs=3, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    path = tmp_path / "iris.ckpt"
    trainer.save_checkpoint(path)
    out = tmp_path / "result.json"
    code = load_script("evaluate_checkpoint").main(
        [
            str(path),
            "--dataset",
            "iris",
            "--fgsm-eps",
            "0",
            "0.1",
            "--pgd-eps",
            "0.1",
            "--pgdl2-eps",
            "--pgd-steps",
            "2",
            "--accelerator",
            "cpu",
            "--out",
            str(out),
            "--flags",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert "clean accuracy" in printed and "eps0_is_clean[fgsm]" in printed
    saved = json.loads(out.read_text())
    assert code == (0 if saved["passed"] else 1)
    assert saved["num_examples"] == 30 and len(saved["clean_correct"]) == 30
    assert saved["robust_accuracy"]["fgsm"]["0"] == saved["clean_accuracy"]
    assert saved["input_space"].startswith("features min-max rescaled")


def test_robustness_study_script_arguments():
    args = load_script("robustness_study").parse_args(["--quick", "--datasets", "iris", "wine", "--seeds", "3"])
    assert args.quick and args.datasets == ["iris", "wine"] and args.seeds == 3
    with pytest.raises(SystemExit):
        load_script("robustness_study").parse_args(["--seeds", "0"])
