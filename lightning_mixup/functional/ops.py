"""One-call mixup and CutMix of a batch and its targets, the functional counterparts of the callback.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_mixup._checks import check_tensor
from lightning_mixup.functional.apply import apply_mix, mix_targets
from lightning_mixup.functional.sampling import MixMode, sample_cutmix, sample_mixup


def mixup(
    x: Tensor,
    y: Tensor,
    *,
    alpha: float,
    num_classes: int | None = None,
    mode: MixMode = "batch",
    label_smoothing: float = 0.0,
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor]:
    """Mixup of a batch: ``x̃ = λ·x[i] + (1-λ)·x[j]`` and ``ỹ = λ·y[i] + (1-λ)·y[j]``, λ ~ Beta(α, α).

    Args:
        x: inputs, shape ``(B, ...)``. Not modified.
        y: integer labels ``(B,)`` or float targets ``(B, ...)``. Not modified.
        alpha: the Beta concentration; ``0`` returns the batch unchanged (with one-hot targets).
        num_classes: the number of classes, needed for integer labels.
        mode: one λ per ``"batch"``, per ``"pair"`` or per ``"elem"``ent.
        label_smoothing: ε applied once to one-hot targets.
        generator: the source of randomness; the same state gives the same batch.
        validate_args: check arguments and shapes.

    Returns:
        ``(mixed inputs, float32 soft targets)``.

    Example:
        >>> x, y = torch.rand(4, 3), torch.tensor([0, 1, 2, 0])
        >>> g = torch.Generator().manual_seed(0)
        >>> mixed_x, soft_y = mixup(x, y, alpha=0.2, num_classes=3, generator=g)
        >>> mixed_x.shape, soft_y.shape, bool(torch.allclose(soft_y.sum(1), torch.ones(4)))
        (torch.Size([4, 3]), torch.Size([4, 3]), True)
    """
    if validate_args:
        check_tensor(x, "x", min_ndim=1, shape_hint="(B, ...)")
        check_tensor(y, "y", min_ndim=1, shape_hint="(B, ...)")
    params = sample_mixup(x.shape[0], alpha=alpha, mode=mode, generator=generator, validate_args=validate_args)
    targets = mix_targets(
        y, params, num_classes=num_classes, label_smoothing=label_smoothing, validate_args=validate_args
    )
    return apply_mix(x, params, validate_args=validate_args), targets


def cutmix(
    x: Tensor,
    y: Tensor,
    *,
    alpha: float,
    num_classes: int | None = None,
    mode: MixMode = "batch",
    label_smoothing: float = 0.0,
    correct_lam: bool = True,
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor]:
    """CutMix of an image batch ``(B, ..., H, W)``: paste a box from a partner, targets weighted by area.

    Args:
        x: images, shape ``(B, ..., H, W)`` with the spatial dimensions last. Not modified.
        y: integer labels ``(B,)`` or float targets ``(B, ...)``. Not modified.
        alpha: the Beta concentration; ``0`` returns the batch unchanged.
        num_classes: the number of classes, needed for integer labels.
        mode: one box per ``"batch"``, per ``"pair"`` or per ``"elem"``ent.
        label_smoothing: ε applied once to one-hot targets.
        correct_lam: weight the targets by the area actually kept after clipping the box.
        generator: the source of randomness.
        validate_args: check arguments and shapes.

    Returns:
        ``(mixed images, float32 soft targets)``.

    Example:
        >>> x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
        >>> mixed_x, soft_y = cutmix(x, y, alpha=1.0, num_classes=3, generator=torch.Generator().manual_seed(0))
        >>> mixed_x.shape, bool(torch.allclose(soft_y.sum(1), torch.ones(4)))
        (torch.Size([4, 3, 8, 8]), True)
    """
    if validate_args:
        check_tensor(x, "x", min_ndim=3, shape_hint="(B, ..., H, W) for CutMix")
        check_tensor(y, "y", min_ndim=1, shape_hint="(B, ...)")
    params = sample_cutmix(
        x.shape[0],
        (int(x.shape[-2]), int(x.shape[-1])),
        alpha=alpha,
        mode=mode,
        correct_lam=correct_lam,
        generator=generator,
        validate_args=validate_args,
    )
    targets = mix_targets(
        y, params, num_classes=num_classes, label_smoothing=label_smoothing, validate_args=validate_args
    )
    return apply_mix(x, params, validate_args=validate_args), targets
