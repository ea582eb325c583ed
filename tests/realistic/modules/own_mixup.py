"""Modules whose batches are mixed before the callback, and a loss that refuses soft targets by their shape.

Styles imitated:

- torchvision's ``v2.MixUp`` in the ``collate_fn`` (the torchvision classification reference): the collated
  labels become float ``(B, C)`` one-hot targets blended with the batch rolled by one, ``λ ~ Beta(α, α)``; the
  module's loss is ``F.cross_entropy(logits, soft_targets)``. (Written here from its documented behaviour;
  torchvision itself is not a dependency.)
- torch-uncertainty's ``DECLoss`` (evidential classification): ``if targets.ndim != 1: raise`` ("does not yet
  support mixup"), then ``F.one_hot(targets, C)`` and the MSE form of the Dirichlet loss, which is quadratic in
  the one-hot targets.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset, default_collate


def mixup_collate(classes: int, alpha: float = 1.0, seed: int = 0, smoothing: float = 0.0):
    """A collate function that mixes like torchvision's ``v2.MixUp`` (``alpha=0``: one-hot, optionally smoothed).

    λ is drawn uniformly in ``[0.2, 0.8]`` from a seeded generator, rather than from Beta(α, α), to keep the test
    deterministic and every batch visibly mixed.
    """
    g = torch.Generator().manual_seed(seed)

    def collate(samples):
        x, y = default_collate(samples)
        target = F.one_hot(y, classes).float() * (1 - smoothing) + smoothing / classes
        if alpha == 0:
            return x, target
        lam = 0.2 + 0.6 * float(torch.rand((), generator=g))  # a draw away from 0 and 1, seeded
        return lam * x + (1 - lam) * x.roll(1, 0), lam * target + (1 - lam) * target.roll(1, 0)

    return collate


def premixed_loader(x: Tensor, y: Tensor, classes: int, **kwargs) -> DataLoader:
    return DataLoader(TensorDataset(x, y), batch_size=8, collate_fn=mixup_collate(classes, **kwargs))


class SoftTargetClassifier(L.LightningModule):
    def __init__(self, features: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, 12), nn.ReLU(), nn.Linear(12, classes))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class DECLoss(nn.Module):
    """The MSE form of the evidential (Dirichlet) loss; refuses mixup targets by their ``ndim``."""

    def forward(self, evidence: Tensor, targets: Tensor) -> Tensor:
        if targets.ndim != 1:  # if no mixup or cutmix
            raise NotImplementedError("DECLoss does not yet support mixup/cutmix.")
        targets = F.one_hot(targets, num_classes=evidence.size()[-1])
        alpha = torch.relu(evidence) + 1.0
        strength = alpha.sum(dim=1, keepdim=True)
        err = ((targets - alpha / strength) ** 2).sum(dim=1)
        var = (alpha * (strength - alpha) / (strength * strength * (strength + 1))).sum(dim=1)
        return (err + var).mean()


class EvidentialClassifier(SoftTargetClassifier):
    def __init__(self, features: int = 6, classes: int = 4) -> None:
        super().__init__(features, classes)
        self.criterion = DECLoss()

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.criterion(self(x), y)


class MultiLabelBCE(SoftTargetClassifier):
    """timm-style BCE training on the (soft, or thresholded) targets the callback hands over."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.binary_cross_entropy_with_logits(self(x), y)
