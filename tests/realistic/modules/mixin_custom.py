"""Modules that mix in their own step through ``MixupMixin``: input mixup and Manifold Mixup.

Style imitated: the mixup authors' training loop (``mixup_data`` then ``mixup_criterion``) moved into a
LightningModule: ``x, y = self.mix_batch(x, y)`` before the forward pass; and Manifold Mixup (Verma et al.) with
one hidden layer's output mixed inside ``with self.manifold_mixup(x, y, layers=[...])``. Both use an
``nn.CrossEntropyLoss`` criterion.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from lightning_mixup import MixupMixin


class MixupStepClassifier(MixupMixin, L.LightningModule):
    def __init__(self, features: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(features, 12), nn.ReLU())
        self.head = nn.Linear(12, classes)
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.head(self.features(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        x, y = self.mix_batch(x, y)
        loss = self.criterion(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class ManifoldMixupClassifier(MixupStepClassifier):
    def training_step(self, batch, batch_idx):
        x, y = batch
        with self.manifold_mixup(x, y, layers=["features"]) as (x, y):
            logits = self(x)
        loss = self.criterion(logits, y)
        self.log("train_loss", loss)
        return loss
