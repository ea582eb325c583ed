"""The mixing policy shared by :class:`~lightning_mixup.MixupCallback` and :class:`~lightning_mixup.MixupMixin`.

Pure torch (no Lightning import): which method to use on a batch (mixup or CutMix, or one of the mixup family
selected by ``method``), how to draw its parameters, and how to turn the labels into targets a loss can take.
``docs/methods.md`` describes every method, its options and what the unchanged step computes.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899
    - RegMixup: Pinto et al., NeurIPS 2022, https://arxiv.org/abs/2206.14502
    - Kernel-warping mixup: Bouniot et al., ICLR 2025, https://arxiv.org/abs/2311.01434
    - MIT: Wang et al., "On the Pitfall of Mixup for Uncertainty Calibration", CVPR 2023
    - C-Mixup: Yao et al., NeurIPS 2022, https://arxiv.org/abs/2210.05775
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lightning_mixup._checks import check_bool, check_choice, check_finite_float, check_int, check_probability
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
from lightning_mixup.functional.cmixup import CMIXUP_ALPHA, CMIXUP_BANDWIDTH, CMIXUP_MODES, sample_cmixup
from lightning_mixup.functional.labels import LabelReads
from lightning_mixup.functional.mit import MIT_ALPHA, MitParams, sample_mit
from lightning_mixup.functional.regmixup import REGMIXUP_ALPHA, sample_regmixup
from lightning_mixup.functional.sampling import (
    _alpha_arg_validation,
    _minmax_arg_validation,
    _mode_arg_validation,
    _prob_arg_validation,
)
from lightning_mixup.functional.warping import (
    KERNEL_ALPHA,
    KERNEL_TAU_MAX,
    KERNEL_TAU_STD,
    WARPING_MODES,
    WARPINGS,
    Warping,
    _kernel_arg_validation,
    sample_kernel_warping,
)

TargetMode = Literal["auto", "soft"]
TARGET_MODES: tuple[str, ...] = ("auto", "soft")

Method = Literal["mixup", "regmixup", "kernel_warping", "mixup_inference_training", "cmixup"]
#: The mixup family selected by ``method`` (``"mixup"``: mixup, CutMix and Manifold Mixup as before).
METHODS: tuple[str, ...] = ("mixup", "regmixup", "kernel_warping", "mixup_inference_training", "cmixup")
#: Each method's α when ``alpha=None``: the papers' (official code's) defaults; mixup keeps this package's 0.2.
DEFAULT_ALPHAS: dict[str, float] = {
    "mixup": 0.2,
    "regmixup": REGMIXUP_ALPHA,
    "kernel_warping": KERNEL_ALPHA,
    "mixup_inference_training": MIT_ALPHA,
    "cmixup": CMIXUP_ALPHA,
}
#: Each method's ``mode`` when ``mode=None``: one λ per batch, except kernel warping, whose authors draw one per sample.
DEFAULT_MODES: dict[str, str] = {method: "batch" for method in METHODS} | {"kernel_warping": "elem"}
KernelDistance = Literal["inputs", "embeddings"]
KERNEL_DISTANCES: tuple[str, ...] = ("inputs", "embeddings")
#: The ``mode`` values each method's sampler takes (``"batch"``, the default, everywhere).
_METHOD_MODES: dict[str, tuple[str, ...]] = {
    "regmixup": ("batch", "pair", "elem"),
    "kernel_warping": WARPING_MODES,
    "mixup_inference_training": ("batch",),
    "cmixup": CMIXUP_MODES,
}


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

    alpha: float = None  # type: ignore[assignment]  # None: the method's default, resolved in __post_init__
    cutmix_alpha: float = 0.0
    cutmix_minmax: tuple[float, float] | None = None
    switch_prob: float = 0.5
    prob: float = 1.0
    mode: MixMode = None  # type: ignore[assignment]  # None: the method's default, resolved in __post_init__
    correct_lam: bool = True
    label_smoothing: float = 0.0
    bce_target_thresh: float | None = None
    target_mode: TargetMode = "auto"
    num_classes: int | None = None
    method: Method = "mixup"
    regmixup_eta: float = 1.0
    kernel_tau_max: float = KERNEL_TAU_MAX
    kernel_tau_std: float = KERNEL_TAU_STD
    kernel_warping: Warping = "inverse_beta_cdf"
    kernel_distance: KernelDistance = "inputs"
    cmixup_bandwidth: float = CMIXUP_BANDWIDTH

    def __post_init__(self) -> None:
        check_choice(self.method, "method", METHODS)
        if self.alpha is None:
            object.__setattr__(self, "alpha", DEFAULT_ALPHAS[self.method])
        if self.mode is None:
            object.__setattr__(self, "mode", DEFAULT_MODES[self.method])
        _alpha_arg_validation(self.alpha)
        _alpha_arg_validation(self.cutmix_alpha, "cutmix_alpha")
        _prob_arg_validation(self.switch_prob, "switch_prob")
        _prob_arg_validation(self.prob)
        _mode_arg_validation(self.mode)
        check_bool(self.correct_lam, "correct_lam")
        check_probability(self.label_smoothing, "label_smoothing", upper_open=True)
        check_choice(self.target_mode, "target_mode", TARGET_MODES)
        check_int(self.num_classes, "num_classes", minimum=1, optional=True)
        check_finite_float(self.regmixup_eta, "regmixup_eta", minimum=0.0)
        _kernel_arg_validation(self.kernel_tau_max, self.kernel_tau_std)
        check_choice(self.kernel_warping, "kernel_warping", WARPINGS)
        check_choice(self.kernel_distance, "kernel_distance", KERNEL_DISTANCES)
        check_finite_float(self.cmixup_bandwidth, "cmixup_bandwidth", minimum=0.0, allow_zero=False, min_positive=1e-12)
        if self.method != "mixup":
            self._method_arg_validation()

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

    def _method_arg_validation(self) -> None:
        """Options of mixup that the other methods do not have: refused rather than silently ignored."""
        method = self.method
        if self.cutmix_alpha > 0:
            raise ValueError(
                f"Expected cutmix_alpha=0 with method={method!r}, but got cutmix_alpha={self.cutmix_alpha}: the method "
                "has no CutMix form. Use method='mixup' for CutMix."
            )
        if self.prob != 1.0:
            raise ValueError(
                f"Expected prob=1 with method={method!r}, but got prob={self.prob}: mixing only a share of the batches "
                "is an option of method='mixup'."
            )
        if self.target_mode != "auto":
            raise ValueError(
                f"Expected target_mode='auto' with method={method!r}, but got {self.target_mode!r}: the method builds "
                "its own targets (see docs/methods.md)."
            )
        modes = _METHOD_MODES[method]
        if self.mode not in modes:
            raise ValueError(
                f"Expected argument `mode` to be one of {modes} with method={method!r}, but got {self.mode!r}."
            )
        if method == "mixup_inference_training" and self.alpha == 0:
            raise ValueError(
                "Expected argument `alpha` > 0 with method='mixup_inference_training', but got 0: MIT needs two "
                "distinct mixtures."
            )

    @property
    def enabled(self) -> bool:
        """Whether any mixing can happen at all (α > 0 for mixup or CutMix, and a non-zero apply probability)."""
        return (self.alpha > 0 or self.cutmix_alpha > 0) and self.prob > 0

    def sample(
        self,
        x: Tensor,
        generator: torch.Generator | None,
        *,
        spatial: bool = True,
        y: Tensor | None = None,
        features: Tensor | None = None,
    ) -> MixParams:
        """Draw the parameters for batch ``x``: CutMix with probability ``switch_prob`` when both are on.

        With ``method="mixup"`` the draws are exactly those of mixup and CutMix; the other methods draw with their
        functional samplers (RegMixup: :func:`~lightning_mixup.functional.regmixup.sample_regmixup`; kernel
        warping: :func:`~lightning_mixup.functional.warping.sample_kernel_warping` on ``features`` or ``x``;
        C-Mixup: :func:`~lightning_mixup.functional.cmixup.sample_cmixup` on ``y``). MIT draws with
        :meth:`sample_mit`.

        Args:
            x: the batch to be mixed, ``(B, ...)``; CutMix needs ``(B, ..., H, W)``. For float16/bfloat16 inputs
                λ is rounded to that dtype, so the inputs and the (float32) targets use the same weights.
            generator: the source of randomness.
            spatial: whether CutMix may be used (False for hidden activations or GAN samples).
            y: the targets (C-Mixup draws partners by their kernel).
            features: what kernel warping measures pair distances on (``kernel_distance="embeddings"``).

        Raises:
            ValueError: if the method cannot draw for this batch (C-Mixup on integer labels, kernel warping on
                embeddings without ``features``, MIT, which needs :meth:`sample_mit`).
        """
        if self.method != "mixup":
            params = self._sample_method(x, generator, y, features)
        else:
            params = self._sample_mixup_or_cutmix(x, generator, spatial)
        if x.dtype in (torch.float16, torch.bfloat16) and not params.is_cutmix:
            # λ in the input's dtype, and the targets weighted by that same rounded λ
            params = dataclasses.replace(params, lam=params.lam.to(x.dtype).float())
        return params

    def _sample_method(
        self, x: Tensor, generator: torch.Generator | None, y: Tensor | None, features: Tensor | None
    ) -> MixParams:
        batch_size = int(x.shape[0])
        if self.method == "regmixup":
            return sample_regmixup(batch_size, alpha=self.alpha, mode=self.mode, generator=generator)
        if self.method == "cmixup":
            if not isinstance(y, Tensor) or not y.is_floating_point():
                kind = y.dtype if isinstance(y, Tensor) else type(y).__name__
                raise ValueError(
                    f"Expected float regression targets (B,) or (B, k) for method='cmixup', but got {kind} targets: "
                    "C-Mixup draws partners by a kernel on the target values, which class ids do not have. Use "
                    "method='mixup' for classification."
                )
            return sample_cmixup(
                y, alpha=self.alpha, bandwidth=self.cmixup_bandwidth, mode=self.mode, generator=generator
            )
        if self.method == "kernel_warping":
            if features is None and self.kernel_distance == "embeddings":
                raise ValueError(
                    "Expected `features` for kernel_distance='embeddings', but got none: pass the batch's embeddings "
                    "with `self.mix_batch(x, y, features=emb)` in a MixupMixin module, or set "
                    "kernel_distance='inputs'."
                )
            reference = x if features is None else features
            if not reference.is_floating_point():
                raise ValueError(
                    f"Expected floating-point inputs to measure kernel warping's pair distances on, but got "
                    f"{reference.dtype}. Pass `features=` (embeddings) through the mixin's `mix_batch`."
                )
            return sample_kernel_warping(
                reference,
                alpha=self.alpha,
                tau_max=self.kernel_tau_max,
                tau_std=self.kernel_tau_std,
                warping=self.kernel_warping,
                mode=self.mode,
                generator=generator,
            )
        raise ValueError(
            "method='mixup_inference_training' needs the model's outputs on two mixtures of the batch, which one "
            "mixed batch cannot give: draw its parameters with `MixupPolicy.sample_mit` (the mixin's `mit_loss`)."
        )

    def sample_mit(self, batch_size: int, generator: torch.Generator | None) -> MitParams:
        """MIT's parameters (two weights and one permutation) for a batch of ``batch_size`` samples."""
        return sample_mit(batch_size, alpha=self.alpha, generator=generator)

    def _sample_mixup_or_cutmix(self, x: Tensor, generator: torch.Generator | None, spatial: bool) -> MixParams:
        if not spatial and self.alpha == 0 and self.cutmix_alpha > 0:
            raise ValueError(
                f"Expected `alpha` > 0 to mix this batch, but got alpha=0 with cutmix_alpha={self.cutmix_alpha}: "
                "CutMix pastes image regions and has no form for hidden layers (Manifold Mixup) or token embeddings, "
                "so nothing would be mixed. Set alpha for mixup."
            )
        return self._sample(x, generator, spatial)

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
        if self.method == "regmixup":
            return self._regmixup_targets(y, params, label_reads)
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

    def _regmixup_targets(self, y: Tensor, params: MixParams, label_reads: LabelReads) -> Tensor:
        """RegMixup's labels of the ``2B`` rows ``cat([x, x̃])``: the clean labels, then the mixed ones.

        Integer labels: ``MixedLabels(cat(y, y), cat(y, y[j]), cat(1, λ))`` with per-row weight ``cat(1, η)``
        (none when η = 1), so that ``F.cross_entropy``'s mean over the ``2B`` rows is
        ``(CE_clean + η·mixCE) / 2``. Float targets: ``cat(y, λ·y + (1-λ)·y[j])`` (η = 1 only).
        """
        if y.is_floating_point():
            if self.regmixup_eta != 1.0:
                raise ValueError(
                    f"Expected regmixup_eta=1 for float targets, but got {self.regmixup_eta}: a plain float target "
                    "cannot weight the mixed rows' loss. Use integer labels (MixedLabels carry the weight) or "
                    "regmixup_eta=1."
                )
            return torch.cat([y, mix_values(y, params)])
        index = to_device(params.index, y.device)
        lam = to_device(params.lam, y.device)
        weight = None
        if self.regmixup_eta != 1.0:
            weight = torch.cat([torch.ones_like(lam), torch.full_like(lam, self.regmixup_eta)])
        return MixedLabels(
            torch.cat([y, y]),
            torch.cat([y, y[index]]),
            torch.cat([torch.ones_like(lam), lam]),
            self.label_smoothing,
            label_reads,
            weight=weight,
        )

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
