"""Tiny deterministic data in the shapes the styles use; loaders never shuffle, so batch ``k`` is rows ``8k:8k+8``."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

BATCH = 8


def images(n: int = 16, channels: int = 1, size: int = 8, classes: int = 10, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random ``(n, C, H, W)`` float images and ``(n,)`` int64 labels."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g), torch.randint(classes, (n,), generator=g)


def loader(*tensors: Tensor) -> DataLoader:
    """Batches of 8, in order."""
    return DataLoader(TensorDataset(*tensors), batch_size=BATCH)


def rows(tensor: Tensor, batch_number: int) -> Tensor:
    """The rows of ``tensor`` in training batch ``batch_number``."""
    return tensor[BATCH * batch_number : BATCH * (batch_number + 1)]
