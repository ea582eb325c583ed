"""Hostile inputs to the public evaluation API: each gives a clear error (or a defined, documented result)."""

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from lightning_mixup.evaluation import evaluate_robustness, to_unit_inputs
from tests.evaluation.conftest import TinyLitClassifier, make_images

GRID: dict[str, Any] = {"fgsm_eps": [0.0, 0.1], "pgd_eps": [], "pgdl2_eps": []}


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def data(x: Tensor | None = None, y: Tensor | None = None, batch_size: int = 8) -> DataLoader:
    images, labels = make_images(16)
    return DataLoader(TensorDataset(images if x is None else x, labels if y is None else y), batch_size=batch_size)


class _Empty(IterableDataset):
    def __iter__(self):
        return iter(())


class _Outputs(nn.Module):
    """Returns whatever ``make`` builds from the logits of a small linear model."""

    def __init__(self, make: Callable[[Tensor], Any]) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 3)
        self.make = make

    def forward(self, x: Tensor) -> Any:
        return self.make(self.linear(x.flatten(1)))


def _directory(tmp_path) -> dict[str, Any]:
    (tmp_path / "sharded.ckpt").mkdir()
    return {"model": str(tmp_path / "sharded.ckpt"), "checkpoint_class": TinyLitClassifier}


def _garbage(tmp_path) -> dict[str, Any]:
    (tmp_path / "notes.ckpt").write_text("hello")
    return {"model": str(tmp_path / "notes.ckpt"), "checkpoint_class": TinyLitClassifier}


def _state_dict_without_kwargs(tmp_path) -> dict[str, Any]:
    torch.save(TinyLitClassifier(hidden=5).state_dict(), tmp_path / "w.pt")
    return {"model": str(tmp_path / "w.pt"), "checkpoint_class": TinyLitClassifier}


