"""Mixup Inference in Training (MIT-L): two mixings of the same pairs, decoupled back into each sample's output.

Each step draws one partner permutation ``j`` and two weights, ``λ₁ = max(u, 1-u) ≥ 0.5`` and
``λ₂ = min(v, 1-v) ≤ 0.5`` with ``u, v ~ Beta(α, α)``, redrawn together while ``|λ₁ - λ₂| < margin``. The model
sees both mixtures ``x̃_k = λ_k·x + (1-λ_k)·x[j]``; assuming its outputs (logits) are linear in the mixing,
``f(x̃_k) = λ_k·f_a + (1-λ_k)·f_b``, the two equations are solved for the outputs of the two sources:

    ``f_a = ((1-λ₂)·f(x̃₁) - (1-λ₁)·f(x̃₂)) / (λ₁ - λ₂)``,  ``f_b = (λ₁·f(x̃₂) - λ₂·f(x̃₁)) / (λ₁ - λ₂)``

and the loss is ``½·CE(f_a, y) + ½·CE(f_b, y[j])`` (means over the batch). This is the official code's ``MIT-L``
(``main.py`` lines 277-307: its ``coef1``/``coef2`` forms reduce to the two formulas above); ``MIT-A`` repeats
the decoupling after every block of a ResNet and needs hooks into the model, so it is not offered here. Defaults
from the official README's commands: α = 1, margin 0 (the paper's variant with margin 0.5 is also run there; the
argument parser's defaults are α = 0.5, margin 0.5).

The recovered logits are a linear combination of the outputs of *two different inputs*, so the loss is not a
cross-entropy of any one row's logits: an unchanged step ``F.cross_entropy(model(x), y)`` cannot compute it.
:func:`apply_mit` gives the ``2B`` inputs ``cat([x̃₁, x̃₂])`` and :func:`mit_loss` the loss from the model's
``(2B, C)`` logits, for a training step that calls it. The official code runs two forward passes (BatchNorm
statistics per mixture); one pass over the concatenation shares them.

References:
    - Wang et al., "On the Pitfall of Mixup for Uncertainty Calibration", CVPR 2023,
      https://openaccess.thecvf.com/content/CVPR2023/html/Wang_On_the_Pitfall_of_Mixup_for_Uncertainty_Calibration_CVPR_2023_paper.html
    - Official code: https://github.com/dengbaowang/Mixup-Inference-in-Training (``main.py``)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._checks import (
    check_finite_float,
    check_int,
    check_probability,
    check_two_halves,
    describe,
)
from lightning_mixup.functional.apply import apply_mix
from lightning_mixup.functional.sampling import MIN_ALPHA, MixParams, sample_beta

__all__ = ["MIT_ALPHA", "MIT_MARGIN", "MitParams", "apply_mit", "mit_loss", "mit_recover", "sample_mit"]

#: α of the official README's commands.
MIT_ALPHA = 1.0
#: margin of the official README's first MIT commands (the second uses 0.5).
MIT_MARGIN = 0.0
# Rejection rounds before giving up on a margin the Beta(α, α) draws almost never reach.
_MAX_ROUNDS = 10_000


@dataclass(frozen=True)
class MitParams:
    """The random parameters of one MIT step, on the CPU.

    Attributes:
        lam1: the weight ``λ₁ ∈ [0.5, 1]`` of each sample in the first mixture (a float).
        lam2: the weight ``λ₂ ∈ [0, 0.5]`` of each sample in the second mixture, ``λ₂ < λ₁``.
        index: ``(B,)`` int64, the partner of each sample (a permutation), shared by both mixtures.

    Raises:
        ValueError: if the weights are not ``0 ≤ λ₂ ≤ 0.5 ≤ λ₁ ≤ 1`` with ``λ₂ < λ₁``, or ``index`` is not a 1-D int64
            CPU tensor.

    Example:
        >>> MitParams(0.5, 0.5, torch.tensor([1, 0]))
        Traceback (most recent call last):
        ...
        ValueError: Expected weights 0 <= lam2 <= 0.5 <= lam1 <= 1 with lam2 < lam1, but got lam1=0.5, lam2=0.5.
    """

    lam1: float
    lam2: float
    index: Tensor

    def __post_init__(self) -> None:
        lam1, lam2, index = self.lam1, self.lam2, self.index
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lam1, lam2))
        if not (ok and 0.0 <= lam2 <= 0.5 <= lam1 <= 1.0 and lam2 < lam1):
            # the decoupling divides by lam1 - lam2
            raise ValueError(
                "Expected weights 0 <= lam2 <= 0.5 <= lam1 <= 1 with lam2 < lam1, but got "
                f"lam1={lam1!r}, lam2={lam2!r}."
            )
        if not isinstance(index, Tensor) or index.dtype != torch.int64 or index.ndim != 1 or index.device.type != "cpu":
            raise ValueError(f"Expected `index` to be a 1-D int64 CPU tensor, but got {describe(index)}.")

    @property
    def batch_size(self) -> int:
        """The number of samples ``B``."""
        return int(self.index.shape[0])

    def mix_params(self) -> tuple[MixParams, MixParams]:
        """The two mixings as :class:`MixParams` (same partners, weights ``λ₁`` and ``λ₂``)."""
        size = self.batch_size
        return (
            MixParams._trusted(torch.full((size,), self.lam1), self.index),
            MixParams._trusted(torch.full((size,), self.lam2), self.index),
        )


def sample_mit(
    batch_size: int,
    *,
    alpha: float = MIT_ALPHA,
    margin: float = MIT_MARGIN,
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> MitParams:
    """Draw MIT's parameters: ``λ₁ ≥ 0.5 ≥ λ₂`` at least ``margin`` apart, and one partner permutation.

    The draws, in order: rounds of two Beta(α, α) values ``(u, v)`` (float64) until
    ``max(u, 1-u) - min(v, 1-v) ≥ margin`` and the two differ (the decoupling divides by ``λ₁ - λ₂``), then
    ``torch.randperm``. ``λ₁`` and ``λ₂`` are kept in float32, the precision of the mixed inputs.

    Args:
        batch_size: the number of samples ``B``.
        alpha: the Beta concentration α > 0 (official: 1).
        margin: the smallest ``λ₁ - λ₂``, in ``[0, 1)`` (official: 0 or 0.5).
        generator: the source of randomness; ``None`` uses torch's global generator.
        validate_args: check the arguments.

    Returns:
        :class:`MitParams`.

    Raises:
        ValueError: if an argument is out of range, or no draw reaches ``margin`` in 10,000 rounds.

    Example:
        >>> p = sample_mit(4, margin=0.5, generator=torch.Generator().manual_seed(0))
        >>> p.lam1 >= 0.5 >= p.lam2, p.lam1 - p.lam2 >= 0.5, sorted(p.index.tolist())
        (True, True, [0, 1, 2, 3])
    """
    if validate_args:
        check_int(batch_size, "batch_size", minimum=0)
        check_finite_float(alpha, "alpha", minimum=0.0, allow_zero=False, min_positive=MIN_ALPHA)
        check_probability(margin, "margin", upper_open=True)
    for _ in range(_MAX_ROUNDS):
        u, v = sample_beta(alpha, 2, generator=generator).tolist()
        lam1, lam2 = float(max(u, 1.0 - u)), float(min(v, 1.0 - v))
        lam1, lam2 = float(torch.tensor(lam1).float()), float(torch.tensor(lam2).float())
        if lam1 - lam2 >= margin and lam1 > lam2:
            return MitParams(lam1, lam2, torch.randperm(batch_size, generator=generator))
    raise ValueError(
        f"Expected a `margin` that Beta({alpha}, {alpha}) draws can reach, but no pair of weights was {margin} apart "
        f"in {_MAX_ROUNDS} rounds. Lower `margin` or `alpha`."
    )


def apply_mit(x: Tensor, params: MitParams, *, validate_args: bool = True) -> Tensor:
    """The ``2B`` inputs of an MIT step: ``cat([λ₁·x + (1-λ₁)·x[j], λ₂·x + (1-λ₂)·x[j]])``.

    Args:
        x: inputs ``(B, ...)``, floating point. Not modified.
        params: from :func:`sample_mit`.
        validate_args: check shapes.

    Returns:
        ``(2B, ...)`` mixed inputs (for one forward pass, or split in two for the official two passes).

    Example:
        >>> params = MitParams(0.75, 0.25, torch.tensor([1, 0]))
        >>> apply_mit(torch.tensor([[0.0], [4.0]]), params).flatten().tolist()
        [1.0, 3.0, 3.0, 1.0]
    """
    first, second = params.mix_params()
    return torch.cat([apply_mix(x, first, validate_args=validate_args), apply_mix(x, second, validate_args=False)])


def mit_recover(logits1: Tensor, logits2: Tensor, params: MitParams) -> tuple[Tensor, Tensor]:
    """Decouple the outputs of the two mixtures into the outputs of the samples and of their partners.

    Solves ``f(x̃_k) = λ_k·f_a + (1-λ_k)·f_b`` for ``k = 1, 2``. Any output shape ``(B, ...)``; computed in the
    logits' dtype (float32 at least).

    Args:
        logits1: outputs for ``x̃₁``, ``(B, ...)``.
        logits2: outputs for ``x̃₂``, same shape.
        params: the parameters of the mixtures.

    Returns:
        ``(f_a, f_b)``: the recovered outputs of ``x`` and of ``x[j]``.

    Example:
        >>> f_a, f_b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 4.0]])
        >>> params = MitParams(0.75, 0.25, torch.tensor([0]))
        >>> out1, out2 = 0.75 * f_a + 0.25 * f_b, 0.25 * f_a + 0.75 * f_b
        >>> [t.tolist() for t in mit_recover(out1, out2, params)]
        [[[2.0, 0.0]], [[0.0, 4.0]]]
    """
    if logits1.shape != logits2.shape:
        raise ValueError(
            f"Expected the two mixtures' outputs of the same shape, but got {tuple(logits1.shape)} and "
            f"{tuple(logits2.shape)}."
        )
    lam1, lam2 = params.lam1, params.lam2
    det = lam1 - lam2
    f_a = ((1.0 - lam2) * logits1 - (1.0 - lam1) * logits2) / det
    f_b = (lam1 * logits2 - lam2 * logits1) / det
    return f_a, f_b


def mit_loss(logits: Tensor, y: Tensor, params: MitParams, *, validate_args: bool = True) -> Tensor:
    """MIT-L's loss ``½·CE(f_a, y) + ½·CE(f_b, y[j])`` from the ``(2B, C)`` logits of :func:`apply_mit`'s batch.

    Args:
        logits: ``(2B, C)``: the outputs for ``x̃₁`` (first ``B`` rows) then ``x̃₂``.
        y: integer class labels ``(B,)``.
        params: the parameters of the step.
        validate_args: check shapes.

    Returns:
        The scalar loss.

    Raises:
        TypeError: if ``y`` is not an integer tensor.
        ValueError: on a shape mismatch.

    Example:
        >>> f_a, f_b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 4.0]])
        >>> params = MitParams(0.75, 0.25, torch.tensor([0]))
        >>> logits = torch.cat([0.75 * f_a + 0.25 * f_b, 0.25 * f_a + 0.75 * f_b])
        >>> expected = 0.5 * F.cross_entropy(f_a, torch.tensor([0])) + 0.5 * F.cross_entropy(f_b, torch.tensor([0]))
        >>> bool(torch.isclose(mit_loss(logits, torch.tensor([0]), params), expected))
        True
    """
    batch_size = params.batch_size
    if validate_args:
        check_two_halves(logits, y, batch_size)
    f_a, f_b = mit_recover(logits[:batch_size], logits[batch_size:], params)
    partner = y[params.index.to(y.device)]
    return 0.5 * F.cross_entropy(f_a, y) + 0.5 * F.cross_entropy(f_b, partner)
