"""Mode-coverage metrics of 2D Gaussian-mixture GANs, and a per-run stability verdict.

Definitions (VEEGAN, Srivastava et al., NeurIPS 2017, https://arxiv.org/abs/1705.07761, §5.1; kept by PacGAN, Lin et
al., NeurIPS 2018, https://arxiv.org/abs/1712.04086, §5.1):

- **high-quality sample**: a sample whose Euclidean distance to its nearest mode is at most ``threshold · std``
  (``threshold = 3``). For a true sample of a 2D isotropic Gaussian this holds with probability
  ``1 - exp(-threshold²/2) = 98.9 %`` (the distance is Rayleigh distributed), so the real distribution itself
  scores about 98.9 %, not 100 %.
- **mode captured**: a mode that is the nearest mode of at least ``min_count`` high-quality samples
  (``min_count = 1`` is the VEEGAN/PacGAN rule; a larger value is a cheap stricter variant that ignores modes
  hit by a few stray samples).
- **reverse KL**: ``KL(q ‖ u) = Σ_k q_k log(K q_k)`` between the histogram ``q`` of the high-quality samples over
  their nearest modes and the uniform distribution ``u`` over the ``K`` modes. No smoothing is needed because
  ``u_k > 0``: empty bins contribute ``0 · log 0 = 0``. With no high-quality sample at all ``q`` is undefined
  and the value is ``log K``, the score of a total collapse onto one mode (the worst value a histogram can have).
  0 means perfectly even coverage; one mode out of 8 scores ``log 8 = 2.08``.

The modes of the literature's two problems are :func:`ring_modes` (8 on the unit circle) and :func:`grid_modes`
(5×5). Samples with a non-finite coordinate are never high quality. The metrics are torchmetrics ``Metric``
objects (they sum the per-mode counts across batches and DDP processes) with functional twins that also take a
leading run dimension, used by the batched study.

Image data (stacked MNIST in VEEGAN §5.2 and PacGAN §5.2): a trained classifier labels every generated sample, the
label is the sample's mode (``100·c₀ + 10·c₁ + c₂`` for three stacked digits), **modes captured** counts the labels
that occur at least once and the **reverse KL** is ``KL(q ‖ u)`` of the label histogram of *all* samples (their
protocol); the **high-quality share** is the share of samples that the classifier labels confidently (every
channel's top softmax probability at least ``confidence``), a proxy for sample quality. See
:func:`classifier_mode_counts` and :func:`classifier_coverage`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_mixup._checks import check_finite_float, check_int, check_probability, describe

__all__ = [
    "VERDICTS",
    "HighQualityShare",
    "ModeCoverage",
    "ModesCaptured",
    "ReverseKLToUniform",
    "Verdict",
    "VerdictRule",
    "classifier_coverage",
    "classifier_mode_counts",
    "coverage_from_counts",
    "grid_modes",
    "mode_histogram",
    "ring_modes",
    "run_verdict",
]

Verdict = Literal["converged", "mode-collapsed", "unconverged", "diverged"]
VERDICTS: tuple[str, ...] = ("converged", "mode-collapsed", "unconverged", "diverged")


def _positive(value: Any, name: str) -> None:
    check_finite_float(value, name, minimum=0.0, allow_zero=False, min_positive=1e-12)


def _modes_validation(modes: Any) -> None:
    if not isinstance(modes, Tensor) or modes.ndim != 2 or modes.shape[0] < 1:
        raise ValueError(f"Expected argument `modes` of shape (K, D) with K >= 1, but got {describe(modes)}.")


def ring_modes(num_modes: int = 8, radius: float = 1.0) -> Tensor:
    """Means of ``num_modes`` Gaussians evenly spaced on a circle, at angles ``2πk/num_modes``.

    Args:
        num_modes: the number of modes.
        radius: the radius of the circle.

    Returns:
        ``(num_modes, 2)`` float32 tensor.

    Example:
        >>> modes = ring_modes(4, radius=1.0)
        >>> modes.round(decimals=3).abs().tolist()
        [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    """
    check_int(num_modes, "num_modes", minimum=1)
    _positive(radius, "radius")
    angles = 2 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    return (radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)).float()


def grid_modes(grid_size: int = 5, spacing: float = 2.0) -> Tensor:
    """Means of ``grid_size²`` Gaussians on a square grid centred at the origin.

    Args:
        grid_size: points per side.
        spacing: distance between neighbouring points.

    Returns:
        ``(grid_size², 2)`` float32 tensor, row by row.

    Example:
        >>> grid_modes(3, spacing=1.0)[:4].tolist()
        [[-1.0, -1.0], [-1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]]
    """
    check_int(grid_size, "grid_size", minimum=1)
    _positive(spacing, "spacing")
    ticks = (torch.arange(grid_size, dtype=torch.float64) - (grid_size - 1) / 2) * spacing
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1).float()


def _coverage_arg_validation(modes: Tensor, std: float, threshold: float, min_count: int) -> None:
    _modes_validation(modes)
    _positive(std, "std")
    _positive(threshold, "threshold")
    check_int(min_count, "min_count", minimum=1)


def mode_histogram(samples: Tensor, modes: Tensor, std: float, *, threshold: float = 3.0) -> tuple[Tensor, Tensor]:
    """Count the high-quality samples nearest to every mode.

    Args:
        samples: ``(..., S, D)`` samples; leading dimensions (e.g. runs) are kept.
        modes: ``(K, D)`` mode means.
        std: the standard deviation of the mixture components.
        threshold: a sample is high quality if it lies within ``threshold · std`` of its nearest mode.

    Returns:
        ``(counts, total)``: ``(..., K)`` int64 high-quality counts per nearest mode and ``(...)`` int64 sample
        counts.

    Raises:
        ValueError: if the shapes do not match or ``std``/``threshold`` are not positive.

    Example:
        >>> modes = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> counts, total = mode_histogram(torch.tensor([[0.01, 0.0], [0.5, 0.0], [0.99, 0.0]]), modes, 0.05)
        >>> counts.tolist(), total.item()
        ([1, 1], 3)
    """
    _coverage_arg_validation(modes, std, threshold, 1)
    if not isinstance(samples, Tensor) or samples.ndim < 2 or samples.shape[-1] != modes.shape[1]:
        expected = f"(..., S, {modes.shape[1]})"
        raise ValueError(f"Expected argument `samples` of shape {expected}, but got {describe(samples)}.")
    means = modes.to(device=samples.device, dtype=samples.dtype)
    dist2 = (samples.unsqueeze(-2) - means).pow(2).sum(-1)  # (..., S, K)
    nearest_d2, nearest = dist2.min(dim=-1)
    high_quality = nearest_d2 <= (threshold * std) ** 2  # NaN compares False
    one_hot = torch.nn.functional.one_hot(nearest.clamp_min(0), modes.shape[0]) & high_quality.unsqueeze(-1)
    counts = one_hot.sum(dim=-2).long()
    total = torch.full(samples.shape[:-2], samples.shape[-2], dtype=torch.long, device=samples.device)
    return counts, total


def coverage_from_counts(counts: Tensor, total: Tensor, *, min_count: int = 1) -> dict[str, Tensor]:
    """Modes captured, high-quality share and reverse KL to uniform from :func:`mode_histogram` counts.

    Args:
        counts: ``(..., K)`` high-quality sample counts per mode.
        total: ``(...)`` number of samples scored.
        min_count: the number of high-quality samples a mode needs to count as captured.

    Returns:
        A dict of float tensors of shape ``(...)``: ``"modes_captured"``, ``"high_quality_share"``,
        ``"reverse_kl"`` (see the module docstring for the exact rules).

    Example:
        >>> out = coverage_from_counts(torch.tensor([5, 5, 0, 0]), torch.tensor(10))
        >>> out["modes_captured"].item(), out["high_quality_share"].item(), round(out["reverse_kl"].item(), 4)
        (2.0, 1.0, 0.6931)
    """
    check_int(min_count, "min_count", minimum=1)
    counts = counts.double()
    num_modes = counts.shape[-1]
    hq = counts.sum(-1)
    q = counts / hq.clamp_min(1).unsqueeze(-1)
    terms = torch.where(q > 0, q * torch.log(q * num_modes), torch.zeros_like(q))
    reverse_kl = torch.where(hq > 0, terms.sum(-1), torch.full_like(hq, math.log(num_modes)))
    return {
        "modes_captured": (counts >= min_count).sum(-1).float(),
        "high_quality_share": (hq / total.double().clamp_min(1)).float(),
        "reverse_kl": reverse_kl.float(),
    }


class ModeCoverage(Metric):
    """Modes captured, share of high-quality samples, and reverse KL to uniform, over all samples seen.

    Inputs:
        - ``samples``: ``(S, D)`` generated samples (any number per ``update``).

    Args:
        modes: ``(K, D)`` mode means (nested lists or a tensor).
        std: the standard deviation of the mixture components.
        threshold: high quality means within ``threshold · std`` of the nearest mode (3 in VEEGAN/PacGAN).
        min_count: high-quality samples a mode needs to count as captured (1 in VEEGAN/PacGAN).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Returns (``compute``):
        a dict of scalar tensors ``"modes_captured"``, ``"high_quality_share"``, ``"reverse_kl"``.

    Example:
        >>> noise = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
        >>> metric = ModeCoverage(ring_modes(), std=0.02)
        >>> metric.update(ring_modes()[torch.arange(4000) % 8] + 0.02 * noise)
        >>> out = metric.compute()
        >>> out["modes_captured"].item(), round(out["high_quality_share"].item(), 2), out["reverse_kl"].item() < 0.01
        (8.0, 0.99, True)
    """

    is_differentiable = False
    higher_is_better: bool | None = None
    full_state_update = False
    counts: Tensor
    total: Tensor

    def __init__(
        self,
        modes: list[list[float]] | Tensor,
        std: float,
        threshold: float = 3.0,
        min_count: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        means = torch.as_tensor(modes, dtype=torch.float32)
        _coverage_arg_validation(means, std, threshold, min_count)
        self.std, self.threshold, self.min_count = float(std), float(threshold), min_count
        self.modes: Tensor
        self.register_buffer("modes", means, persistent=False)
        self.add_state("counts", default=torch.zeros(means.shape[0], dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, samples: Tensor) -> None:
        """Score a batch of generated samples ``(S, D)``."""
        if not isinstance(samples, Tensor) or samples.ndim != 2:
            dim = self.modes.shape[1]
            raise ValueError(f"Expected argument `samples` of shape (S, {dim}), but got {describe(samples)}.")
        counts, total = mode_histogram(samples.detach(), self.modes, self.std, threshold=self.threshold)
        self.counts += counts.to(self.counts.device)
        self.total += total.to(self.total.device)

    def compute(self) -> dict[str, Tensor]:
        """The three coverage numbers over everything seen since the last reset."""
        return coverage_from_counts(self.counts, self.total, min_count=self.min_count)


class ModesCaptured(ModeCoverage):
    """The number of modes captured, as a scalar metric (see :class:`ModeCoverage`).

    Example:
        >>> metric = ModesCaptured([[0.0, 0.0], [1.0, 0.0]], std=0.05)
        >>> metric(torch.tensor([[0.0, 0.01], [0.02, 0.0]]))
        tensor(1.)
    """

    higher_is_better = True

    def compute(self) -> Tensor:  # type: ignore[override]
        """The number of captured modes."""
        return super().compute()["modes_captured"]


class HighQualityShare(ModeCoverage):
    """The share of high-quality samples, as a scalar metric (see :class:`ModeCoverage`).

    Example:
        >>> metric = HighQualityShare([[0.0, 0.0], [1.0, 0.0]], std=0.05)
        >>> metric(torch.tensor([[0.0, 0.01], [0.5, 0.0]]))
        tensor(0.5000)
    """

    higher_is_better = True

    def compute(self) -> Tensor:  # type: ignore[override]
        """The share of high-quality samples."""
        return super().compute()["high_quality_share"]


class ReverseKLToUniform(ModeCoverage):
    """The reverse KL between the high-quality mode histogram and uniform, as a scalar metric.

    Example:
        >>> metric = ReverseKLToUniform([[0.0, 0.0], [1.0, 0.0]], std=0.05)
        >>> metric(torch.tensor([[0.0, 0.01], [1.0, 0.0]]))
        tensor(0.)
    """

    higher_is_better = False

    def compute(self) -> Tensor:  # type: ignore[override]
        """``KL(q ‖ uniform)`` in nats."""
        return super().compute()["reverse_kl"]


def classifier_mode_counts(logits: Tensor, *, confidence: float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
    """The mode histogram of classifier outputs.

    Args:
        logits: ``(S, K)`` logits (mode = argmax, ``K`` modes) or ``(S, C, k)`` per-channel logits (mode =
            ``Σ_c argmax_c · k^(C-1-c)``, ``k^C`` modes, e.g. 1,000 for three stacked digits).
        confidence: a sample is confident if every channel's top softmax probability is at least this.

    Returns:
        ``(counts, confident, total)``: ``(num_modes,)`` int64 sample counts per mode, and the int64 numbers of
        confident samples and of samples. Samples with non-finite logits are counted in ``total`` only.

    Example:
        >>> logits = torch.tensor([[[9.0, 0.0], [0.0, 9.0]], [[0.0, 9.0], [0.1, 0.0]]])  # 2 samples, 2 channels
        >>> counts, confident, total = classifier_mode_counts(logits, confidence=0.9)
        >>> counts.tolist(), confident.item(), total.item()
        ([0, 1, 1, 0], 1, 2)
    """
    if not isinstance(logits, Tensor) or logits.ndim not in (2, 3) or logits.shape[-1] < 1:
        raise ValueError(f"Expected argument `logits` of shape (S, K) or (S, C, k), but got {describe(logits)}.")
    per_channel = logits.detach().float() if logits.ndim == 3 else logits.detach().float().unsqueeze(1)
    channels, classes = per_channel.shape[1], per_channel.shape[2]
    finite = torch.isfinite(per_channel).flatten(1).all(1)
    probs = per_channel.softmax(-1)
    top, label = probs.max(-1)
    place = classes ** torch.arange(channels - 1, -1, -1, device=label.device)
    mode = (label * place).sum(-1)
    num_modes = classes**channels
    counts = torch.bincount(mode[finite], minlength=num_modes).long()
    confident = ((top >= confidence).all(-1) & finite).sum().long()
    return counts, confident, torch.tensor(per_channel.shape[0], dtype=torch.long)


def classifier_coverage(counts: Tensor, confident: Tensor, total: Tensor) -> dict[str, Tensor]:
    """Modes captured, confident ("high-quality") share and reverse KL from :func:`classifier_mode_counts` counts.

    ``counts`` may have leading dimensions (runs). The reverse KL is ``KL(q ‖ uniform)`` of the histogram of all
    classified samples; with no finite sample it is ``log K``.

    Example:
        >>> out = classifier_coverage(torch.tensor([2, 2, 0, 0]), torch.tensor(3), torch.tensor(4))
        >>> out["modes_captured"].item(), out["high_quality_share"].item(), round(out["reverse_kl"].item(), 4)
        (2.0, 0.75, 0.6931)
    """
    out = coverage_from_counts(counts, total)
    out["high_quality_share"] = (confident.double() / total.double().clamp_min(1)).float()
    return out


@dataclass(frozen=True)
class VerdictRule:
    """The thresholds of :func:`run_verdict`.

    Attributes:
        window: how many of the last evaluations the rule looks at (guards against a lucky snapshot of an
            oscillating run).
        diverged_high_quality: a run whose mean high-quality share over the window is below this has left the
            data: diverged.
        min_high_quality: a converged run has at least this high-quality share in every evaluation of the window.
        max_reverse_kl: a converged run keeps its reverse KL at or below this in every evaluation of the window;
            above it a run counts as (partially) mode-collapsed.
        min_modes_share: a converged run captures at least ``ceil(min_modes_share · K)`` modes in every
            evaluation of the window (1.0: all of them); fewer is mode collapse.
    """

    window: int = 3
    diverged_high_quality: float = 0.05
    min_high_quality: float = 0.5
    max_reverse_kl: float = 0.1
    min_modes_share: float = 1.0

    def __post_init__(self) -> None:
        check_int(self.window, "window", minimum=1)
        for name in ("diverged_high_quality", "min_high_quality", "min_modes_share"):
            check_probability(getattr(self, name), name)
        check_finite_float(self.max_reverse_kl, "max_reverse_kl", minimum=0.0)


def run_verdict(
    modes_captured: Sequence[float],
    high_quality_share: Sequence[float],
    reverse_kl: Sequence[float],
    *,
    num_modes: int,
    finite: bool = True,
    rule: VerdictRule | None = None,
) -> Verdict:
    """Classify one training run from its evaluation trajectory.

    The rule, applied to the last ``rule.window`` evaluations (all of them if there are fewer), first match wins:

    1. ``"diverged"``: a loss, weight or sample became non-finite (``finite=False``), or the mean high-quality
       share over the window is below ``rule.diverged_high_quality`` (the generator has left the data).
    2. ``"converged"``: in every evaluation of the window at least ``ceil(rule.min_modes_share · K)`` modes are
       captured, the reverse KL is at most ``rule.max_reverse_kl`` and the high-quality share is at least
       ``rule.min_high_quality``.
    3. ``"mode-collapsed"``: in some evaluation of the window modes are missing or the reverse KL exceeds
       ``rule.max_reverse_kl`` (modes covered very unevenly).
    4. ``"unconverged"``: every mode covered evenly, but too few samples close to the modes (still blurry).

    Args:
        modes_captured: modes captured at every evaluation, in order.
        high_quality_share: the high-quality share at every evaluation.
        reverse_kl: the reverse KL at every evaluation.
        num_modes: the number ``K`` of modes of the problem.
        finite: whether the run stayed finite throughout.
        rule: the thresholds; defaults to :class:`VerdictRule()`.

    Example:
        >>> run_verdict([8, 8, 8], [0.9, 0.95, 0.97], [0.02, 0.01, 0.01], num_modes=8)
        'converged'
        >>> run_verdict([8, 3, 2], [0.9, 0.95, 0.97], [0.02, 0.9, 1.2], num_modes=8)
        'mode-collapsed'
    """
    rule = rule if rule is not None else VerdictRule()
    lengths = {len(modes_captured), len(high_quality_share), len(reverse_kl)}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            "Expected non-empty trajectories of equal length, but got lengths "
            f"{len(modes_captured)}, {len(high_quality_share)}, {len(reverse_kl)}."
        )
    w = rule.window
    modes, hq, kl = list(modes_captured)[-w:], list(high_quality_share)[-w:], list(reverse_kl)[-w:]
    values = [*modes, *hq, *kl]
    if not finite or not all(math.isfinite(v) for v in values) or sum(hq) / len(hq) < rule.diverged_high_quality:
        return "diverged"
    need = math.ceil(rule.min_modes_share * num_modes - 1e-9)
    covered = all(m >= need for m in modes) and all(k <= rule.max_reverse_kl for k in kl)
    if covered and all(h >= rule.min_high_quality for h in hq):
        return "converged"
    return "unconverged" if covered else "mode-collapsed"
