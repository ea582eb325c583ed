"""Calibration metrics: the reliability-diagram bins as a DDP-synchronised torchmetrics ``Metric``.

The expected calibration error itself comes from torchmetrics' ``MulticlassCalibrationError`` (L1 norm, equal-width
bins, Guo et al. 2017); :class:`ReliabilityDiagram` keeps the per-bin sums that draw the diagram, with the same
binning, so its ECE agrees with torchmetrics' (a test checks it). Thulasidasan et al. (2019) report mixup-trained
networks better calibrated than ERM ones; these are the numbers that measure it.

References:
    - Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, https://arxiv.org/abs/1706.04599
    - Thulasidasan et al., "On Mixup Training: Improved Calibration and Predictive Uncertainty for Deep Neural
      Networks", NeurIPS 2019, https://arxiv.org/abs/1905.11001
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_mixup._checks import check_int
from lightning_mixup.evaluation.results import ReliabilityBins


class ReliabilityDiagram(Metric):
    """Per-bin count, summed confidence and summed correctness of the top-1 predictions.

    Bins are torchmetrics' (``MulticlassCalibrationError``): ``n_bins`` left-closed intervals
    ``[k/n_bins, (k+1)/n_bins)`` plus a last bin for a confidence of exactly 1 (common in float32 for confident
    networks), so the ECE of the bins equals torchmetrics' ECE. Plots merge that last bin into the one before.

    Inputs:
        - ``probs``: ``(B, C)`` class probabilities (softmax of the logits).
        - ``target``: ``(B,)`` integer labels.

    Args:
        n_bins: number of equal-width bins.
        kwargs: torchmetrics ``Metric`` options.

    Example:
        >>> metric = ReliabilityDiagram(n_bins=2)
        >>> metric.update(torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]]), torch.tensor([0, 0, 0]))
        >>> bins = metric.compute()
        >>> bins.count, round(bins.confidence[1], 4), round(bins.accuracy[1], 4), round(bins.ece, 4)
        ([0, 3, 0], 0.7333, 0.6667, 0.0667)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    count: Tensor
    confidence_sum: Tensor
    correct_sum: Tensor

    def __init__(self, n_bins: int = 15, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_int(n_bins, "n_bins", minimum=1)
        self.n_bins = n_bins
        for name in ("count", "confidence_sum", "correct_sum"):
            self.add_state(name, default=torch.zeros(n_bins + 1, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, probs: Tensor, target: Tensor) -> None:
        """Add a batch of probabilities ``(B, C)`` and labels ``(B,)``."""
        if probs.ndim != 2 or target.ndim != 1 or probs.shape[0] != target.shape[0]:
            raise ValueError(
                f"Expected `probs` of shape (B, C) and `target` of shape (B,), but got {tuple(probs.shape)} and "
                f"{tuple(target.shape)}."
            )
        confidence, predicted = probs.detach().max(dim=1)
        # torchmetrics' binning, in the dtype of the probabilities, so edge cases land in the same bins
        boundaries = torch.linspace(0, 1, self.n_bins + 1, dtype=confidence.dtype, device=confidence.device)
        index = (torch.bucketize(confidence, boundaries, right=True) - 1).clamp(0, self.n_bins)
        size = self.n_bins + 1
        self.count += torch.bincount(index, minlength=size).to(torch.float64)
        self.confidence_sum += torch.bincount(index, weights=confidence.to(torch.float64), minlength=size)
        correct = (predicted == target).to(torch.float64)
        self.correct_sum += torch.bincount(index, weights=correct, minlength=size)

    def compute(self) -> ReliabilityBins:
        """The bins (mean confidence and accuracy are ``nan`` in empty bins)."""
        count = self.count.cpu()
        nonzero = count > 0
        safe = count.clamp_min(1)
        nan = torch.full_like(count, float("nan"))
        confidence = torch.where(nonzero, self.confidence_sum.cpu() / safe, nan).tolist()
        accuracy = torch.where(nonzero, self.correct_sum.cpu() / safe, nan).tolist()
        edges = [*torch.linspace(0, 1, self.n_bins + 1, dtype=torch.float64).tolist(), 1.0]
        return ReliabilityBins(edges, [int(n) for n in count.tolist()], confidence, accuracy)
