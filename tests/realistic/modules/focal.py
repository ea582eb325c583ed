"""A hand-written focal loss (Lin et al., 2017) that gathers the log-probabilities of the labels.

Style imitated: the focal-loss snippets copied into countless Lightning projects:
``logpt = F.log_softmax(logits, 1).gather(1, y.view(-1, 1))``, ``pt = logpt.exp()``,
``loss = -((1 - pt) ** gamma * logpt).mean()``. The gather reads label values while building the loss, which
mixed labels cannot answer with one side.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


def focal_loss(logits, target, gamma: float = 2.0):
    logpt = F.log_softmax(logits, dim=1).gather(1, target.view(-1, 1)).view(-1)
    pt = logpt.exp()
    return (-((1 - pt) ** gamma) * logpt).mean()


class FocalClassifier(L.LightningModule):
    def __init__(self, features: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, 12), nn.ReLU(), nn.Linear(12, classes))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = focal_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
