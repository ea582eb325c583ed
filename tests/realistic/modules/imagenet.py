"""Lightning's ImageNet example (``examples/pytorch/domain_templates/imagenet.py``, after pytorch/examples).

Style imitated: ``criterion = nn.CrossEntropyLoss()``; a static top-k accuracy helper that takes
``output.topk(maxk, 1, True, True)``, transposes the predictions and compares them with
``target.view(1, -1).expand_as(pred)``; train loss and top-1/top-5 accuracy logged in ``training_step`` per step
and per epoch. A small conv net stands in for the torchvision ResNet.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class ImageNetLightningModel(L.LightningModule):
    def __init__(self, classes: int = 10, lr: float = 0.1) -> None:
        super().__init__()
        self.lr = lr
        self.model = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, classes)
        )
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        images, target = batch
        output = self(images)
        loss_train = self.criterion(output, target)
        acc1, acc5 = self.__accuracy(output, target, topk=(1, 5))
        self.log("train_loss", loss_train, on_step=True, on_epoch=True)
        self.log("train_acc1", acc1, on_step=True, on_epoch=True)
        self.log("train_acc5", acc5, on_step=True, on_epoch=True)
        return loss_train

    @staticmethod
    def __accuracy(output, target, topk=(1,)):
        """Top-k accuracies in percent."""
        with torch.no_grad():
            maxk = max(topk)
            batch_size = target.size(0)
            _, pred = output.topk(maxk, 1, True, True)
            pred = pred.t()
            correct = pred.eq(target.view(1, -1).expand_as(pred))
            res = []
            for k in topk:
                correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
                res.append(correct_k.mul_(100.0 / batch_size))
            return res

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9, weight_decay=1e-4)
