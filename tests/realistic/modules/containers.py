"""One classifier fed the same data in the batch containers people use: a list, a namedtuple, a dict.

Style imitated: datasets whose ``__getitem__`` returns ``[image, label]`` (torchvision datasets after collation),
a ``namedtuple("Sample", ["image", "label"])`` (common in research code), or ``{"image": ..., "label": ...}``
(Hugging Face ``datasets`` image columns, MONAI); the step unpacks the container it gets.
"""

from __future__ import annotations

from collections import namedtuple

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

Sample = namedtuple("Sample", ["image", "label"])


class ContainerClassifier(L.LightningModule):
    def __init__(self, pixels: int = 64, classes: int = 10, keys: tuple[str, str] = ("image", "label")) -> None:
        super().__init__()
        self.keys = keys
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(pixels, classes))
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        if isinstance(batch, dict):
            x, y = batch[self.keys[0]], batch[self.keys[1]]
        elif isinstance(batch, Sample):
            x, y = batch.image, batch.label
        else:
            x, y = batch
        loss = self.criterion(self(x), y)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Items(Dataset):
    """The rows of ``images``/``labels`` (or of any named columns, for dicts) in one of the containers."""

    def __init__(self, container: str, keys: tuple[str, ...] = ("image", "label"), **columns: torch.Tensor) -> None:
        self.container = container
        self.keys = keys
        self.columns = columns

    def __len__(self):
        return len(next(iter(self.columns.values())))

    def __getitem__(self, i):
        values = [self.columns[key][i] for key in self.keys]
        if self.container == "list":
            return values
        if self.container == "namedtuple":
            return Sample(*values)
        return dict(zip(self.keys, values, strict=True))


def loader(data: Items) -> DataLoader:
    return DataLoader(data, batch_size=8)
