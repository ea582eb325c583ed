"""A torchgeo-style segmentation task with segmentation_models-style losses.

Styles imitated:

- torchgeo's ``SemanticSegmentationTask``: dict batches ``{"image": float (B, C, H, W), "mask": long (B, H, W)}``,
  ``loss = self.criterion(self(x), y)`` with ``x = batch["image"]``, ``y = batch["mask"]``; classification tasks
  take ``{"image", "label"}``.
- segmentation_models_pytorch's multiclass losses (written here from their documented formulas): ``FocalLoss``
  compares the labels per class, ``(y == c).long()``, and sums a binary focal loss over the classes;
  ``JaccardLoss`` one-hot encodes the labels and takes ``1 - soft IoU`` per class, averaged over the classes
  present.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def binary_focal(logits: Tensor, target: Tensor, gamma: float = 2.0, alpha: float = 0.25) -> Tensor:
    """Binary focal loss on logits, mean over elements (Lin et al., 2017)."""
    target = target.type(logits.type())
    logpt = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    pt = torch.exp(-logpt)
    loss = (1.0 - pt).pow(gamma) * logpt
    loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


class FocalLoss(nn.Module):
    """Multiclass focal loss: a binary focal loss of every class's logit against ``y == c``, summed."""

    def forward(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        loss = y_pred.new_zeros(())
        for cls in range(y_pred.size(1)):
            cls_y_true = (y_true == cls).long()
            loss = loss + binary_focal(y_pred[:, cls, ...], cls_y_true)
        return loss


class JaccardLoss(nn.Module):
    """Multiclass soft Jaccard loss: ``1 - IoU`` per class from softmax probabilities and one-hot labels."""

    def forward(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        bs, num_classes = y_pred.size(0), y_pred.size(1)
        y_pred = y_pred.log_softmax(dim=1).exp().view(bs, num_classes, -1)
        y_true = F.one_hot(y_true.view(bs, -1), num_classes).permute(0, 2, 1)
        intersection = (y_pred * y_true).sum(dim=(0, 2))
        union = (y_pred + y_true).sum(dim=(0, 2)) - intersection
        score = intersection / union.clamp_min(1e-7)
        present = (y_true.sum(dim=(0, 2)) > 0).float()
        return ((1.0 - score) * present).mean()


LOSSES = {"ce": nn.CrossEntropyLoss, "focal": FocalLoss, "jaccard": JaccardLoss}


class SemanticSegmentationTask(L.LightningModule):
    """``{"image", "mask"}`` batches, a tiny fully convolutional model, the chosen loss on the whole masks."""

    def __init__(self, loss: str = "ce", in_channels: int = 3, num_classes: int = 4, both_sides: bool = False):
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, num_classes, 1))
        self.criterion = LOSSES[loss]()
        self.both_sides = both_sides  # the route the refusal gives: y.mix_loss(criterion, output, reduction=None)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch["image"], batch["mask"]
        y_hat = self(x)
        if self.both_sides and hasattr(y, "mix_loss"):
            loss = y.mix_loss(self.criterion, y_hat, reduction=None)
        else:
            loss = self.criterion(y_hat, y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class ClassificationTask(SemanticSegmentationTask):
    """``{"image", "label"}`` batches: a pooled classifier."""

    def __init__(self, loss: str = "ce", in_channels: int = 3, num_classes: int = 4, both_sides: bool = False):
        super().__init__(loss, in_channels, num_classes, both_sides)
        conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.model = nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))

    def training_step(self, batch, batch_idx):
        return super().training_step({"image": batch["image"], "mask": batch["label"]}, batch_idx)


def segmentation_data(n: int = 16, size: int = 8, classes: int = 4, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(classes, (n, size, size), generator=g)
