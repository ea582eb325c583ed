"""The mixing policy shared by :class:`~lightning_mixup.MixupCallback` and :class:`~lightning_mixup.MixupMixin`.

Pure torch (no Lightning import): which method to use on a batch (mixup or CutMix), how to draw its parameters,
and how to turn the labels into targets a loss can take.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lightning_mixup._checks import check_bool, check_choice, check_int, check_probability
from lightning_mixup._device import to_device
from lightning_mixup.functional import (
    MixedLabels,
    MixMode,
    MixParams,
    identity_params,
    mix_targets,
    sample_cutmix,
    sample_mixup,
)
from lightning_mixup.functional.apply import is_dense_cutmix, mix_values, paste_targets
from lightning_mixup.functional.labels import LabelReads
from lightning_mixup.functional.sampling import (
    _alpha_arg_validation,
    _minmax_arg_validation,
    _mode_arg_validation,
    _prob_arg_validation,
)

TargetMode = Literal["auto", "soft"]
TARGET_MODES: tuple[str, ...] = ("auto", "soft")


@dataclass(frozen=True)
class MixupPolicy:
    """What to mix and how; see :class:`~lightning_mixup.MixupCallback` for the meaning of every field.

    Example:
        >>> policy = MixupPolicy(alpha=1.0)
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.rand(4, 2), torch.tensor([0, 1, 1, 0])
        >>> params = policy.sample(x, g)
        >>> type(policy.targets(y, params)).__name__
        'MixedLabels'
    """

    alpha: float = 0.2
    cutmix_alpha: float = 0.0
    cutmix_minmax: tuple[float, float] | None = None
    switch_prob: float = 0.5
    prob: float = 1.0
    mode: MixMode = "batch"
    correct_lam: bool = True
    label_smoothing: float = 0.0
    bce_target_thresh: float | None = None
    target_mode: TargetMode = "auto"
    num_classes: int | None = None

    def __post_init__(self) -> None:
        _alpha_arg_validation(self.alpha)
        _alpha_arg_validation(self.cutmix_alpha, "cutmix_alpha")
        _prob_arg_validation(self.switch_prob, "switch_prob")
        _prob_arg_validation(self.prob)
        _mode_arg_validation(self.mode)
        check_bool(self.correct_lam, "correct_lam")
        check_probability(self.label_smoothing, "label_smoothing", upper_open=True)
        check_choice(self.target_mode, "target_mode", TARGET_MODES)
        check_int(self.num_classes, "num_classes", minimum=1, optional=True)
        _minmax_arg_validation(self.cutmix_minmax)
        if self.cutmix_minmax is not None and self.cutmix_alpha == 0:
            raise ValueError(
                f"Expected `cutmix_alpha` > 0 with cutmix_minmax={self.cutmix_minmax}: the box size range applies to "
                "CutMix, which cutmix_alpha=0 switches off. Set cutmix_alpha (e.g. 1.0) to use CutMix."
            )
        if self.bce_target_thresh is not None:
            check_probability(self.bce_target_thresh, "bce_target_thresh", upper_open=True)
            if self.target_mode != "soft":
                raise ValueError(
                    f"Expected target_mode='soft' with bce_target_thresh={self.bce_target_thresh}, but got "
                    f"target_mode={self.target_mode!r}: the threshold binarises soft targets, and 'auto' hands integer "
                    "labels to the loss as MixedLabels. Set target_mode='soft' (with num_classes for class ids)."
                )

    @property
    def enabled(self) -> bool:
        """Whether any mixing can happen at all (α > 0 for mixup or CutMix, and a non-zero apply probability)."""
        return (self.alpha > 0 or self.cutmix_alpha > 0) and self.prob > 0

    def sample(self, x: Tensor, generator: torch.Generator | None, *, spatial: bool = True) -> MixParams:
        """Draw the parameters for batch ``x``: CutMix with probability ``switch_prob`` when both are on.

        Args:
            x: the batch to be mixed, ``(B, ...)``; CutMix needs ``(B, ..., H, W)``. For float16/bfloat16 inputs
                λ is rounded to that dtype, so the inputs and the (float32) targets use the same weights.
            generator: the source of randomness.
            spatial: whether CutMix may be used (False for hidden activations or GAN samples).
        """
        if not spatial and self.alpha == 0 and self.cutmix_alpha > 0:
            raise ValueError(
                f"Expected `alpha` > 0 to mix this batch, but got alpha=0 with cutmix_alpha={self.cutmix_alpha}: "
                "CutMix pastes image regions and has no form for hidden layers (Manifold Mixup) or token embeddings, "
                "so nothing would be mixed. Set alpha for mixup."
            )
        params = self._sample(x, generator, spatial)
        if x.dtype in (torch.float16, torch.bfloat16) and not params.is_cutmix:
            # λ in the input's dtype, and the targets weighted by that same rounded λ
            params = dataclasses.replace(params, lam=params.lam.to(x.dtype).float())
        return params

    def _sample(self, x: Tensor, generator: torch.Generator | None, spatial: bool) -> MixParams:
        batch_size = int(x.shape[0])
        use_cutmix = spatial and self.cutmix_alpha > 0
        if use_cutmix and self.alpha > 0:
            use_cutmix = bool(torch.rand((), generator=generator) < self.switch_prob)
        if use_cutmix:
            if x.ndim < 3:
                raise ValueError(
                    f"Expected image inputs of shape (B, ..., H, W) for CutMix (cutmix_alpha > 0), but got shape "
                    f"{tuple(x.shape)}. Set cutmix_alpha=0 for non-image inputs."
                )
            return sample_cutmix(
                batch_size,
                (int(x.shape[-2]), int(x.shape[-1])),
                alpha=self.cutmix_alpha,
                mode=self.mode,
                prob=self.prob,
                correct_lam=self.correct_lam,
                minmax=self.cutmix_minmax,
                generator=generator,
                validate_args=False,
            )
        return sample_mixup(
            batch_size, alpha=self.alpha, mode=self.mode, prob=self.prob, generator=generator, validate_args=False
        )

    def targets(self, y: Tensor, params: MixParams, *, label_reads: LabelReads = "dominant") -> Tensor:
        """Targets for the mixed batch.

        ``"auto"``: integer labels ``(B, ...)`` become :class:`MixedLabels` (one λ per sample, broadcast over the
        label's other dimensions); float targets are interpolated. ``"soft"``: integer labels are one-hot encoded
        to ``num_classes`` and mixed (class ids), or, without ``num_classes``, interpolated as values (binary or
        multi-hot labels); float targets are interpolated.

        Under CutMix, dense targets ``(B, ..., H, W)`` (``ndim >= 3``: segmentation masks, float maps) of the
        images' spatial size get the images' boxes pasted instead
        (:func:`~lightning_mixup.functional.apply.paste_targets`): every pixel keeps the target of the image it
        comes from, and integer masks stay a plain integer tensor (``MixedLabels`` with λ = 1 when the policy
        smooths labels), so ``F.cross_entropy`` with ``ignore_index``, Dice or focal losses see exact hard labels.
        Targets ``(B,)`` / ``(B, K)`` keep the area λ.

        Raises:
            TypeError: if ``y`` is not a tensor.
            ValueError: if its batch size does not match, smoothing is asked of float targets, or dense targets
                under CutMix are not of the images' spatial size.
        """
        if not isinstance(y, Tensor):
            raise TypeError(f"Expected the targets to be a torch.Tensor, but got {type(y).__name__}.")
        if y.ndim < 1 or y.shape[0] != params.batch_size:
            raise ValueError(
                f"Expected targets with the batch size of the inputs, {params.batch_size}, in their first dimension, "
                f"but got shape {tuple(y.shape)}."
            )
        self._check_smoothing(y)
        return self._binarise(self._targets(y, params, label_reads))

    def _targets(self, y: Tensor, params: MixParams, label_reads: LabelReads) -> Tensor:
        if y.is_floating_point():
            return mix_values(y, params)
        if self.target_mode == "auto":
            if is_dense_cutmix(y, params):
                return self.unmixed_targets(paste_targets(y, params))
            index = to_device(params.index, y.device)
            return MixedLabels(y, y[index], to_device(params.lam, y.device), self.label_smoothing, label_reads)
        if self.num_classes is None:
            return mix_values(y, params)
        return mix_targets(y, params, num_classes=self.num_classes, label_smoothing=self.label_smoothing)

    def _binarise(self, targets: Tensor) -> Tensor:
        """With ``bce_target_thresh``: float targets become 1 above the threshold and 0 elsewhere (timm's BCE)."""
        if self.bce_target_thresh is None or not targets.is_floating_point():
            return targets
        return (targets > self.bce_target_thresh).to(targets.dtype)

    def _check_smoothing(self, y: Tensor) -> None:
        if self.label_smoothing and y.is_floating_point():
            raise ValueError(
                "Expected integer labels when `label_smoothing` > 0, but got float targets: smoothing multi-label or "
                "soft targets is ambiguous. Smooth them in your loss and set `label_smoothing=0`."
            )
        if self.label_smoothing and self.target_mode == "soft" and self.num_classes is None:
            raise ValueError(
                "Expected `num_classes` with target_mode='soft' and label_smoothing > 0: smoothing needs one-hot "
                "targets. Pass num_classes, or smooth in your loss."
            )

    def unmixed_targets(self, y: Tensor) -> Tensor:
        """Targets of a batch that is not mixed, in the same form the loss gets for mixed batches.

        ``"auto"`` leaves labels as they are, or, with label smoothing, wraps integer labels in
        :class:`MixedLabels` with λ = 1 so that the loss smooths them as it does mixed batches; ``"soft"``
        one-hot encodes integer labels (with ``num_classes``) or casts them to float (without), so the loss sees
        one kind of target throughout.

        Raises:
            ValueError: for float targets with label smoothing, as for mixed batches, from the first batch on.
        """
        if not isinstance(y, Tensor):
            return y
        self._check_smoothing(y)
        if y.is_floating_point() or y.ndim < 1:
            return self._binarise(y)
        batch_size = int(y.shape[0])
        if self.target_mode == "soft":
            if self.num_classes is None:
                return self._binarise(y.float())
            return self._binarise(
                mix_targets(
                    y, identity_params(batch_size), num_classes=self.num_classes, label_smoothing=self.label_smoothing
                )
            )
        if self.label_smoothing:
            return MixedLabels(y, y, torch.ones(batch_size, device=y.device), self.label_smoothing)
        return y
