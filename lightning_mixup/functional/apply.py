"""Deterministic application of sampled mixing parameters to inputs and targets.

Nothing here mutates its inputs: results are new tensors, or written into an ``out`` buffer the caller owns.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899
    - Manifold Mixup: Verma et al., ICML 2019, https://arxiv.org/abs/1806.05236
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup.functional.sampling import MixParams

# Below this many elements per sample the per-sample loop costs more in Python than it saves in memory traffic.
_LOOP_MIN_SAMPLE_NUMEL = 4096


def _params_tensor_validation(x: Tensor, params: MixParams) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"Expected argument `x` to be a torch.Tensor, but got {type(x).__name__}.")
    if x.ndim < 1 or x.shape[0] != params.batch_size:
        raise ValueError(
            f"Expected argument `x` to have the batch size of the mixing parameters, {params.batch_size}, in its "
            f"first dimension, but got shape {tuple(x.shape)}."
        )


def _out_tensor_validation(x: Tensor, out: Tensor) -> None:
    if out.shape != x.shape or out.dtype != x.dtype or out.device != x.device:
        raise ValueError(
            f"Expected argument `out` to match `x` (shape {tuple(x.shape)}, {x.dtype}, {x.device}), but got shape "
            f"{tuple(out.shape)}, {out.dtype}, {out.device}."
        )
    if out.data_ptr() == x.data_ptr() and x.numel() > 0:
        raise ValueError("Expected argument `out` to be a different tensor from `x`: mixing reads `x` while writing.")


def _blend(x: Tensor, params: MixParams, out: Tensor | None) -> Tensor:
    """``lam[i] * x[i] + (1 - lam[i]) * x[index[i]]`` as ``lerp(x[index], x, lam)``, exact at λ = 1."""
    if not x.is_floating_point():
        raise TypeError(
            f"Expected floating-point inputs to blend (mixup), but got {x.dtype}. Convert the batch to float before "
            "mixing (e.g. in a transform or `on_after_batch_transfer`); CutMix alone also works on integer images."
        )
    batch_size = params.batch_size
    use_loop = (
        x.device.type == "cpu"
        and not (torch.is_grad_enabled() and x.requires_grad)
        and batch_size > 0
        and x[0].numel() >= _LOOP_MIN_SAMPLE_NUMEL
    )
    if use_loop:
        # One pass per sample that reads x[i] and x[j] and writes out[i]: no gathered copy of the batch and no
        # temporaries, which is what keeps the op near the cost of a plain copy on the CPU.
        result = torch.empty_like(x) if out is None else out
        for i, (lam, j) in enumerate(zip(params.lam.tolist(), params.index.tolist(), strict=True)):
            if lam == 1.0 or i == j:
                result[i].copy_(x[i])
            else:
                torch.lerp(x[j], x[i], lam, out=result[i])
        return result
    lam = params.lam.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
    lam = lam.view(-1, *([1] * (x.ndim - 1)))
    index = params.index.to(x.device)
    mixed = torch.lerp(x[index], x, lam)
    if out is None:
        return mixed
    return out.copy_(mixed)


def _paste(x: Tensor, index: Tensor, boxes: Tensor, out: Tensor | None) -> Tensor:
    """Copy of ``x`` with ``boxes[i]`` of every sample replaced by the same region of ``x[index[i]]``."""
    if x.ndim < 3:
        raise ValueError(
            f"Expected argument `x` to have at least 3 dimensions (B, ..., H, W) for CutMix, but got shape "
            f"{tuple(x.shape)}."
        )
    result = x.clone() if out is None else out.copy_(x)
    for i, (j, (top, bottom, left, right)) in enumerate(zip(index.tolist(), boxes.tolist(), strict=True)):
        if i != j and bottom > top and right > left:
            result[i, ..., top:bottom, left:right] = x[j, ..., top:bottom, left:right]
    return result


def apply_mix(x: Tensor, params: MixParams, *, out: Tensor | None = None, validate_args: bool = True) -> Tensor:
    """Mix a batch with sampled parameters: blend (mixup, Manifold Mixup) or paste boxes (CutMix).

    Works on any ``(B, ...)`` tensor, inputs or hidden activations, with autograd. CutMix needs
    ``(B, ..., H, W)`` with the spatial dimensions last. λ is cast to the input's dtype.

    Args:
        x: the batch, shape ``(B, ...)``. It is not modified.
        params: from :func:`~lightning_mixup.functional.sample_mixup` or
            :func:`~lightning_mixup.functional.sample_cutmix`.
        out: optional buffer of the same shape, dtype and device to write the result into (not ``x`` itself).
        validate_args: check shapes.

    Returns:
        The mixed batch (``out`` when given).

    Raises:
        TypeError: if ``x`` is not a tensor.
        ValueError: if the batch size or ``out`` does not match.

    Example:
        >>> from lightning_mixup.functional import sample_mixup
        >>> x = torch.tensor([[0.0], [10.0]])
        >>> params = sample_mixup(2, alpha=1.0, generator=torch.Generator().manual_seed(1))
        >>> mixed = apply_mix(x, params)
        >>> bool(torch.allclose(mixed[0], params.lam[0] * x[0] + (1 - params.lam[0]) * x[params.index[0]]))
        True
    """
    if validate_args:
        _params_tensor_validation(x, params)
        if out is not None:
            _out_tensor_validation(x, out)
    if params.boxes is not None:
        return _paste(x, params.index, params.boxes, out)
    return _blend(x, params, out)


def _targets_tensor_validation(y: Tensor, params: MixParams, num_classes: int | None) -> None:
    if not isinstance(y, Tensor):
        raise TypeError(f"Expected argument `y` to be a torch.Tensor, but got {type(y).__name__}.")
    if y.ndim < 1 or y.shape[0] != params.batch_size:
        raise ValueError(
            f"Expected argument `y` to have the batch size of the mixing parameters, {params.batch_size}, in its "
            f"first dimension, but got shape {tuple(y.shape)}."
        )
    if not y.is_floating_point():
        if num_classes is None or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                "Expected argument `num_classes` to be a positive int to one-hot encode integer labels, but got "
                f"{num_classes!r}. Pass the number of classes, or use lightning_mixup.MixedLabels, which needs none."
            )
        if y.ndim != 1:
            raise ValueError(f"Expected integer labels of shape (B,), but got shape {tuple(y.shape)}.")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise ValueError(
                f"Expected integer labels in [0, {num_classes}), but got values in "
                f"[{int(y.min())}, {int(y.max())}]. Check `num_classes`."
            )


def mix_targets(
    y: Tensor,
    params: MixParams,
    *,
    num_classes: int | None = None,
    label_smoothing: float = 0.0,
    validate_args: bool = True,
) -> Tensor:
    """Mix targets alike: ``lam[i] * t[i] + (1 - lam[i]) * t[index[i]]`` in float32.

    Integer labels ``(B,)`` are first one-hot encoded to ``(B, num_classes)`` and label-smoothed (applied once,
    here): ``t = (1 - ε) · onehot + ε / num_classes``. Float targets ``(B, ...)`` (multi-label multi-hot, or
    already soft) are interpolated as they are; smoothing them is left to the loss.

    Args:
        y: integer labels ``(B,)`` or float targets ``(B, ...)``. It is not modified.
        params: the parameters used to mix the inputs.
        num_classes: the number of classes, needed for integer labels.
        label_smoothing: ε in [0, 1), integer labels only.
        validate_args: check shapes and values.

    Returns:
        float32 soft targets; every row sums to 1 for integer labels.

    Raises:
        TypeError: if ``y`` is not a tensor.
        ValueError: on a batch-size mismatch, labels outside ``[0, num_classes)``, or smoothing of float targets.

    Example:
        >>> from lightning_mixup.functional import MixParams
        >>> params = MixParams(lam=torch.tensor([0.75, 1.0]), index=torch.tensor([1, 1]))
        >>> mix_targets(torch.tensor([0, 2]), params, num_classes=3)
        tensor([[0.7500, 0.0000, 0.2500],
                [0.0000, 0.0000, 1.0000]])
    """
    if validate_args:
        _targets_tensor_validation(y, params, num_classes)
        if not isinstance(label_smoothing, (int, float)) or not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"Expected argument `label_smoothing` to be a float in [0, 1), but got {label_smoothing!r}."
            )
        if label_smoothing and y.is_floating_point():
            raise ValueError(
                "Expected integer labels when `label_smoothing` > 0, but got float targets: smoothing multi-label or "
                "soft targets is ambiguous. Smooth them in your loss and set `label_smoothing=0`."
            )
    if y.is_floating_point():
        targets = y.float()
    else:
        targets = F.one_hot(y.long(), num_classes if num_classes is not None else -1).float()
        if label_smoothing:
            targets = targets * (1.0 - label_smoothing) + label_smoothing / targets.shape[-1]
    lam = params.lam.to(targets.device).view(-1, *([1] * (targets.ndim - 1)))
    return torch.lerp(targets[params.index.to(targets.device)], targets, lam)


def interpolate_loss(loss_a: Tensor, loss_b: Tensor, lam: Tensor) -> Tensor:
    """Per-sample mixup loss ``lam · loss_a + (1 - lam) · loss_b``, before any reduction.

    ``lam`` of shape ``(B,)`` broadcasts over the trailing dimensions of per-element losses ``(B, ...)``.

    Example:
        >>> interpolate_loss(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([0.5, 1.0]))
        tensor([2., 2.])
    """
    if loss_a.shape != loss_b.shape:
        raise ValueError(
            f"Expected the two losses to have the same shape, but got {tuple(loss_a.shape)} and "
            f"{tuple(loss_b.shape)}. Compute them with reduction='none'."
        )
    if loss_a.ndim < 1 or loss_a.shape[0] != lam.shape[0]:
        raise ValueError(
            f"Expected per-sample losses of shape (B, ...) with B = {lam.shape[0]}, but got {tuple(loss_a.shape)}. "
            "Compute them with reduction='none'."
        )
    weight = lam.to(device=loss_a.device, dtype=loss_a.dtype).view(-1, *([1] * (loss_a.ndim - 1)))
    return torch.lerp(loss_b, loss_a, weight)
