"""What the compatibility tests share: dict-batch data, the recorder and the loss references of tests/realistic."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from tests.realistic.recording import (  # noqa: F401  (re-exported for the compat tests)
    TRAINER_OPTIONS,
    PLRecorder,
    Recorder,
    Step,
    batch_lam,
    contract_params,
    dominant,
    mix_rows,
    parts,
    sample_lam,
)

BATCH = 8
SEED = 7


class DictDataset(Dataset):
    """Rows of equal-length tensors as dict samples, ``{"image": ..., "label": ...}`` style."""

    def __init__(self, **tensors: Tensor) -> None:
        self.tensors = tensors
        self.length = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {key: value[index] for key, value in self.tensors.items()}


def dict_loader(**tensors: Tensor) -> DataLoader:
    """Batches of 8 dict samples, in order (batch ``k`` is rows ``8k:8k+8``)."""
    return DataLoader(DictDataset(**tensors), batch_size=BATCH)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rows(tensor: Tensor, batch_number: int) -> Tensor:
    """The rows of ``tensor`` in training batch ``batch_number``."""
    return tensor[BATCH * batch_number : BATCH * (batch_number + 1)]


def mixed(loss_fn: Any, output: Tensor, labels: Any, prepare: Any = None) -> Tensor:
    """``λ·L(y_a) + (1-λ)·L(y_b)`` for one λ per batch, with ``L(y) = loss_fn(output, prepare(y))``."""
    y_a, y_b, _ = parts(labels)
    lam = batch_lam(labels)
    prepare = prepare or (lambda t: t)
    return lam * loss_fn(output, prepare(y_a)) + (1 - lam) * loss_fn(output, prepare(y_b))
