"""C-Mixup: mixup for regression, partners drawn with a probability that decreases with the label distance.

For every sample ``i`` the partner ``j`` is drawn with probability
``P(j | i) ∝ exp(-‖y_i - y_j‖² / (2σ²))`` (a Gaussian kernel of bandwidth σ on the labels), ``j = i`` included;
the pair is then mixed as in mixup, inputs and targets alike, with λ ~ Beta(α, α). Labels ``(B,)`` or ``(B, k)``
use the Euclidean distance over the ``k`` label dimensions.

What the official code does (``src/algorithm.py``): ``get_mixup_sample_rate`` (lines 32-77) fits
``sklearn.neighbors.KernelDensity(kernel="gaussian", bandwidth=σ)`` on the single label ``y_i`` (reshaped to
``(1, k)``) and scores every label, so the rate of ``j`` is the normalised Gaussian density — the kernel above, the
constant cancelling in the normalisation — and the sample itself is a candidate (its rate is the largest). The
rates are computed once over the whole training set and ``np.random.choice`` draws one partner per sample
(lines 245-248); one λ ~ Beta(α, α) per step (line 238), α = 2 for most data sets (``src/config.py``; 1.5 for
Exchange-Rate), and the bandwidth per data set (``README.md``: 1.75 Airfoil, 1.2 NO2, 5e-2 Exchange-Rate; the
argument's default is 1.0). Its ``batch_type=1`` variant draws the partner within the batch
(``get_batch_kde_mixup_idx``, lines 80-92), which is what a training step can do: :func:`sample_cmixup` draws the
partners within the batch, in O(B²) time and memory.

References:
    - Yao et al., "C-Mixup: Improving Generalization in Regression", NeurIPS 2022, https://arxiv.org/abs/2210.05775
    - Official code: https://github.com/huaxiuyao/C-Mixup (``src/algorithm.py``, ``src/config.py``)
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_mixup._checks import check_choice, check_finite_float, check_tensor
from lightning_mixup.functional.apply import apply_mix, mix_values
from lightning_mixup.functional.sampling import MIN_ALPHA, MixParams, identity_params, sample_beta

__all__ = ["CMIXUP_ALPHA", "CMIXUP_BANDWIDTH", "CMIXUP_MODES", "apply_cmixup", "cmixup_probabilities", "sample_cmixup"]

#: The official α for most data sets (``src/config.py``).
CMIXUP_ALPHA = 2.0
#: The official argument's default bandwidth (``src/main.py``); the paper tunes it per data set.
CMIXUP_BANDWIDTH = 1.0
#: One λ per batch (official) or per sample.
CMIXUP_MODES: tuple[str, ...] = ("batch", "elem")


def _labels_tensor_validation(y: Tensor) -> None:
    check_tensor(y, "y", min_ndim=1, floating=True, shape_hint="(B,) or (B, k)")
    if y.ndim > 2:
        raise ValueError(f"Expected argument `y` of shape (B,) or (B, k), but got shape {tuple(y.shape)}.")
    if y.numel() and not bool(torch.isfinite(y).all()):
        raise ValueError("Expected finite regression targets `y` for C-Mixup's label distances, but got inf or nan.")


def cmixup_probabilities(y: Tensor, *, bandwidth: float = CMIXUP_BANDWIDTH, validate_args: bool = True) -> Tensor:
    """The ``(B, B)`` partner probabilities ``P[i, j] ∝ exp(-‖y_i - y_j‖² / (2σ²))``, each row summing to 1.

    Computed in float64 on the labels' device; the diagonal (distance 0) is each row's largest entry, so no row
    underflows to zero.

    Args:
        y: float regression targets ``(B,)`` or ``(B, k)``.
        bandwidth: the kernel bandwidth σ > 0.
        validate_args: check arguments.

    Returns:
        ``(B, B)`` float64 probabilities.

    Raises:
        TypeError: if ``y`` is not a floating-point tensor.
        ValueError: if ``y`` has the wrong shape or non-finite values, or ``bandwidth`` is not positive.

    Example:
        >>> p = cmixup_probabilities(torch.tensor([0.0, 0.1, 5.0]), bandwidth=1.0)
        >>> p.sum(1).tolist(), bool(p[0, 1] > p[0, 2])
        ([1.0, 1.0, 1.0], True)
    """
    if validate_args:
        _labels_tensor_validation(y)
        check_finite_float(bandwidth, "bandwidth", minimum=0.0, allow_zero=False, min_positive=1e-12)
    weights = _kernel_weights(y, bandwidth)
    return weights / weights.sum(dim=1, keepdim=True)


def _kernel_weights(y: Tensor, bandwidth: float) -> Tensor:
    """``(B, B)`` float64 ``exp(-‖y_i - y_j‖² / (2σ²))``: 1 on the diagonal, so no row underflows to zero."""
    labels = y.detach().to(torch.float64).reshape(y.shape[0], -1)
    if labels.shape[1] == 1:
        sq_dist = (labels - labels.T).square_()
    elif labels.shape[1] <= 8:  # (B, B, k) differences: exact, and cheaper than cdist for a few label dimensions
        sq_dist = (labels[:, None, :] - labels[None, :, :]).square().sum(dim=2)
    else:
        sq_dist = torch.cdist(labels, labels).square()
    return sq_dist.mul_(-0.5 / (bandwidth * bandwidth)).exp_()


def sample_cmixup(
    y: Tensor,
    *,
    alpha: float = CMIXUP_ALPHA,
    bandwidth: float = CMIXUP_BANDWIDTH,
    mode: str = "batch",
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> MixParams:
    """Draw C-Mixup's parameters: a partner per sample from the label kernel, then λ ~ Beta(α, α).

    The draws, in order: one uniform per sample, turned into its partner by inverting the cumulative sum of its
    row of kernel weights (:func:`cmixup_probabilities` before normalisation: an exact draw, on the CPU, cheaper
    than ``torch.multinomial`` on a ``(B, B)`` matrix), then λ (one, or one per sample with ``mode="elem"``). A
    sample may draw itself (then it is not mixed), as in the official code.

    Args:
        y: float regression targets ``(B,)`` or ``(B, k)``; they only set the probabilities (moved to the CPU).
        alpha: the Beta concentration α (official: 2); ``0`` gives λ = 1 (no mixing, no draws).
        bandwidth: the kernel bandwidth σ > 0 (official: tuned per data set, default 1).
        mode: one λ per ``"batch"`` (official) or per ``"elem"``ent.
        generator: the source of randomness (a CPU generator); ``None`` uses torch's global generator.
        validate_args: check the arguments.

    Returns:
        :class:`MixParams` with ``boxes=None``.

    Raises:
        TypeError: if ``y`` is not a floating-point tensor.
        ValueError: if an argument is out of range.

    Example:
        >>> y = torch.tensor([0.0, 0.1, 10.0, 10.1])
        >>> p = sample_cmixup(y, bandwidth=0.5, generator=torch.Generator().manual_seed(0))
        >>> bool(((y - y[p.index]).abs() < 1).all())  # partners are the near labels
        True
    """
    if validate_args:
        _labels_tensor_validation(y)
        check_finite_float(alpha, "alpha", minimum=0.0, min_positive=MIN_ALPHA)
        check_finite_float(bandwidth, "bandwidth", minimum=0.0, allow_zero=False, min_positive=1e-12)
        check_choice(mode, "mode", CMIXUP_MODES)
    batch_size = int(y.shape[0])
    if alpha == 0 or batch_size < 2:
        return identity_params(batch_size)
    index = _draw_rows(_kernel_weights(y.detach().cpu(), bandwidth), generator)
    if mode == "batch":
        lam = sample_beta(alpha, 1, generator=generator).expand(batch_size).clone()
    else:
        lam = sample_beta(alpha, batch_size, generator=generator)
    return MixParams._trusted(lam, index)


def _draw_rows(weights: Tensor, generator: torch.Generator | None) -> Tensor:
    """One column per row of ``weights`` (unnormalised, non-negative), by inverse-CDF sampling, one uniform a row."""
    cumulative = weights.cumsum(dim=1)
    u = torch.rand(weights.shape[0], 1, generator=generator, dtype=torch.float64) * cumulative[:, -1:]
    index = torch.searchsorted(cumulative, u, right=True).flatten()
    return index.clamp_(max=weights.shape[1] - 1)


def apply_cmixup(x: Tensor, y: Tensor, params: MixParams, *, validate_args: bool = True) -> tuple[Tensor, Tensor]:
    """Mix inputs and float targets with C-Mixup's parameters: ``λ·x_i + (1-λ)·x_j`` and ``λ·y_i + (1-λ)·y_j``.

    The unchanged regression step ``F.mse_loss(model(x̃), ỹ)`` is then C-Mixup's loss (the official code's
    ``loss_fun(pred_Y, mixup_Y)``).

    Args:
        x: inputs ``(B, ...)``, floating point. Not modified.
        y: float targets ``(B,)`` or ``(B, k)``. Not modified.
        params: from :func:`sample_cmixup`.
        validate_args: check shapes.

    Returns:
        ``(mixed inputs, mixed targets)``, the targets in ``y``'s dtype.

    Example:
        >>> params = MixParams(lam=torch.tensor([0.5, 1.0]), index=torch.tensor([1, 1]))
        >>> apply_cmixup(torch.tensor([[0.0], [2.0]]), torch.tensor([1.0, 3.0]), params)[1]
        tensor([2., 3.])
    """
    if validate_args:
        _labels_tensor_validation(y)
        if y.shape[0] != params.batch_size:
            raise ValueError(
                f"Expected argument `y` to have the batch size of the mixing parameters, {params.batch_size}, in its "
                f"first dimension, but got shape {tuple(y.shape)}."
            )
    return apply_mix(x, params, validate_args=validate_args), mix_values(y, params)
