"""The ``LitModel`` of Lightning's docs (the MNIST classifier of the LightningModule page and the 15-minute intro).

Style imitated: one linear layer on the flattened image, ``x, y = batch; loss = F.cross_entropy(self(x), y)``,
Adam in ``configure_optimizers``.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class LitModel(L.LightningModule):
    def __init__(self, pixels: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.l1 = nn.Linear(pixels, classes)

    def forward(self, x):
        return torch.relu(self.l1(x.view(x.size(0), -1)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)
