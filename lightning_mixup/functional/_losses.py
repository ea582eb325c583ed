"""``F.cross_entropy``, ``F.nll_loss`` and ``F.one_hot`` of :class:`~lightning_mixup.functional.labels.MixedLabels`.

Each loss computes both sides' per-element losses with torch's own function (class weights, ``ignore_index``,
label smoothing as torch applies them) and reduces them as torch reduces each: the mean divides each side's
weighted sum by that side's own denominator, so with one λ per batch the result is exactly
``λ·L(y_a) + (1-λ)·L(y_b)``. Labels that carry per-row ``weight`` (RegMixup's η) have it multiplied into each
per-element loss, the denominators unchanged. ``one_hot`` gives the mixed one-hot targets, mixup's own definition.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._device import to_device
from lightning_mixup.functional.apply import blend_pair
from lightning_mixup.functional.labels import _HELP, MixedLabels, MixedLabelsError


def reduce_loss(loss: Tensor, reduction: str, denominator: Tensor | None = None) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / denominator if denominator is not None else loss.mean()
    raise ValueError(f"Expected argument `reduction` to be one of ('none', 'mean', 'sum'), but got {reduction!r}.")


def lam_for(lam: Tensor, loss: Tensor) -> Tensor:
    """λ laid out like a per-element loss computed from these labels."""
    if lam.numel() == loss.numel():
        return lam.reshape(loss.shape)
    raise ValueError(
        f"Expected the per-element loss to have one value per label ({tuple(lam.shape)}), but got "
        f"{tuple(loss.shape)}. Compute the loss with reduction='none' on labels of this shape."
    )


def _deprecated_args(size_average: Any, reduce: Any) -> None:
    if size_average is not None or reduce is not None:
        raise TypeError(
            "The deprecated `size_average`/`reduce` arguments are not supported with mixed labels; use `reduction`."
        )


def _target_weight(target: Tensor, weight: Tensor | None, ignore_index: int, dtype: torch.dtype) -> Tensor:
    """The weight torch gives each label in a mean reduction: its class weight, 0 where ignored."""
    valid = target != ignore_index
    w = valid.to(dtype)
    if weight is not None:
        w = w * weight.to(dtype)[torch.where(valid, target, torch.zeros_like(target)).long()]
    return w


def mixed_reduce(
    loss_a: Tensor,
    loss_b: Tensor,
    target: MixedLabels,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    """Reduce the two per-element losses as torch reduces each: ``λ·L(y_a) + (1-λ)·L(y_b)`` for one λ.

    Each side's weighted sum is divided by that side's torch denominator (the summed class weights of its
    non-ignored labels), so with one λ per batch the result is exactly the λ-weighted sum of the user's two losses.
    """
    lam = target.lam if target.lam.shape == loss_a.shape else lam_for(target.lam, loss_a)
    lam = to_device(lam, loss_a.device, loss_a.dtype)
    row_weight = _row_weight(target, loss_a)
    if reduction == "none":
        mixed = blend_pair(loss_a, loss_b, lam)
        return mixed if row_weight is None else mixed * row_weight
    side_a = torch.where(lam == 0, 0.0, loss_a * lam)
    side_b = torch.where(lam == 1, 0.0, loss_b * (1 - lam))
    if row_weight is not None:  # RegMixup's η: scales the rows' losses, torch's denominators stay as they are
        side_a, side_b = side_a * row_weight, side_b * row_weight
    if reduction == "sum":
        return side_a.sum() + side_b.sum()
    if reduction != "mean":
        raise ValueError(f"Expected argument `reduction` to be one of ('none', 'mean', 'sum'), but got {reduction!r}.")
    dtype = loss_a.dtype
    denom_a = _target_weight(target.y_a, weight, ignore_index, dtype).sum()
    denom_b = _target_weight(target.y_b, weight, ignore_index, dtype).sum()
    return side_a.sum() / denom_a + side_b.sum() / denom_b


def _row_weight(target: MixedLabels, loss: Tensor) -> Tensor | None:
    """The labels' per-row loss weights laid out like ``loss`` (``None`` when they carry none)."""
    if target.weight is None:
        return None
    weight = target.weight if target.weight.shape == loss.shape else lam_for(target.weight, loss)
    return to_device(weight, loss.device, loss.dtype)


