"""Modules written against the standalone ``pytorch_lightning`` distribution (``import pytorch_lightning as pl``).

Style imitated: the pre-2.0 docs and most published projects: ``class LitClassifier(pl.LightningModule)`` with
``F.cross_entropy``; and a custom step through ``MixupMixin`` on the same namespace, with an ``nn.CrossEntropyLoss``
criterion.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from lightning_mixup import MixupMixin


class LitClassifier(pl.LightningModule):
    def __init__(self, features: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.layer_1 = nn.Linear(features, 12)
        self.layer_2 = nn.Linear(12, classes)

    def forward(self, x):
        return self.layer_2(torch.relu(self.layer_1(x)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class MixinClassifier(MixupMixin, pl.LightningModule):
    def __init__(self, features: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, 12), nn.ReLU(), nn.Linear(12, classes))
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        x, y = self.mix_batch(x, y)
        loss = self.criterion(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