CASES: dict[str, tuple[Callable[[Any], dict[str, Any]], type[Exception], str]] = {
    # data
    "empty dataloader, no num_classes": (
        lambda _: {"dataloader": DataLoader(TensorDataset(torch.rand(0, 16), torch.zeros(0, dtype=torch.long)))},
        ValueError, "Expected a dataloader with at least one batch, but it is empty",
    ),
    "empty iterable dataloader, no num_classes": (
        lambda _: {"dataloader": DataLoader(_Empty(), batch_size=4)},
        ValueError, "Expected a dataloader with at least one batch, but it is empty",
    ),
    "empty iterable dataloader, num_classes given": (
        lambda _: {"dataloader": DataLoader(_Empty(), batch_size=4), "num_classes": 3},
        ValueError, "Expected a dataloader with at least one example, but the evaluation saw none",
    ),
    "int64 inputs": (
        lambda _: {"dataloader": data(x=(make_images(16)[0] * 255).long())},
        ValueError, r"Expected float inputs in \[0, 1\] \(or uint8 images in 0-255, divided by 255\), but got a "
                    r"torch.int64 tensor",
    ),
    "bool inputs": (
        lambda _: {"dataloader": data(x=make_images(16)[0] > 0.5), "num_classes": 3},
        ValueError, r"Expected float inputs in \[0, 1\].*torch.bool",
    ),
    "inputs of shape (B,)": (
        lambda _: {"dataloader": DataLoader(TensorDataset(torch.rand(8), torch.zeros(8, dtype=torch.long)),
                                            batch_size=4), "num_classes": 3},
        ValueError, r"Expected inputs of shape \(B, \.\.\.\), but got a torch.float32 tensor of shape \(4,\)",
    ),
    "nan inputs": (
        lambda _: {"dataloader": data(x=make_images(16)[0].masked_fill(torch.rand(16, 1, 4, 4) < 0.1, math.nan)),
                   "num_classes": 3},
        ValueError, r"Expected finite inputs, but got \d+ non-finite values",
    ),
    "label out of range": (
        lambda _: {"dataloader": data(y=torch.arange(16) % 4)},
        ValueError, r"Expected targets in \[0, 2\] \(num_classes=3\), but got values in \[0, 3\]",
    ),
    "negative label": (
        lambda _: {"dataloader": data(y=torch.arange(16) % 3 - 1)},
        ValueError, r"Expected targets in \[0, 2\] \(num_classes=3\), but got values in \[-1, 1\]",
    ),
    "float labels": (
        lambda _: {"dataloader": data(y=(torch.arange(16) % 3).float())},
        ValueError, r"Expected integer targets of shape \(8,\), but got a torch.float32 tensor",
    ),
    "(B, 1) labels": (
        lambda _: {"dataloader": data(y=(torch.arange(16) % 3).view(16, 1))},
        ValueError, r"Expected integer targets of shape \(8,\), but got a torch.int64 tensor of shape \(8, 1\)",
    ),
    # the model
    "model returns a tuple": (
        lambda _: {"model": _Outputs(lambda z: (z, z)), "num_classes": 3},
        ValueError, r"Expected the model to return logits of shape \(8, 3\), but got a tuple",
    ),
    "model returns a tuple, num_classes inferred": (
        lambda _: {"model": _Outputs(lambda z: (z, z))},
        ValueError, r"Expected the model to return logits of shape \(B, C\), but got a tuple",
    ),
    "model returns one logit": (
        lambda _: {"model": _Outputs(lambda z: z[:, :1])},
        ValueError, r"at least 2 logits per example \(a binary classifier returns 2\), but got shape \(2, 1\)",
    ),
    "model returns nan": (
        lambda _: {"model": _Outputs(lambda z: z * math.nan)},
        ValueError, "Expected finite logits, but the model returned nan or inf on clean inputs",
    ),
    "model is a class": (
        lambda _: {"model": TinyLitClassifier},
        TypeError, "Expected argument `model` to be an nn.Module or a checkpoint path, but got type",
    ),
    # checkpoints
    "checkpoint path is a directory": (_directory, IsADirectoryError, r"sharded\.ckpt' is a directory"),
    "checkpoint path is not a checkpoint": (_garbage, ValueError, "Expected a PyTorch checkpoint written by"),
    "state_dict that does not fit the default constructor": (
        _state_dict_without_kwargs, ValueError, r"do not fit TinyLitClassifier: size mismatch",
    ),
    "checkpoint class that is not a module": (
        lambda tmp: {**_state_dict_without_kwargs(tmp), "checkpoint_class": dict},
        TypeError, r"Expected argument `module_class` to be a LightningModule \(or nn.Module\) subclass",
    ),
    "checkpoint_kwargs with a model": (
        lambda _: {"checkpoint_kwargs": {"hidden": 3}},
        TypeError, "Expected `checkpoint_class`/`checkpoint_kwargs` only with a checkpoint path",
    ),
    # the Trainer and the options
    "trainer is not a Trainer": (
        lambda _: {"trainer": "cpu"}, TypeError, "`trainer` to be a lightning.pytorch or pytorch_lightning Trainer",
    ),
    "trainer_kwargs is not a dict": (
        lambda _: {"trainer_kwargs": ["cpu"]}, TypeError, "Expected argument `trainer_kwargs` to be a dict",
    ),
    "num_classes is a bool": (
        lambda _: {"num_classes": True}, ValueError, "Expected argument `num_classes` to be an int >= 2, but got True",
    ),
    "seed is a string": (lambda _: {"seed": "0"}, ValueError, "Expected argument `seed` to be an int, but got '0'"),
    "no PGD run at all": (
        lambda _: {"pgd_restarts": 0, "pgd_clean_start": False},
        ValueError, "Expected at least one PGD run",
    ),
    "unknown AutoAttack version": (
        lambda _: {"autoattack_eps": [0.1], "autoattack_version": "strong"},
        ValueError, r"Expected argument `autoattack_version` to be one of \('standard', 'plus', 'rand', 'fast'\)",
    ),
    "negative AutoAttack eps": (
        lambda _: {"autoattack_eps": [-0.1]},
        ValueError, "Expected argument `autoattack_eps` to hold finite non-negative floats",
    ),
    "transfer source is not a module": (
        lambda _: {"transfer_from": "erm.ckpt"},
        TypeError, "Expected argument `transfer_from` to be a torch.nn.Module or None, but got str",
    ),
    "transfer source without an FGSM or PGD grid": (
        lambda _: {"transfer_from": net(), "fgsm_eps": [], "pgd_eps": []},
        ValueError, "Expected a non-empty `fgsm_eps` or `pgd_eps` with `transfer_from`",
    ),
    "transfer source with another number of classes": (
        lambda _: {"transfer_from": nn.Sequential(nn.Flatten(), nn.Linear(16, 5))},
        ValueError, r"Expected the transfer source \(`transfer_from`\) to return logits of shape \(8, 3\), but got "
                    r"a torch.float32 tensor of shape \(8, 5\)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_a_clear_error(case, tmp_path):
    make, error, match = CASES[case]
    kwargs = {"model": net(), "dataloader": data(), **GRID, **make(tmp_path)}
    with pytest.raises(error, match=match):
        evaluate_robustness(**kwargs)


def test_uint8_images_are_divided_by_255(cnn):
    x, y = make_images(16)
    pixels = (x * 255).round().to(torch.uint8)
    as_uint8 = evaluate_robustness(cnn, data(x=pixels, y=y), fgsm_eps=[0.0, 0.1], pgd_eps=[0.1], pgdl2_eps=[])
    as_float = evaluate_robustness(cnn, data(x=pixels.float() / 255, y=y), fgsm_eps=[0.0, 0.1], pgd_eps=[0.1],
                                   pgdl2_eps=[])  # fmt: skip
    assert as_uint8.robust_accuracy == as_float.robust_accuracy
    assert torch.equal(as_uint8.robust_correct["pgd"][0.1], as_float.robust_correct["pgd"][0.1])
    assert as_uint8.config["uint8_inputs_divided_by_255"] and not as_float.config["uint8_inputs_divided_by_255"]
    assert float(to_unit_inputs(torch.tensor([[255]], dtype=torch.uint8))) == 1.0  # exactly 1, inside the box


def test_bool_and_uint8_labels_are_class_indices(cnn):
    x, y = make_images(16)
    reference = evaluate_robustness(cnn, data(x=x, y=y), **GRID)
    as_uint8 = evaluate_robustness(cnn, data(x=x, y=y.to(torch.uint8)), **GRID)
    assert as_uint8.robust_accuracy == reference.robust_accuracy
    binary = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    as_bool = evaluate_robustness(binary, data(x=x, y=y == 1), **GRID)
    as_long = evaluate_robustness(binary, data(x=x, y=(y == 1).long()), **GRID)
    assert as_bool.robust_accuracy == as_long.robust_accuracy
