"""Training metrics that stay meaningful under mixup.

Under mixup the plain training accuracy against the first label of every pair is misleading: with λ = 0.3 the
"right" answer is mostly the partner's class. :class:`MixupAccuracy` scores a prediction by the target weight of
the predicted class, ``λ·[ŷ = y_a] + (1-λ)·[ŷ = y_b]`` (for soft targets, the target probability of ``ŷ``), the
λ-weighted accuracy. On unmixed labels it is the ordinary accuracy, so one metric serves every stage. Soft targets
that carry label smoothing ε over K classes score a correct unmixed prediction 1 − ε + ε/K, not 1: the metric
reads the targets as given.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_mixup.functional import MixedLabels


class MixupAccuracy(Metric):
    """λ-weighted accuracy of class predictions against mixed, soft or plain labels.

    Inputs:
        - ``preds``: ``(B, C)`` logits or probabilities, or ``(B,)`` predicted classes.
        - ``target``: :class:`~lightning_mixup.MixedLabels`, integer labels ``(B,)``, or soft targets ``(B, C)``.

    Example:
        >>> preds = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
        >>> labels = MixedLabels(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([0.7, 0.6]))
        >>> metric = MixupAccuracy()
        >>> metric(preds, labels)
        tensor(0.5500)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    correct: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of predictions and targets."""
        if not isinstance(preds, Tensor) or preds.ndim not in (1, 2):
            shape = tuple(preds.shape) if isinstance(preds, Tensor) else type(preds).__name__
            raise ValueError(f"Expected `preds` of shape (B, C) or (B,), but got {shape}.")
        predicted = preds.argmax(dim=1) if preds.ndim == 2 else preds.long()
        if isinstance(target, Tensor) and (target.ndim < 1 or target.shape[0] != predicted.shape[0]):
            raise ValueError(
                f"Expected `preds` and `target` with the same batch size, but got {predicted.shape[0]} and "
                f"{target.shape[0] if target.ndim else 'a scalar'}."
            )
        if isinstance(target, MixedLabels):
            lam = target.lam.to(torch.float64)
            score = lam * (predicted == target.y_a) + (1 - lam) * (predicted == target.y_b)
        elif isinstance(target, Tensor) and target.is_floating_point() and target.ndim == 2:
            score = target.to(torch.float64).gather(1, predicted.view(-1, 1)).squeeze(1)
        elif isinstance(target, Tensor) and target.ndim == 1 and not target.is_floating_point():
            score = (predicted == target).to(torch.float64)
        else:
            shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
            raise ValueError(
                f"Expected `target` to be MixedLabels, integer labels (B,) or soft targets (B, C), but got {shape}."
            )
        self.correct += score.sum()
        self.total += score.shape[0]

    def compute(self) -> Tensor:
        """The λ-weighted accuracy so far (0 before any update)."""
        return (self.correct / self.total.clamp_min(1)).float()
