"""Training metrics that stay meaningful under mixup.

Under mixup the plain training accuracy is ambiguous: with λ = 0.3 the "right" answer is mostly the partner's
class. A torchmetrics ``Accuracy`` on :class:`~lightning_mixup.MixedLabels` scores against the per-sample dominant
label (see :mod:`lightning_mixup.functional.labels`). :class:`MixupAccuracy` is the λ-weighted alternative: a
prediction scores the target weight of the predicted class, ``λ·[ŷ = y_a] + (1-λ)·[ŷ = y_b]`` (for soft targets,
the target probability of ``ŷ``). On unmixed labels it is the ordinary accuracy, so one metric serves every
stage. Soft targets that carry label smoothing ε over K classes score a correct unmixed prediction 1 − ε + ε/K,
not 1: the metric reads the targets as given.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from lightning_mixup._checks import check_choice, check_int, check_probability
from lightning_mixup.functional import MixedLabels
from lightning_mixup.functional.apply import blend_pair

__all__ = ["MixupAccuracy"]

AccuracyTask = Literal["multiclass", "binary"]
ACCURACY_TASKS: tuple[str, ...] = ("multiclass", "binary")
AccuracyAverage = Literal["micro", "macro"]
ACCURACY_AVERAGES: tuple[str, ...] = ("micro", "macro")


class MixupAccuracy(Metric):
    """λ-weighted accuracy of predictions against mixed, soft or plain labels (torchmetrics conventions).

    Args:
        task: ``"multiclass"`` (default) or ``"binary"``.
        num_classes: the number of classes; needed for ``average="macro"`` (multiclass).
        top_k: a multiclass prediction is right when the class is among the ``top_k`` highest scores.
        average: ``"micro"`` (default: the weight of correct predictions over all targets) or ``"macro"`` (the
            same per class, by the class's target weight, averaged over classes that occur).
        threshold: binary task: the probability above which the prediction is the positive class (logits,
            i.e. values outside ``[0, 1]``, go through a sigmoid first, as in torchmetrics).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Inputs:
        - ``preds``: multiclass ``(B, C)`` logits or probabilities, or ``(B,)`` predicted classes (``top_k=1``);
          binary ``(B,)`` probabilities or logits.
        - ``target``: :class:`~lightning_mixup.MixedLabels`, integer labels ``(B,)``, or soft targets (multiclass
          ``(B, C)``; binary ``(B,)`` in ``[0, 1]``).

    Example:
        >>> preds = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
        >>> labels = MixedLabels(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([0.7, 0.6]))
        >>> MixupAccuracy()(preds, labels)
        tensor(0.5500)
        >>> MixupAccuracy(top_k=2)(preds, labels)
        tensor(1.)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    correct: Tensor
    total: Tensor

    def __init__(
        self,
        task: AccuracyTask = "multiclass",
        num_classes: int | None = None,
        top_k: int = 1,
        average: AccuracyAverage = "micro",
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_choice(task, "task", ACCURACY_TASKS)
        check_choice(average, "average", ACCURACY_AVERAGES)
        check_int(num_classes, "num_classes", minimum=2, optional=True)
        check_int(top_k, "top_k", minimum=1)
        check_probability(threshold, "threshold")
        if task == "binary" and top_k != 1:
            raise ValueError(f"Expected argument `top_k` to be 1 for task='binary', but got {top_k}.")
        if average == "macro" and task == "multiclass" and num_classes is None:
            raise ValueError("Expected argument `num_classes` with average='macro', but got None.")
        if num_classes is not None and top_k > num_classes:
            raise ValueError(f"Expected argument `top_k` <= num_classes ({num_classes}), but got {top_k}.")
        self.task, self.num_classes, self.top_k, self.average = task, num_classes, top_k, average
        self.threshold = float(threshold)
        size = (2 if task == "binary" else num_classes or 0) if average == "macro" else 0
        shape = (size,) if average == "macro" else ()
        self.add_state("correct", default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of predictions and targets."""
        weights = self._target_weights(preds, target)  # (B, K): the target weight of each class
        hits = self._hits(preds, weights.shape[1])  # (B, K): 1 where the class counts as predicted
        macro = self.average == "macro"  # per class, or over everything
        if macro and weights.shape[1] != self.correct.shape[0]:
            raise ValueError(
                f"Expected {self.correct.shape[0]} classes (num_classes), but the targets have {weights.shape[1]}."
            )
        self.correct += (weights * hits).sum(0) if macro else (weights * hits).sum()
        self.total += weights.sum(0) if macro else weights.sum()

    def compute(self) -> Tensor:
        """The λ-weighted accuracy so far (0 before any update)."""
        if self.average == "macro":
            present = self.total > 0
            per_class = self.correct[present] / self.total[present]
            return per_class.mean().float() if per_class.numel() else torch.tensor(0.0)
        return (self.correct / self.total.clamp_min(1e-12)).float()

    # ------------------------------------------------------------------ helpers

    def _target_weights(self, preds: Tensor, target: Tensor) -> Tensor:
        if not isinstance(preds, Tensor) or preds.ndim not in (1, 2):
            shape = tuple(preds.shape) if isinstance(preds, Tensor) else type(preds).__name__
            raise ValueError(f"Expected `preds` of shape (B, C) or (B,), but got {shape}.")
        if not isinstance(target, Tensor) or target.ndim < 1 or target.shape[0] != preds.shape[0]:
            got = target.shape[0] if isinstance(target, Tensor) and target.ndim else "a scalar or non-tensor"
            raise ValueError(
                f"Expected `preds` and `target` with the same batch size, but got {preds.shape[0]} and {got}."
            )
        if self.task == "binary":
            if preds.ndim != 1 or target.ndim != 1:
                raise ValueError(
                    f"Expected binary `preds` and `target` of shape (B,), but got {tuple(preds.shape)} and "
                    f"{tuple(target.shape)}."
                )
            if isinstance(target, MixedLabels):  # the mixed binary target, read without counting as a loss
                positive = blend_pair(target.y_a.double(), target.y_b.double(), target.lam.double())
            else:
                positive = target.double()
            return torch.stack([1 - positive, positive], dim=1)
        num_classes = preds.shape[1] if preds.ndim == 2 else self.num_classes
        if isinstance(target, MixedLabels):
            if num_classes is None:
                num_classes = int(max(int(target.y_a.max()), int(target.y_b.max()))) + 1
            lam = target.lam.to(torch.float64)
            if lam.ndim != 1:
                raise ValueError(f"Expected mixed labels of shape (B,), but got {tuple(target.shape)}.")
            one_a = F.one_hot(target.y_a.long(), num_classes).double()
            one_b = F.one_hot(target.y_b.long(), num_classes).double()
            return one_a * lam[:, None] + one_b * (1 - lam[:, None])
        if target.is_floating_point() and target.ndim == 2:
            return target.double()
        if target.ndim == 1 and not target.is_floating_point():
            if num_classes is None:
                num_classes = int(target.max()) + 1 if target.numel() else 1
            return F.one_hot(target.long(), num_classes).double()
        raise ValueError(
            f"Expected `target` to be MixedLabels, integer labels (B,) or soft targets (B, C), but got "
            f"{tuple(target.shape)} {target.dtype}."
        )

    def _hits(self, preds: Tensor, num_classes: int) -> Tensor:
        if self.task == "binary":
            probs = preds.double()
            if probs.numel() and (probs.min() < 0 or probs.max() > 1):
                probs = probs.sigmoid()
            positive = (probs > self.threshold).double()
            return torch.stack([1 - positive, positive], dim=1)
        if preds.ndim == 1:
            if self.top_k != 1:
                raise ValueError(f"Expected `preds` of shape (B, C) with top_k={self.top_k}, but got classes (B,).")
            return F.one_hot(preds.long(), num_classes).double()
        if preds.shape[1] != num_classes:
            raise ValueError(f"Expected `preds` with {num_classes} classes, but got shape {tuple(preds.shape)}.")
        top = preds.topk(min(self.top_k, num_classes), dim=1).indices
        return torch.zeros(preds.shape, dtype=torch.float64, device=preds.device).scatter_(1, top, 1.0)
