"""Random parameters of a mixing operation, drawn from an explicit :class:`torch.Generator`.

Every mixing method is a pair: ``sample_*`` draws its random parameters (the weight λ, the partner index and,
for CutMix, the pasted box) and :mod:`~lightning_mixup.functional.apply` uses them deterministically. All draws
happen on the CPU so that the same generator state gives the same parameters on every device.

References:
    - mixup: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features",
      ICCV 2019, https://arxiv.org/abs/1905.04899
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lightning_mixup._checks import check_choice, check_finite_float, check_int, check_probability, describe

MixMode = Literal["batch", "pair", "elem"]
MIX_MODES: tuple[str, ...] = ("batch", "pair", "elem")


@dataclass(frozen=True)
class MixParams:
    """The random parameters of one mixing of a batch, all on the CPU.

    Sample ``i`` of the mixed batch is ``lam[i] * x[i] + (1 - lam[i]) * x[index[i]]`` (mixup) or ``x[i]`` with
    ``boxes[i]`` pasted from ``x[index[i]]`` (CutMix, where ``lam[i]`` is the share of ``x[i]`` that is kept).
    A sample with ``lam[i] == 1`` or ``index[i] == i`` is copied exactly, whatever its values (``inf``/``nan``
    included), and its partner's values never reach it.

    Attributes:
        lam: ``(B,)`` float32 in ``[0, 1]``, the weight of each sample's own example.
        index: ``(B,)`` int64, the partner of each sample: a position in the mixed batch (``[0, B)``; for the
            discriminator's paper form, a position in ``cat([real, fake])``).
        boxes: ``(B, 4)`` int64 ``(top, bottom, left, right)`` of the region pasted from the partner (CutMix),
            or ``None`` for mixup.
        size: ``(H, W)``, the spatial size of the images the boxes were drawn for (CutMix), so that dense targets
            (segmentation masks) can be checked to be of that size and get the same boxes; ``None`` for mixup.

    Raises:
        TypeError: if a field is not a CPU tensor of the right kind.
        ValueError: if a shape does not match or a value is out of range (λ outside ``[0, 1]`` would extrapolate).

    Example:
        >>> MixParams(lam=torch.tensor([0.5, 1.5]), index=torch.tensor([1, 0]))
        Traceback (most recent call last):
        ...
        ValueError: Expected `lam` in [0, 1] (mixing interpolates, it never extrapolates), but got values in [0.5, 1.5].
    """

    lam: Tensor
    index: Tensor
    boxes: Tensor | None = None
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        lam, index, boxes = self.lam, self.index, self.boxes
        if not isinstance(lam, Tensor) or not lam.is_floating_point() or lam.ndim != 1 or lam.device.type != "cpu":
            raise TypeError(f"Expected `lam` to be a 1-D floating-point CPU tensor, but got {describe(lam)}.")
        if (
            not isinstance(index, Tensor)
            or index.dtype != torch.int64
            or index.shape != lam.shape
            or index.device.type != "cpu"
        ):
            raise TypeError(
                f"Expected `index` to be an int64 CPU tensor of shape {tuple(lam.shape)} (one partner per λ), but got "
                f"{describe(index)}."
            )
        if lam.numel():
            low, high = float(lam.min()), float(lam.max())
            if not (low >= 0.0 and high <= 1.0):  # also refuses NaN
                raise ValueError(
                    f"Expected `lam` in [0, 1] (mixing interpolates, it never extrapolates), but got values in "
                    f"[{low}, {high}]."
                )
            if int(index.min()) < 0:
                raise ValueError(f"Expected non-negative `index` values, but got {int(index.min())}.")
        _size_arg_validation(self.size, optional=True)
        if boxes is not None and (
            not isinstance(boxes, Tensor) or boxes.dtype != torch.int64 or boxes.shape != (lam.numel(), 4)
        ):
            raise TypeError(
                f"Expected `boxes` to be None or an int64 tensor of shape ({lam.numel()}, 4), but got "
                f"{describe(boxes)}."
            )

    @classmethod
    def _trusted(
        cls, lam: Tensor, index: Tensor, boxes: Tensor | None = None, size: tuple[int, int] | None = None
    ) -> MixParams:
        """Build without the checks, for parameters this package has just drawn (valid by construction)."""
        params = object.__new__(cls)
        object.__setattr__(params, "lam", lam)
        object.__setattr__(params, "index", index)
        object.__setattr__(params, "boxes", boxes)
        object.__setattr__(params, "size", size)
        return params

    @property
    def batch_size(self) -> int:
        """The number of samples these parameters mix."""
        return int(self.lam.shape[0])

    @property
    def is_cutmix(self) -> bool:
        """Whether these parameters paste boxes (CutMix) rather than blend (mixup)."""
        return self.boxes is not None

    def mixed_mask(self) -> Tensor:
        """``(B,)`` bool: which samples actually differ from their source (λ < 1 and a partner other than itself)."""
        return (self.lam < 1) & (self.index != torch.arange(self.batch_size))


def identity_params(batch_size: int) -> MixParams:
    """Parameters that leave every sample unchanged (λ = 1, each sample its own partner).

    Example:
        >>> identity_params(3).lam
        tensor([1., 1., 1.])
    """
    return MixParams._trusted(torch.ones(batch_size), torch.arange(batch_size))


# The smallest α > 0 accepted: subnormal α makes 1/α overflow in the Gamma sampler.
MIN_ALPHA = sys.float_info.min


def _alpha_arg_validation(alpha: float, name: str = "alpha") -> None:
    expected = "a positive finite float (0 switches mixing off; subnormal values such as 1e-320 are refused)"
    check_finite_float(alpha, name, minimum=0.0, min_positive=MIN_ALPHA, expected=expected)


def _mode_arg_validation(mode: str) -> None:
    check_choice(mode, "mode", MIX_MODES)


def _prob_arg_validation(prob: float, name: str = "prob") -> None:
    check_probability(prob, name)


def _batch_size_arg_validation(batch_size: int) -> None:
    check_int(batch_size, "batch_size", minimum=0)


def _log_gamma(concentration: float, n: int, generator: torch.Generator | None) -> Tensor:
    """``log`` of ``n`` Gamma(concentration, 1) draws (float64), by Marsaglia and Tsang's method.

    ``torch.distributions`` cannot take a generator, and torch's own Dirichlet sampler is biased for small
    concentrations, hence this sampler. For a concentration below one it uses Gamma(a) = Gamma(a + 1) · U^(1/a),
    kept in log space so that tiny concentrations do not underflow to zero.
    """
    boost = concentration < 1.0
    d = (concentration + 1.0 if boost else concentration) - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(n, dtype=torch.float64)
    filled = 0
    while filled < n:
        want = 2 * (n - filled) + 4  # acceptance is above 95 %: one round almost always suffices
        z = torch.randn(want, generator=generator, dtype=torch.float64)
        u = torch.rand(want, generator=generator, dtype=torch.float64)
        v = (1.0 + c * z) ** 3
        ok = (v > 0) & (u > 0)
        log_v = torch.log(torch.where(ok, v, torch.ones_like(v)))
        accept = ok & (torch.log(torch.where(ok, u, torch.ones_like(u))) < 0.5 * z * z + d - d * v + d * log_v)
        draws = (math.log(d) + log_v)[accept][: n - filled]
        out[filled : filled + draws.numel()] = draws
        filled += draws.numel()
    if boost:
        u = torch.rand(n, generator=generator, dtype=torch.float64).clamp_min(torch.finfo(torch.float64).tiny)
        out = out + torch.log(u) / concentration
    return out


def sample_beta(alpha: float, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``n`` values of λ ~ Beta(α, α) with an explicit generator.

    Args:
        alpha: the concentration α > 0 of the symmetric Beta distribution.
        n: how many values to draw.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Returns:
        ``(n,)`` float32 tensor in [0, 1] on the CPU. Draws within float32's resolution of 1 (about 6e-8) round
        to exactly 1, which for α = 0.2 is about 2 % of them; such a sample is then simply not mixed.

    Raises:
        ValueError: if ``alpha`` is not positive (or subnormal), or ``n`` is not a non-negative int.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> lam = sample_beta(0.4, 1000, generator=g)
        >>> bool(((lam >= 0) & (lam <= 1)).all()), round(float(lam.mean()), 1)
        (True, 0.5)
    """
    _alpha_arg_validation(alpha)
    check_int(n, "n", minimum=0)
    if alpha == 0:
        raise ValueError("Expected argument `alpha` to be positive to draw from Beta(alpha, alpha), but got 0.")
    # Beta(a, a) = X / (X + Y) = sigmoid(log X - log Y) for independent X, Y ~ Gamma(a): one batched draw of 2n
    log_xy = _log_gamma(float(alpha), 2 * n, generator)
    return torch.sigmoid(log_xy[:n] - log_xy[n:]).float()


def _pair_index(batch_size: int, generator: torch.Generator | None) -> Tensor:
    """A random involution: samples are paired two by two, an odd one out is its own partner."""
    perm = torch.randperm(batch_size, generator=generator)
    index = torch.arange(batch_size)
    m = batch_size // 2
    first, second = perm[0 : 2 * m : 2], perm[1 : 2 * m : 2]
    index[first] = second
    index[second] = first
    return index


def _lam_and_index(
    batch_size: int, alpha: float, mode: str, prob: float, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """λ per sample following ``mode`` and the partner index; λ = 1 where the apply probability says no."""
    if mode == "pair":
        index = _pair_index(batch_size, generator)
        lam = sample_beta(alpha, batch_size, generator=generator)
        apply = torch.rand(batch_size, generator=generator) < prob
        # each pair shares the λ (and the apply decision) of its lower-numbered member
        owner = torch.minimum(torch.arange(batch_size), index)
        lam, apply = lam[owner], apply[owner]
    elif mode == "batch":
        index = torch.randperm(batch_size, generator=generator)
        value = float(sample_beta(alpha, 1, generator=generator)[0])
        if prob < 1.0 and float(torch.rand((), generator=generator)) >= prob:
            value = 1.0
        return torch.full((batch_size,), value), index
    else:
        index = torch.randperm(batch_size, generator=generator)
        lam = sample_beta(alpha, batch_size, generator=generator)
        apply = torch.rand(batch_size, generator=generator) < prob
    return torch.where(apply, lam, torch.ones_like(lam)), index


def sample_mixup(
    batch_size: int,
    *,
    alpha: float,
    mode: MixMode = "batch",
    prob: float = 1.0,
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> MixParams:
    """Draw the parameters of mixup for a batch: λ ~ Beta(α, α) and a partner for every sample.

    Args:
        batch_size: the number of samples ``B``. A batch of one is returned unchanged (λ = 1).
        alpha: the Beta concentration α; ``0`` switches mixing off (λ = 1).
        mode: ``"batch"`` draws one λ for the whole batch and a random permutation of partners; ``"pair"``
            pairs the samples two by two, each pair sharing one λ (both members are mixed with each other);
            ``"elem"`` draws a λ for every sample, partners by a random permutation.
        prob: the probability that mixing is applied, decided once per batch (``"batch"``), per pair or per
            sample. It is applied exactly once: λ of an unselected sample is 1.
        generator: the source of randomness; ``None`` uses torch's global generator.
        validate_args: check the arguments.

    Returns:
        :class:`MixParams` with ``boxes=None``.

    Raises:
        ValueError: if an argument is out of range.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> p = sample_mixup(4, alpha=1.0, mode="pair", generator=g)
        >>> bool((p.index[p.index] == torch.arange(4)).all()), bool((p.lam == p.lam[p.index]).all())
        (True, True)
    """
    if validate_args:
        _batch_size_arg_validation(batch_size)
        _alpha_arg_validation(alpha)
        _mode_arg_validation(mode)
        _prob_arg_validation(prob)
    if alpha == 0 or batch_size < 2 or prob == 0:
        return identity_params(batch_size)
    lam, index = _lam_and_index(batch_size, alpha, mode, prob, generator)
    return MixParams._trusted(lam, index)


def _size_arg_validation(size: object, name: str = "size", *, optional: bool = False) -> None:
    if optional and size is None:
        return
    if (
        not isinstance(size, tuple)
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        what = "a pair of positive ints (H, W)" + (" or None" if optional else "")
        raise ValueError(f"Expected argument `{name}` to be {what}, but got {size!r}.")


def sample_cutmix(
    batch_size: int,
    size: tuple[int, int],
    *,
    alpha: float,
    mode: MixMode = "batch",
    prob: float = 1.0,
    correct_lam: bool = True,
    minmax: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> MixParams:
    """Draw the parameters of CutMix: a box of area share ``1 - λ`` pasted from a partner, λ ~ Beta(α, α).

    The box has height ``int(H·√(1-λ))`` and width ``int(W·√(1-λ))`` around a uniform centre, clipped to the
    image. With ``correct_lam`` the returned λ is the share of the image actually kept, ``1 - box area / (H·W)``,
    so that the targets match the pixels.

    Args:
        batch_size: the number of samples ``B``.
        size: ``(H, W)``, the spatial size of the images (the last two dimensions of the input).
        alpha: the Beta concentration α; ``0`` switches CutMix off.
        mode: ``"batch"`` (one box for the batch), ``"pair"`` or ``"elem"`` (a box per pair or per sample), as
            in :func:`sample_mixup`.
        prob: the probability that CutMix is applied, once per batch, pair or sample.
        correct_lam: replace λ by the kept area share (the CutMix paper's definition).
        minmax: ``(lo, hi)`` with ``0 <= lo <= hi <= 1``, timm's ``cutmix_minmax``: the box size does not follow
            λ; its height is drawn uniformly from ``[int(H·lo), int(H·hi))`` and its width from
            ``[int(W·lo), int(W·hi))`` (the low end alone when they are equal), its position uniformly among the
            positions where it fits, and λ is always the kept area share (as timm does). The partners and the
            ``prob`` draws are made as without ``minmax`` (λ ~ Beta(α, α) is drawn but does not size the box); a
            sample that ``prob`` leaves out keeps λ = 1 and an empty box.
        generator: the source of randomness.
        validate_args: check the arguments.

    Returns:
        :class:`MixParams` with ``boxes`` of shape ``(B, 4)``: ``(top, bottom, left, right)``.

    Raises:
        ValueError: if an argument is out of range.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> p = sample_cutmix(2, (8, 10), alpha=1.0, generator=g)
        >>> top, bottom, left, right = p.boxes[0].tolist()
        >>> abs(float(p.lam[0]) - (1 - (bottom - top) * (right - left) / 80)) < 1e-6
        True
    """
    if validate_args:
        _batch_size_arg_validation(batch_size)
        _alpha_arg_validation(alpha)
        _mode_arg_validation(mode)
        _prob_arg_validation(prob)
        _size_arg_validation(tuple(size) if isinstance(size, list) else size)
        _minmax_arg_validation(minmax)
    height, width = size
    if alpha == 0 or batch_size < 2 or prob == 0:
        params = identity_params(batch_size)
        return MixParams._trusted(
            params.lam, params.index, torch.zeros(batch_size, 4, dtype=torch.long), (height, width)
        )
    lam, index = _lam_and_index(batch_size, alpha, mode, prob, generator)
    n = 1 if mode == "batch" else batch_size
    owner = torch.zeros(batch_size, dtype=torch.long) if mode == "batch" else torch.arange(batch_size)
    if mode == "pair":
        owner = torch.minimum(owner, index)
    if minmax is not None:
        top, left, bottom, right = _minmax_boxes(height, width, minmax, n, generator)
        owned = owner.clamp_max(n - 1)
        applied = lam < 1.0  # not applied (prob): λ stays 1 and the box empty
        top, left = top[owned], left[owned]
        bottom = torch.where(applied, bottom[owned], top)
        right = torch.where(applied, right[owned], left)
        lam = (1.0 - ((bottom - top) * (right - left)).double() / (height * width)).float()
        return MixParams._trusted(lam, index, torch.stack([top, bottom, left, right], dim=1), (height, width))
    cy = torch.randint(0, height, (n,), generator=generator)[owner.clamp_max(n - 1)]
    cx = torch.randint(0, width, (n,), generator=generator)[owner.clamp_max(n - 1)]
    cut = torch.sqrt(1.0 - lam.double())
    half_h = (height * cut).long() // 2
    half_w = (width * cut).long() // 2
    top, bottom = (cy - half_h).clamp(0, height), (cy + half_h).clamp(0, height)
    left, right = (cx - half_w).clamp(0, width), (cx + half_w).clamp(0, width)
    boxes = torch.stack([top, bottom, left, right], dim=1)
    if correct_lam:
        lam = (1.0 - ((bottom - top) * (right - left)).double() / (height * width)).float()
    return MixParams._trusted(lam, index, boxes, (height, width))


def _minmax_arg_validation(minmax: object) -> None:
    if minmax is None:
        return
    if (
        not isinstance(minmax, (tuple, list))
        or len(minmax) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in minmax)
        or not 0.0 <= minmax[0] <= minmax[1] <= 1.0
    ):
        raise ValueError(
            f"Expected argument `cutmix_minmax` to be None or a pair (lo, hi) with 0 <= lo <= hi <= 1 (the box side "
            f"as a share of the image side), but got {minmax!r}."
        )


def _minmax_boxes(
    height: int, width: int, minmax: tuple[float, float], n: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``n`` boxes ``(top, left, bottom, right)`` whose sides are uniform shares in ``minmax`` of the image's."""
    lo, hi = float(minmax[0]), float(minmax[1])
    sides = []
    for extent in (height, width):
        low, high = int(extent * lo), int(extent * hi)
        sides.append(torch.randint(low, max(high, low + 1), (n,), generator=generator))
    cut_h, cut_w = sides
    top = (torch.rand(n, generator=generator, dtype=torch.float64) * (height - cut_h + 1)).long()
    left = (torch.rand(n, generator=generator, dtype=torch.float64) * (width - cut_w + 1)).long()
    return top, left, top + cut_h, left + cut_w
