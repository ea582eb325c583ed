"""The CIFAR-10 classifier module of the UvA Deep Learning course tutorials (Tutorial 5, ``CIFARModule``).

Style imitated: ``self.loss_module = nn.CrossEntropyLoss()``; training accuracy as
``(preds.argmax(dim=-1) == labels).float().mean()`` logged per epoch next to the loss; the model built from a
name and hyperparameters, here a small conv net.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class CIFARModule(L.LightningModule):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, classes)
        )
        self.loss_module = nn.CrossEntropyLoss()

    def forward(self, imgs):
        return self.model(imgs)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)

    def training_step(self, batch, batch_idx):
        imgs, labels = batch
        preds = self.model(imgs)
        loss = self.loss_module(preds, labels)
        acc = (preds.argmax(dim=-1) == labels).float().mean()
        self.log("train_acc", acc, on_step=False, on_epoch=True)
        self.log("train_loss", loss)
        return loss
