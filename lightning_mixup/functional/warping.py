"""Kernel-warping mixup (Similarity Kernel Mixup): λ warped by a kernel of how far apart the two samples are.

Each sample ``i`` is paired with ``j = index[i]`` and draws λ ~ Beta(α, α); the squared Euclidean distance
``d_i = ‖f_i - f_j‖²`` between the pair's features (inputs, or embeddings from a no-grad forward pass) is divided by
its batch mean, ``d̄_i = d_i / mean(d)``, and sets the warping parameter by a batch-normalised, centred Gaussian
kernel ``τ_i = τ_max · exp(-(d̄_i - 1) / (2·τ_std²))``. λ is then warped by a symmetric Beta:

- ``"inverse_beta_cdf"`` (default, the authors' configs): ``λ'_i = BetaQuantile(λ_i; τ_i, τ_i)``; with α = 1
  (λ uniform) λ' is a draw of Beta(τ_i, τ_i). A near pair (large τ) gets λ' near 0.5, a distant pair (small τ)
  λ' near 0 or 1: it is hardly mixed.
- ``"beta_cdf"`` (torch-uncertainty's ``WarpingMixup``, the paper's first version): ``λ'_i = I_{λ_i}(1/τ_i, 1/τ_i)``,
  the same direction (a distant pair's CDF is a steep step at 0.5).

Inputs and labels are then mixed with λ' exactly as in mixup, so the drop-in labels (``MixedLabels`` with λ')
give the method's loss.

What the sources compute (see ``docs/methods_notes.md``): the authors' ``KernelMixup``
(qbouniot/sim_kernel_mixup, ``classification/torch_uncertainty/transforms/mixup.py`` lines 8-23, 367-433)
normalises the distance first, as here; its CIFAR configs (``configs/resnet34/sk_mixup.yaml``) use
``inverse_beta_cdf`` with α = 1, τ_max = 1, τ_std = 0.25, one λ per sample, embedding distances.
torch-uncertainty's ``WarpingMixup`` uses ``beta_cdf`` with τ_max = 1, τ_std = 0.5, but divides ``(d - 1)`` by
``mean(d)`` (``transforms/mixup.py`` line 21), i.e. ``d̄ - 1/mean(d)`` instead of ``d̄ - 1``.

The regularised incomplete beta and its inverse come from ``scipy.special`` (``betainc``, ``betaincinv``; scipy is
installed with scikit-learn, a core dependency), computed on the CPU in float64: about 0.1 ms for a batch of 64,
where the pure-torch Newton iteration of version 0.2 took 20 ms. Above ``a = 10⁶``, where scipy loses digits, the
Student-t representation of the symmetric Beta with a normal approximation of order ``1/a²`` is used.

References:
    - Bouniot et al., "Tailoring Mixup to Data for Calibration", ICLR 2025 (first version: "Tailoring Mixup to
      Data using Kernel Warping functions"), https://arxiv.org/abs/2311.01434
    - Authors' code: https://github.com/qbouniot/sim_kernel_mixup; torch-uncertainty ``WarpingMixup``
      (https://github.com/ENSTA-U2IS-AI/torch-uncertainty, ``src/torch_uncertainty/transforms/mixup.py``)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from lightning_mixup._checks import check_choice, check_finite_float, check_tensor
from lightning_mixup.functional.sampling import MIN_ALPHA, MixParams, identity_params, sample_beta

__all__ = [
    "KERNEL_ALPHA",
    "KERNEL_TAU_MAX",
    "KERNEL_TAU_STD",
    "WARPINGS",
    "WARPING_MODES",
    "Warping",
    "beta_cdf",
    "beta_quantile",
    "kernel_tau",
    "pair_distance",
    "sample_kernel_warping",
    "warp_lam",
]

#: One λ per sample (the authors' configs, ``mixmode: elem``) or one per batch.
WARPING_MODES: tuple[str, ...] = ("elem", "batch")
#: The warping functions: the Beta quantile with parameter τ (the authors' configs) or the Beta CDF with 1/τ.
Warping = Literal["inverse_beta_cdf", "beta_cdf"]
WARPINGS: tuple[str, ...] = ("inverse_beta_cdf", "beta_cdf")
#: The authors' CIFAR configs (``configs/resnet34/sk_mixup.yaml``): α = 1, τ_max = 1, τ_std = 0.25.
KERNEL_ALPHA = 1.0
KERNEL_TAU_MAX = 1.0
KERNEL_TAU_STD = 0.25

# Above this concentration scipy's betainc loses digits (scipy 1.13, the floor: 1.5e-10 at a = 1e7, 4e-7 at 1e10;
# scipy 1.17: 2.7e-5 at 1e12): the Student-t representation of the symmetric Beta with a normal approximation is
# used instead, whose error falls as 1/a² (2e-12 at 1e5, 2e-14 at 1e6, where both agree).
_A_LARGE = 1e6
# τ outside these bounds (a kernel that overflows or underflows) is clamped: the CDF is then a step at 0.5 (below
# 1e-100 every quantile under 0.5 underflows already; scipy 1.13's betaincinv returns nan at a = 1e-300)
_A_MIN, _A_MAX = 1e-100, 1e200


def _symmetric_beta(
    scipy_name: str, normal_limit: Callable[[Tensor, Tensor], Tensor], x: Tensor | float, a: Tensor | float
) -> Tensor:
    """``scipy.special.<scipy_name>(a, a, x)`` in float64 on ``x``'s device, ``normal_limit`` above ``_A_LARGE``.

    ``a`` is clamped to ``[_A_MIN, _A_MAX]``; ``x = 0.5`` maps to 0.5 exactly (scipy is off by an ulp at some ``a``).
    """
    from scipy import special

    x64 = torch.as_tensor(x, dtype=torch.float64)
    a64 = torch.as_tensor(a, dtype=torch.float64, device=x64.device).clamp(_A_MIN, _A_MAX)
    x64, a64 = torch.broadcast_tensors(x64, a64)
    a_np = a64.detach().cpu().numpy()
    out = torch.from_numpy(getattr(special, scipy_name)(a_np, a_np, x64.detach().cpu().numpy())).to(x64.device)
    large = (a64 > _A_LARGE) & (x64 > 0.0) & (x64 < 1.0)
    if bool(large.any()):
        out[large] = normal_limit(x64[large], a64[large])
    return out.masked_fill_(x64 == 0.5, 0.5)


def _betainc_large(x: Tensor, a: Tensor) -> Tensor:
    """``I_x(a, a)`` for large ``a``: ``X ~ Beta(a, a)`` is ``½ + T / (2·sqrt(ν + T²))`` with ``T ~ t(ν = 2a)``."""
    nu = 2.0 * a
    t = (2.0 * x - 1.0) * torch.sqrt(nu) / (2.0 * torch.sqrt(x * (1.0 - x)))
    z = t * (1.0 - 1.0 / (4.0 * nu)) / torch.sqrt(1.0 + t * t / (2.0 * nu))
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def _ppf_large(p: Tensor, a: Tensor) -> Tensor:
    """The inverse of :func:`_betainc_large` (closed form)."""
    nu = 2.0 * a
    z = torch.special.ndtri(p)
    c = 1.0 - 1.0 / (4.0 * nu)
    t = z / torch.sqrt(c * c - z * z / (2.0 * nu))
    return 0.5 + t / (2.0 * torch.sqrt(nu + t * t))


def beta_cdf(x: Tensor | float, a: Tensor | float) -> Tensor:
    """The CDF of the symmetric Beta(a, a) at ``x``: the regularised incomplete beta ``I_x(a, a)``, in float64.

    ``scipy.special.betainc`` (computed on the CPU), with the normal limit above ``a = 10⁶``.

    Args:
        x: values in ``[0, 1]``, any shape.
        a: concentrations ``a > 0``, broadcasting against ``x``; clamped to ``[1e-100, 1e200]``.

    Returns:
        float64 tensor of the broadcast shape on ``x``'s device, in ``[0, 1]``; exactly 0 at ``x = 0``, 1 at
        ``x = 1`` and 0.5 at ``x = 0.5``.

    Example:
        >>> beta_cdf(torch.tensor([0.0, 0.25, 0.5, 1.0]), 1.0)  # Beta(1, 1) is uniform
        tensor([0.0000, 0.2500, 0.5000, 1.0000], dtype=torch.float64)
    """
    return _symmetric_beta("betainc", _betainc_large, x, a)


def beta_quantile(p: Tensor | float, a: Tensor | float) -> Tensor:
    """The quantile of the symmetric Beta(a, a) at ``p``: the inverse of :func:`beta_cdf`, in float64.

    ``scipy.special.betaincinv`` (computed on the CPU), with the normal limit's closed form above ``a = 10⁶``.

    Args:
        p: probabilities in ``[0, 1]``, any shape.
        a: concentrations ``a > 0``, broadcasting against ``p``; clamped to ``[1e-100, 1e200]``.

    Returns:
        float64 tensor of the broadcast shape on ``p``'s device, in ``[0, 1]``; 0, 0.5 and 1 are fixed points. A
        quantile that underflows float64 (a tiny ``a``) is returned as its smallest normal number, 2.2e-308 (0 in
        float32).

    Example:
        >>> beta_quantile(torch.tensor([0.0, 0.25, 0.5]), 1.0)  # Beta(1, 1) is uniform
        tensor([0.0000, 0.2500, 0.5000], dtype=torch.float64)
    """
    return _symmetric_beta("betaincinv", _ppf_large, p, a)


def pair_distance(features: Tensor, index: Tensor) -> Tensor:
    """``(B,)`` float64 squared Euclidean distances ``‖f_i - f_{index[i]}‖²`` over all non-batch dimensions.

    Example:
        >>> pair_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.tensor([1, 0]))
        tensor([25., 25.], dtype=torch.float64)
    """
    flat = features.detach().to(torch.float64).reshape(features.shape[0], -1)
    return (flat - flat[index.to(flat.device)]).square().sum(dim=1)


def kernel_tau(distance: Tensor, *, tau_max: float = KERNEL_TAU_MAX, tau_std: float = KERNEL_TAU_STD) -> Tensor:
    """The warping parameter ``τ_i = τ_max · exp(-(d̄_i - 1) / (2·τ_std²))`` with ``d̄ = d / mean(d)``.

    A batch whose distances are all 0 (every pair identical) has ``d̄ = 0``.

    Args:
        distance: ``(B,)`` non-negative pair distances (:func:`pair_distance`).
        tau_max: the kernel's amplitude τ_max > 0 (strength of the interpolation).
        tau_std: the kernel's width τ_std > 0 (extent of the mixing).

    Returns:
        ``(B,)`` float64 τ.

    Example:
        >>> kernel_tau(torch.tensor([1.0, 3.0]), tau_max=1.0, tau_std=0.5)  # d̄ = [0.5, 1.5]
        tensor([2.7183, 0.3679], dtype=torch.float64)
    """
    d = distance.to(torch.float64)
    mean = d.mean() if d.numel() else d.new_zeros(())
    normalised = torch.where(mean > 0, d / torch.where(mean > 0, mean, torch.ones_like(mean)), torch.zeros_like(d))
    return tau_max * torch.exp(-(normalised - 1.0) / (2.0 * tau_std * tau_std))


def _kernel_arg_validation(tau_max: float, tau_std: float) -> None:
    check_finite_float(tau_max, "tau_max", minimum=0.0, allow_zero=False, min_positive=1e-12)
    check_finite_float(tau_std, "tau_std", minimum=0.0, allow_zero=False, min_positive=1e-6)


def warp_lam(
    lam: Tensor,
    distance: Tensor,
    *,
    tau_max: float = KERNEL_TAU_MAX,
    tau_std: float = KERNEL_TAU_STD,
    warping: Warping = "inverse_beta_cdf",
    validate_args: bool = True,
) -> Tensor:
    """Warp λ by the kernel of each pair's distance, τ from :func:`kernel_tau`.

    ``warping="inverse_beta_cdf"``: ``λ'_i = BetaQuantile(λ_i; τ_i, τ_i)`` (with λ ~ U(0, 1), i.e. α = 1, λ' is a
    draw of Beta(τ_i, τ_i)); ``"beta_cdf"``: ``λ'_i = I_{λ_i}(1/τ_i, 1/τ_i)``.

    Args:
        lam: ``(B,)`` weights in ``[0, 1]`` (λ ~ Beta(α, α)).
        distance: ``(B,)`` non-negative pair distances (:func:`pair_distance`).
        tau_max: the kernel's amplitude τ_max > 0.
        tau_std: the kernel's width τ_std > 0.
        warping: ``"inverse_beta_cdf"`` (the authors' configs) or ``"beta_cdf"`` (torch-uncertainty).
        validate_args: check arguments.

    Returns:
        ``(B,)`` float32 warped λ' in ``[0, 1]``; λ = 0, 0.5, 1 are fixed points.

    Raises:
        ValueError: on a shape mismatch, values out of range, or a non-positive kernel parameter.

    Example:
        >>> lam = torch.tensor([0.3, 0.3])
        >>> # the near pair is pulled towards 0.5, the distant one pushed towards 0
        >>> warp_lam(lam, torch.tensor([0.0, 2.0]), tau_std=0.5, warping="beta_cdf")
        tensor([0.4516, 0.0572])
    """
    if validate_args:
        _kernel_arg_validation(tau_max, tau_std)
        check_choice(warping, "warping", WARPINGS)
        check_tensor(lam, "lam", min_ndim=1, floating=True, shape_hint="(B,)")
        check_tensor(distance, "distance", min_ndim=1, floating=True, shape_hint="(B,)")
        if lam.ndim != 1 or distance.shape != lam.shape:
            raise ValueError(
                f"Expected `lam` and `distance` of the same shape (B,), but got {tuple(lam.shape)} and "
                f"{tuple(distance.shape)}."
            )
        if lam.numel() and not bool(((lam >= 0) & (lam <= 1)).all()):
            raise ValueError("Expected `lam` in [0, 1], but got values outside it (or nan).")
        if distance.numel() and not bool(((distance >= 0) & torch.isfinite(distance)).all()):
            raise ValueError("Expected finite non-negative `distance`, but got negative, inf or nan values.")
    tau = kernel_tau(distance, tau_max=tau_max, tau_std=tau_std)
    if warping == "beta_cdf":
        return beta_cdf(lam.to(torch.float64), 1.0 / tau).to(torch.float32)
    return beta_quantile(lam.to(torch.float64), tau).to(torch.float32)


def sample_kernel_warping(
    features: Tensor,
    *,
    alpha: float = KERNEL_ALPHA,
    tau_max: float = KERNEL_TAU_MAX,
    tau_std: float = KERNEL_TAU_STD,
    warping: Warping = "inverse_beta_cdf",
    mode: str = "elem",
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> MixParams:
    """Draw kernel-warping mixup's parameters: partners, λ ~ Beta(α, α), then λ warped by the pair distances.

    The draws, in order: ``torch.randperm`` (partners), then λ (one per sample, or one per batch). The warping is
    deterministic. The distances are computed in float64 on the features' device, then moved to the CPU.

    Args:
        features: ``(B, ...)`` what the distance is measured on: the inputs, or embeddings computed without
            gradient (the authors' default, ``dist_sim="emb"``). Only read.
        alpha: the Beta concentration α (authors' configs: 1); ``0`` gives λ = 1 (no mixing).
        tau_max: the kernel's amplitude τ_max > 0 (authors and torch-uncertainty: 1).
        tau_std: the kernel's width τ_std > 0 (the authors' CIFAR configs: 0.25; torch-uncertainty: 0.5).
        warping: ``"inverse_beta_cdf"`` (the authors' configs) or ``"beta_cdf"`` (torch-uncertainty's default).
        mode: one λ per sample (``"elem"``, the authors' configs) or per ``"batch"``; λ' differs per pair in both.
        generator: the source of randomness; ``None`` uses torch's global generator.
        validate_args: check the arguments.

    Returns:
        :class:`MixParams` with the warped λ'.

    Raises:
        TypeError: if ``features`` is not a floating-point tensor.
        ValueError: if an argument is out of range or the features are not finite.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
        >>> p = sample_kernel_warping(x, generator=torch.Generator().manual_seed(0))
        >>> p.lam.shape, bool(((p.lam >= 0) & (p.lam <= 1)).all())
        (torch.Size([4]), True)
    """
    if validate_args:
        check_tensor(features, "features", min_ndim=1, floating=True, shape_hint="(B, ...)")
        check_finite_float(alpha, "alpha", minimum=0.0, min_positive=MIN_ALPHA)
        _kernel_arg_validation(tau_max, tau_std)
        check_choice(warping, "warping", WARPINGS)
        check_choice(mode, "mode", WARPING_MODES)
        if features.numel() and not bool(torch.isfinite(features).all()):
            raise ValueError("Expected finite `features` to measure the pair distances, but got inf or nan.")
    batch_size = int(features.shape[0])
    if alpha == 0 or batch_size < 2:
        return identity_params(batch_size)
    index = torch.randperm(batch_size, generator=generator)
    if mode == "batch":
        lam = sample_beta(alpha, 1, generator=generator).expand(batch_size)
    else:
        lam = sample_beta(alpha, batch_size, generator=generator)
    distance = pair_distance(features, index).cpu()
    warped = warp_lam(lam, distance, tau_max=tau_max, tau_std=tau_std, warping=warping, validate_args=False)
    return MixParams._trusted(warped, index)
