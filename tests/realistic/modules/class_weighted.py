"""A classifier for imbalanced classes: ``nn.CrossEntropyLoss(weight=w)`` with inverse-frequency weights.

Style imitated: the usual imbalanced-data recipe, class weights computed from the training label counts and
registered as a buffer so they follow the module to its device.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class WeightedClassifier(L.LightningModule):
    def __init__(self, class_counts: list[int], features: int = 6) -> None:
        super().__init__()
        counts = torch.tensor(class_counts, dtype=torch.float32)
        self.register_buffer("class_weights", counts.sum() / (len(counts) * counts))
        self.net = nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, len(class_counts)))
        self.criterion = nn.CrossEntropyLoss(weight=self.class_weights)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.criterion(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
