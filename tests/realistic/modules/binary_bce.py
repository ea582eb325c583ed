"""A binary classifier trained with BCE on one logit, labels cast with ``type_as``.

Style imitated: the Lightning forum / tutorial pattern for binary classification, labels stored as 0/1 int64 and
turned into the logits' dtype and shape inside the step: ``y.view(-1, 1).type_as(logits)`` and
``F.binary_cross_entropy_with_logits``.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class BinaryClassifier(L.LightningModule):
    def __init__(self, features: int = 5) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = F.binary_cross_entropy_with_logits(logits, y.view(-1, 1).type_as(logits))
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
