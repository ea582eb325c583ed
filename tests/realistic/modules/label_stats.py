"""A classifier that keeps per-epoch label statistics with NumPy, as the Lightning 2.0 docs suggest.

Style imitated: Lightning 2's ``self.training_step_outputs.append(...)`` then ``on_train_epoch_end`` (the pattern
that replaced ``training_epoch_end``), fed with ``y.tolist()`` and ``y.cpu().numpy()``; a class histogram made
with ``np.bincount`` and logged per class; a count read with ``.item()``. The label reads come before the loss.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class LabelStatsClassifier(L.LightningModule):
    def __init__(self, features: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.classes = classes
        self.net = nn.Sequential(nn.Linear(features, 16), nn.Tanh(), nn.Linear(16, classes))
        self.seen_labels: list[int] = []
        self.training_step_outputs: list[np.ndarray] = []
        self.zero_counts: list[int] = []
        self.class_share: np.ndarray | None = None

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen_labels.extend(y.tolist())
        self.training_step_outputs.append(y.cpu().numpy())
        self.zero_counts.append((y == 0).sum().item())
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def on_train_epoch_end(self):
        labels = np.concatenate(self.training_step_outputs)
        self.class_share = np.bincount(labels, minlength=self.classes) / len(labels)
        for c, share in enumerate(self.class_share):
            self.log(f"train/class_{c}_share", float(share))
        self.training_step_outputs.clear()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