def check_range(target: MixedLabels, num_classes: int, ignore_index: int) -> None:
    """The out-of-bounds message torch gives for labels on the CPU (on accelerators the kernels assert)."""
    if target.device.type != "cpu" or torch.compiler.is_compiling() or target.numel() == 0:
        return
    for side in (target.y_a, target.y_b):
        low, high = (int(v) for v in torch.aminmax(side))  # one pass; the detailed look only when out of range
        if low >= 0 and high < num_classes:
            continue
        bad = (side != ignore_index) & ((side < 0) | (side >= num_classes))
        if bool(bad.any()):
            raise IndexError(f"Target {int(side[bad][0])} is out of bounds.")


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    if not isinstance(target, MixedLabels):
        raise MixedLabelsError(f"Mixed labels must be the `target` of F.cross_entropy, not its input. {_HELP}")
    _deprecated_args(size_average, reduce)
    if label_smoothing and target.label_smoothing:
        raise ValueError(
            f"Label smoothing would be applied twice: the loss has label_smoothing={label_smoothing} and the mixed "
            f"labels carry label_smoothing={target.label_smoothing}. Set it in one place only."
        )
    target.tracker.consumed = True
    smoothing = label_smoothing or target.label_smoothing
    if input.ndim >= 2:
        check_range(target, int(input.shape[1]), ignore_index)
    if (
        weight is None
        and not smoothing
        and input.ndim == 2
        and target.ndim == 1
        and target.dtype in (torch.int64, torch.uint8)
        and input.shape[0] == target.shape[0]
    ):
        return _cross_entropy_fast(input, target, ignore_index, reduction)
    common: dict[str, Any] = {"weight": weight, "ignore_index": ignore_index, "reduction": "none"}
    if smoothing:
        common["label_smoothing"] = smoothing
    loss_a = F.cross_entropy(input, target.y_a, **common)
    loss_b = F.cross_entropy(input, target.y_b, **common)
    return mixed_reduce(loss_a, loss_b, target, weight, ignore_index, reduction)


def _cross_entropy_fast(input: Tensor, target: MixedLabels, ignore_index: int, reduction: str) -> Tensor:
    """The common case, ``(N, C)`` logits without class weights or smoothing: one log-softmax and two gathers.

    Ignored labels are masked rather than looked for, so there is no host synchronisation on an accelerator.
    """
    logp = F.log_softmax(input if input.dtype in (torch.float32, torch.float64) else input.float(), dim=1)
    lam = to_device(target.lam, logp.device, logp.dtype)
    labels = torch.stack([target.y_a, target.y_b], dim=1).long()  # (N, 2)
    valid = labels != ignore_index
    picked = logp.gather(1, labels.masked_fill(~valid, 0))
    weights = torch.stack([lam, 1 - lam], dim=1) * valid  # λ and 1 - λ, 0 for ignored labels
    if target.weight is not None:  # per-row loss weights (RegMixup's η); the mean's denominators stay torch's
        weights = weights * to_device(target.weight, logp.device, logp.dtype).unsqueeze(1)
    terms = torch.where(weights > 0, -picked * weights, 0.0)  # a zero weight never meets an infinite log-prob
    if reduction == "mean":
        counts = valid.sum(0).to(logp.dtype)  # each side's torch denominator: its non-ignored labels
        return (terms.sum(0) / counts).sum()
    if reduction == "none":
        return terms.sum(1)
    return reduce_loss(terms.sum(1), reduction)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    if not isinstance(target, MixedLabels):
        raise MixedLabelsError(f"Mixed labels must be the `target` of F.nll_loss, not its input. {_HELP}")
    _deprecated_args(size_average, reduce)
    target.tracker.consumed = True
    if input.ndim >= 2:
        check_range(target, int(input.shape[1]), ignore_index)
    eps = target.label_smoothing
    if eps and weight is not None:
        raise ValueError("Label smoothing with class weights is only supported by F.cross_entropy, not F.nll_loss.")
    loss_a = F.nll_loss(input, target.y_a, weight=weight, ignore_index=ignore_index, reduction="none")
    loss_b = F.nll_loss(input, target.y_b, weight=weight, ignore_index=ignore_index, reduction="none")
    if eps:  # smoothing on log-probabilities, as F.cross_entropy applies it: (1-ε)·nll + ε·mean(-log p)
        smooth = -input.mean(dim=1)
        loss_a = torch.where(target.y_a != ignore_index, (1 - eps) * loss_a + eps * smooth, 0.0)
        loss_b = torch.where(target.y_b != ignore_index, (1 - eps) * loss_b + eps * smooth, 0.0)
    return mixed_reduce(loss_a, loss_b, target, weight, ignore_index, reduction)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """``F.one_hot`` of mixed labels: the mixed one-hot targets ``λ·onehot(y_a) + (1-λ)·onehot(y_b)`` (float32)."""
    if not isinstance(tensor, MixedLabels):
        raise MixedLabelsError(f"Mixed labels must be the tensor F.one_hot encodes. {_HELP}")
    tensor.tracker.consumed = True
    tensor._refuse_weight("F.one_hot")
    if num_classes == -1:
        num_classes = int(torch.maximum(tensor.y_a.max(), tensor.y_b.max())) + 1 if tensor.numel() else 0
    one_a = F.one_hot(tensor.y_a.long(), num_classes).float()
    one_b = F.one_hot(tensor.y_b.long(), num_classes).float()
    eps = tensor.label_smoothing
    if eps:
        one_a = one_a * (1 - eps) + eps / num_classes
        one_b = one_b * (1 - eps) + eps / num_classes
    return blend_pair(one_a, one_b, tensor.lam.unsqueeze(-1))
