"""A classifier whose criterion smooths its labels: ``nn.CrossEntropyLoss(label_smoothing=0.1)``.

Style imitated: the torchvision classification reference recipe (``--label-smoothing 0.1``) as people port it to
Lightning, the criterion built in ``__init__``.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class SmoothedClassifier(L.LightningModule):
    def __init__(self, features: int = 6, classes: int = 5, smoothing: float = 0.1) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(features, 16), nn.GELU(), nn.Linear(16, classes))
        self.criterion = nn.CrossEntropyLoss(label_smoothing=smoothing)

    def forward(self, x):
        return self.backbone(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.criterion(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
