"""The classic PyTorch MNIST example (pytorch/examples ``mnist/main.py``) as a LightningModule.

Style imitated: two convolutions, max pooling, dropout, two linear layers, Adadelta; the loss is
``F.nll_loss(F.log_softmax(self(x), dim=1), y)``.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class Net(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.conv2 = nn.Conv2d(4, 8, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return self.fc2(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.nll_loss(F.log_softmax(self(x), dim=1), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adadelta(self.parameters(), lr=1.0)
