"""Lightning Bolts' ``LogisticRegression`` (``pl_bolts.models.regression.logistic_regression``).

Style imitated: one linear layer on flattened inputs, ``F.cross_entropy(y_hat, y, reduction="sum")`` plus L1 and
L2 penalties on the weights, then divided by the batch size; Adam; the loss logged.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class LogisticRegression(L.LightningModule):
    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        learning_rate: float = 1e-3,
        l1_strength: float = 0.0,
        l2_strength: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.linear = nn.Linear(in_features=input_dim, out_features=num_classes, bias=True)

    def forward(self, x):
        return self.linear(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        y_hat = self.linear(x)
        loss = F.cross_entropy(y_hat, y, reduction="sum")
        if self.hparams.l1_strength > 0:
            l1_reg = self.linear.weight.abs().sum()
            loss += self.hparams.l1_strength * l1_reg
        if self.hparams.l2_strength > 0:
            l2_reg = self.linear.weight.pow(2).sum()
            loss += self.hparams.l2_strength * l2_reg
        loss /= x.size(0)
        self.log("train_ce_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)
