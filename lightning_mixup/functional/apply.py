"""Deterministic application of sampled mixing parameters to inputs and targets.

Nothing here mutates its inputs: results are new tensors, or written into an ``out`` buffer the caller owns.

Exactness: a sample with ``λ = 1`` or that is its own partner is an exact copy of itself, and a sample with
``λ = 0`` an exact copy of its partner, whatever the values (``inf`` and ``nan`` included): the other side's
values never reach it. Mixed samples are ``λ·x[i] + (1 - λ)·x[j]`` computed as two products and a sum, which
cannot overflow for finite inputs (a ``lerp`` forms ``x[i] - x[j]`` first, which overflows for values of opposite
sign beyond half the dtype's range). A ``nan`` or ``inf`` in a sample reaches the samples mixed with it, as the
definition says.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899
    - Manifold Mixup: Verma et al., ICML 2019, https://arxiv.org/abs/1806.05236
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._checks import check_int, check_probability, check_tensor
from lightning_mixup._device import to_device
from lightning_mixup.functional.sampling import MixParams


def _params_tensor_validation(x: Tensor, params: MixParams) -> None:
    check_tensor(x, "x", min_ndim=1, shape_hint="(B, ...)")
    if not isinstance(params, MixParams):
        raise TypeError(f"Expected argument `params` to be a MixParams, but got {type(params).__name__}.")
    if x.shape[0] != params.batch_size:
        raise ValueError(
            f"Expected argument `x` to have the batch size of the mixing parameters, {params.batch_size}, in its "
            f"first dimension, but got shape {tuple(x.shape)}."
        )
    _index_range_validation(params)


def _index_range_validation(params: MixParams) -> None:
    if params.batch_size and int(params.index.max()) >= params.batch_size:
        raise ValueError(
            f"Expected `params.index` values in [0, {params.batch_size}) (partners within the batch), but got a "
            f"maximum of {int(params.index.max())}."
        )


def _out_tensor_validation(x: Tensor, out: Tensor) -> None:
    check_tensor(out, "out")
    if out.shape != x.shape or out.dtype != x.dtype or out.device != x.device:
        raise ValueError(
            f"Expected argument `out` to match `x` (shape {tuple(x.shape)}, {x.dtype}, {x.device}), but got shape "
            f"{tuple(out.shape)}, {out.dtype}, {out.device}."
        )
    if x.numel() > 0 and out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
        raise ValueError("Expected argument `out` not to share memory with `x`: mixing reads `x` while writing.")


def _exact_rows(params: MixParams) -> tuple[Tensor, Tensor]:
    """``(rows, sources)``: the rows that are copies, and the row each copies (itself or its partner).

    A row copies itself where λ = 1 or it is its own partner, and its partner where λ = 0.
    """
    positions = torch.arange(params.batch_size, device=params.index.device)
    itself = (params.lam == 1.0) | (params.index == positions)
    rows = torch.nonzero(itself | (params.lam == 0.0)).flatten()
    return rows, torch.where(itself, positions, params.index)[rows]


def _blend(x: Tensor, params: MixParams, out: Tensor | None) -> Tensor:
    """``lam[i] * x[i] + (1 - lam[i]) * x[index[i]]``, exact where a row is a copy; one output batch allocated."""
    if not x.is_floating_point():
        raise TypeError(
            f"Expected floating-point inputs to blend (mixup), but got {x.dtype}. Integer inputs are token or "
            "category ids: MixupCallback mixes the output of the model's nn.Embedding instead (embedding mixup). "
            "For integer images, convert them to float first (e.g. in `on_after_batch_transfer`); CutMix "
            "(alpha=0, cutmix_alpha > 0) pastes integer images as they are."
        )
    batch_size = params.batch_size
    if batch_size == 0:
        return torch.empty_like(x) if out is None else out
    lam = to_device(params.lam, x.device, x.dtype).view(-1, *([1] * (x.ndim - 1)))
    index = to_device(params.index, x.device)
    # the one output batch: the partners, scaled in place below
    result = x.index_select(0, index) if out is None else torch.index_select(x, 0, index, out=out)
    if torch.is_grad_enabled() and (x.requires_grad or result.requires_grad):
        result = result * (1 - lam) + x * lam  # out-of-place for autograd (Manifold Mixup of activations)
    else:
        result.mul_(1 - lam).addcmul_(x, lam)
    copied, copied_from = _exact_rows(params)
    if copied.numel():
        rows, sources = to_device(copied, x.device), to_device(copied_from, x.device)
        if result.requires_grad:
            result = result.index_copy(0, rows, x.index_select(0, sources))
        else:
            result.index_copy_(0, rows, x.index_select(0, sources))
    return result


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


def is_dense_cutmix(y: Tensor, params: MixParams) -> bool:
    """Whether ``y`` is a dense target map ``(B, ..., H, W)`` (``ndim >= 3``) under CutMix parameters (boxes)."""
    return params.boxes is not None and y.ndim >= 3


def paste_targets(y: Tensor, params: MixParams) -> Tensor:
    """CutMix of dense targets: the same boxes pasted into the label maps, as into the images.

    Every pixel then keeps the target of the image it comes from (French et al., "Semi-supervised semantic
    segmentation needs strong, varied perturbations", BMVC 2020, https://arxiv.org/abs/1906.01916), rather than
    the box-area λ of the whole image, which scores a pasted pixel against a label it does not have. Integer masks
    stay integer (``ignore_index`` values are pasted like any label), so any per-pixel loss sees hard targets.

    Args:
        y: dense targets ``(B, ..., H, W)`` of the images' spatial size ``params.size``: integer masks
            ``(B, H, W)`` or float maps ``(B, C, H, W)``. It is not modified.
        params: CutMix parameters, from :func:`~lightning_mixup.functional.sample_cutmix`.

    Returns:
        The pasted targets, of ``y``'s shape and dtype.

    Raises:
        ValueError: if ``params`` has no boxes or no size, or the targets' last two dimensions are not ``params.size``.

    Example:
        >>> from lightning_mixup.functional import MixParams
        >>> boxes = torch.tensor([[0, 1, 0, 1], [0, 0, 0, 0]])  # (top, bottom, left, right): pixel (0, 0) of image 0
        >>> params = MixParams(torch.tensor([0.75, 1.0]), torch.tensor([1, 1]), boxes, size=(2, 2))
        >>> paste_targets(torch.tensor([[[0, 0], [0, 0]], [[1, 1], [1, 255]]]), params)
        tensor([[[  1,   0],
                 [  0,   0]],
        <BLANKLINE>
                [[  1,   1],
                 [  1, 255]]])
    """
    if params.boxes is None or params.size is None:
        raise ValueError(
            "Expected CutMix parameters with `boxes` and `size` (the images' (H, W)) to paste dense targets, but got "
            f"boxes={'None' if params.boxes is None else 'given'} and size={params.size}. Draw them with "
            "sample_cutmix, or pass MixParams(..., boxes=..., size=(H, W))."
        )
    check_tensor(y, "y", min_ndim=3, shape_hint="(B, ..., H, W)")
    if y.shape[0] != params.batch_size:
        raise ValueError(
            f"Expected argument `y` to have the batch size of the mixing parameters, {params.batch_size}, in its "
            f"first dimension, but got shape {tuple(y.shape)}."
        )
    if tuple(y.shape[-2:]) != params.size:
        raise ValueError(
            f"Expected dense targets (B, ..., H, W) of the images' spatial size (H, W) = {params.size} under CutMix, "
            f"which pastes the same boxes into the targets as into the images, but got shape {tuple(y.shape)}. Resize "
            "the masks to the input's size (nearest-neighbour for label maps) before the training step, or use mixup "
            "(cutmix_alpha=0), which mixes targets per element at any resolution."
        )
    _index_range_validation(params)
    return _paste(y, to_device(params.index, y.device), params.boxes, None)


def apply_mix(x: Tensor, params: MixParams, *, out: Tensor | None = None, validate_args: bool = True) -> Tensor:
    """Mix a batch with sampled parameters: blend (mixup, Manifold Mixup) or paste boxes (CutMix).

    Works on any ``(B, ...)`` tensor, inputs or hidden activations, with autograd. CutMix needs
    ``(B, ..., H, W)`` with the spatial dimensions last. λ is cast to the input's dtype. Allocates one output
    batch (none with ``out``); rows that are copies (λ = 1, own partner, or λ = 0) are exact copies.

    Args:
        x: the batch, shape ``(B, ...)``. It is not modified.
        params: from :func:`~lightning_mixup.functional.sample_mixup` or
            :func:`~lightning_mixup.functional.sample_cutmix`.
        out: optional buffer of the same shape, dtype and device to write the result into (not sharing memory
            with ``x``).
        validate_args: check shapes.

    Returns:
        The mixed batch (``out`` when given).

    Raises:
        TypeError: if ``x`` is not a tensor, or not floating point for a blend.
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


def blend_pair(a: Tensor, b: Tensor, lam: Tensor) -> Tensor:
    """``lam·a + (1 - lam)·b`` elementwise, exactly ``a`` where ``lam == 1`` and ``b`` where ``lam == 0``.

    ``lam`` broadcasts against ``a`` and ``b`` (e.g. ``(B, 1, ...)`` per sample). The result has the dtype of
    ``a`` if it is floating point, else float32 (integer labels interpolated as values).

    Example:
        >>> blend_pair(torch.tensor([float("inf"), 2.0]), torch.tensor([0.0, float("nan")]), torch.tensor([1.0, 0.5]))
        tensor([inf, nan])
    """
    dtype = a.dtype if a.is_floating_point() else torch.float32
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    a_, b_ = a.to(compute), b.to(compute)
    w = to_device(lam, a.device, compute)
    mixed = a_ * w + b_ * (1 - w)
    return torch.where(w == 1, a_, torch.where(w == 0, b_, mixed)).to(dtype)


def _targets_tensor_validation(y: Tensor, params: MixParams, num_classes: int | None) -> None:
    check_tensor(y, "y", min_ndim=1, shape_hint="(B, ...)")
    if y.shape[0] != params.batch_size:
        raise ValueError(
            f"Expected argument `y` to have the batch size of the mixing parameters, {params.batch_size}, in its "
            f"first dimension, but got shape {tuple(y.shape)}."
        )
    _index_range_validation(params)
    if not y.is_floating_point():
        if num_classes is None:
            raise ValueError(
                "Expected argument `num_classes` to be a positive int to one-hot encode integer labels, but got "
                "None. Pass the number of classes, or use lightning_mixup.MixedLabels, which needs none."
            )
        check_int(num_classes, "num_classes", minimum=1)
        if y.dtype == torch.bool:
            raise TypeError("Expected integer class labels, but got bool labels. Convert them with `.long()`.")
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

    Integer labels ``(B, ...)`` are first one-hot encoded to ``(B, ..., num_classes)`` and label-smoothed
    (applied once, here): ``t = (1 - ε) · onehot + ε / num_classes``. Float targets ``(B, ...)`` (multi-label
    multi-hot, or already soft) are interpolated as they are; smoothing them is left to the loss. Under CutMix,
    dense targets ``(B, ..., H, W)`` (``ndim >= 3``, segmentation masks) get the images' boxes pasted
    (:func:`paste_targets`) before the one-hot encoding, so every pixel has the target of the image it comes from.

    Args:
        y: integer labels ``(B, ...)`` or float targets ``(B, ...)``. It is not modified.
        params: the parameters used to mix the inputs.
        num_classes: the number of classes, needed for integer labels.
        label_smoothing: ε in [0, 1), integer labels only.
        validate_args: check shapes and values.

    Returns:
        float32 soft targets; every class distribution sums to 1 for integer labels.

    Raises:
        TypeError: if ``y`` is not a tensor, or bool labels.
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
        check_probability(label_smoothing, "label_smoothing", upper_open=True)
        if label_smoothing and y.is_floating_point():
            raise ValueError(
                "Expected integer labels when `label_smoothing` > 0, but got float targets: smoothing multi-label or "
                "soft targets is ambiguous. Smooth them in your loss and set `label_smoothing=0`."
            )
    dense = is_dense_cutmix(y, params)
    if dense:  # each pixel keeps the target of the image it comes from: nothing left to blend
        y = paste_targets(y, params)
    if y.is_floating_point():
        targets = y.float()
    else:
        targets = F.one_hot(y.long(), num_classes if num_classes is not None else -1).float()
        if label_smoothing:
            targets = targets * (1.0 - label_smoothing) + label_smoothing / targets.shape[-1]
    return targets if dense else _blend_values(targets, params)


def mix_values(y: Tensor, params: MixParams) -> Tensor:
    """Interpolate targets as values: ``lam[i] * y[i] + (1 - lam[i]) * y[index[i]]``, exact at λ ∈ {0, 1}.

    Float targets keep their dtype; integer (binary or multi-hot) labels become float32. This is mixup's own
    definition of the mixed target, and for losses linear in the target (BCE, soft cross-entropy) the same as
    interpolating the two losses. Under CutMix, dense targets ``(B, ..., H, W)`` (``ndim >= 3``) are pasted instead
    (:func:`paste_targets`); targets ``(B,)`` or ``(B, K)`` are weighted by the kept area λ.

    Example:
        >>> from lightning_mixup.functional import MixParams
        >>> params = MixParams(lam=torch.tensor([0.25, 1.0]), index=torch.tensor([1, 1]))
        >>> mix_values(torch.tensor([[1, 0], [0, 1]]), params)
        tensor([[0.2500, 0.7500],
                [0.0000, 1.0000]])
    """
    if is_dense_cutmix(y, params):
        pasted = paste_targets(y, params)
        return pasted if pasted.is_floating_point() else pasted.float()
    return _blend_values(y, params)


def _blend_values(y: Tensor, params: MixParams) -> Tensor:
    lam = to_device(params.lam, y.device).view(-1, *([1] * (y.ndim - 1)))
    return blend_pair(y, y[to_device(params.index, y.device)], lam)


def interpolate_loss(loss_a: Tensor, loss_b: Tensor, lam: Tensor) -> Tensor:
    """Per-sample mixup loss ``lam · loss_a + (1 - lam) · loss_b``, before any reduction.

    ``lam`` of shape ``(B,)`` broadcasts over the trailing dimensions of per-element losses ``(B, ...)``; a
    ``lam`` of the losses' full shape is used as it is. Exactly ``loss_a`` where ``lam == 1`` (an infinite
    ``loss_b`` does not turn it into ``nan``), ``loss_b`` where ``lam == 0``.

    Example:
        >>> interpolate_loss(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([0.5, 1.0]))
        tensor([2., 2.])
    """
    if loss_a.shape != loss_b.shape:
        raise ValueError(
            f"Expected the two losses to have the same shape, but got {tuple(loss_a.shape)} and "
            f"{tuple(loss_b.shape)}. Compute them with reduction='none'."
        )
    if lam.shape != loss_a.shape:
        if loss_a.ndim < 1 or lam.ndim != 1 or loss_a.shape[0] != lam.shape[0]:
            raise ValueError(
                f"Expected per-sample losses of shape (B, ...) with B = {lam.shape[0] if lam.ndim else 1}, or of "
                f"the weights' shape {tuple(lam.shape)}, but got {tuple(loss_a.shape)}. Compute them with "
                "reduction='none'."
            )
        lam = lam.view(-1, *([1] * (loss_a.ndim - 1)))
    return blend_pair(loss_a, loss_b, lam)
