"""ERM against mixup runs of one GAN, paired by seed, on top of :class:`~lightning_mixup.gan.GANStabilityCallback`.

:func:`compare_stability` trains the same GAN with and without a ``MixupCallback`` for every seed and summarises the
paired differences of the final stability numbers (:func:`paired_interval`: a t-interval, which needs scipy, the
``study`` extra).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from lightning_mixup.callback import MixupCallback
from lightning_mixup.gan.metrics import VERDICTS
from lightning_mixup.gan.stability import GANStabilityCallback, StabilityReport, _mean, _var
from lightning_mixup.mixin import MixupMixin

__all__ = ["StabilityComparison", "compare_stability", "paired_interval", "summarise_pairs", "verdict_shares"]


@dataclass
class StabilityComparison:
    """ERM against mixup runs of one GAN, paired by seed (output of :func:`compare_stability`).

    Attributes:
        seeds: the seeds, in order.
        erm: one :class:`StabilityReport` per seed without a ``MixupCallback``.
        mixup: one per seed with it.
        paired: per metric (``modes_captured``, ``high_quality_share``, ``reverse_kl``) the mean of the paired
            difference mixup − ERM of the final values, its 95 % t-interval and the counts of seeds where mixup is
            higher / equal / lower.
        verdicts: per arm, the share of runs with each verdict.
    """

    seeds: list[int]
    erm: list[StabilityReport]
    mixup: list[StabilityReport]
    paired: dict[str, dict[str, float]] = field(default_factory=dict)
    verdicts: dict[str, dict[str, float]] = field(default_factory=dict)

    def markdown(self) -> str:
        """A small Markdown summary."""
        lines = [
            f"ERM vs mixup, {len(self.seeds)} seeds (paired by seed)",
            "",
            "| metric | ERM | mixup | mixup − ERM (95 % CI) | higher / equal / lower |",
            "|---|---|---|---|---|",
        ]
        for metric, p in self.paired.items():
            lines.append(
                f"| {metric} | {p['erm_mean']:.3g} | {p['mixup_mean']:.3g} | {p['mean']:+.3g} "
                f"[{p['low']:+.3g}, {p['high']:+.3g}] | {int(p['higher'])} / {int(p['equal'])} / {int(p['lower'])} |"
            )
        lines += ["", "| arm | " + " | ".join(VERDICTS) + " |", "|---|" + "---|" * len(VERDICTS)]
        for arm, shares in self.verdicts.items():
            lines.append(f"| {arm} | " + " | ".join(f"{shares[v]:.0%}" for v in VERDICTS) + " |")
        return "\n".join(lines)


def paired_interval(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval of paired differences (``nan`` bounds for fewer than two values).

    Example:
        >>> mean, low, high = paired_interval([1.0, 2.0, 3.0])
        >>> mean, round(low, 3), round(high, 3)
        (2.0, -0.484, 4.484)
    """
    from scipy import stats

    values = [float(d) for d in differences if math.isfinite(float(d))]
    if not values:
        return math.nan, math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    sem = math.sqrt(_var(values) / len(values))
    if sem == 0:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * sem
    return mean, mean - half, mean + half


def summarise_pairs(
    erm: Sequence[Mapping[str, Any]], mixup: Sequence[Mapping[str, Any]], metric: str
) -> dict[str, float]:
    """Paired summary of one final metric: means, mean difference mixup − ERM with its interval, sign counts."""
    a = [float(r[metric]) for r in erm]
    b = [float(r[metric]) for r in mixup]
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    mean, low, high = paired_interval(diffs)
    return {
        "erm_mean": _mean(a),
        "mixup_mean": _mean(b),
        "mean": mean,
        "low": low,
        "high": high,
        "higher": float(sum(d > 0 for d in diffs)),
        "equal": float(sum(d == 0 for d in diffs)),
        "lower": float(sum(d < 0 for d in diffs)),
    }


def verdict_shares(verdicts: Sequence[str]) -> dict[str, float]:
    """The share of each verdict in ``verdicts``."""
    return {v: (sum(x == v for x in verdicts) / len(verdicts) if verdicts else 0.0) for v in VERDICTS}


def compare_stability(
    make_model: Callable[[], pl.LightningModule],
    make_datamodule: Callable[[int], pl.LightningDataModule],
    *,
    seeds: Sequence[int],
    mixup: Mapping[str, Any],
    callback: Mapping[str, Any] | None = None,
    trainer: Mapping[str, Any] | None = None,
) -> StabilityComparison:
    """Train the same GAN with and without discriminator mixup for every seed and compare their stability.

    For each seed and arm: ``seed_everything(seed)``, then ``make_model()`` and ``make_datamodule(seed)``, and a fit
    with a fresh :class:`GANStabilityCallback` (``callback`` kwargs); the mixup arm adds
    ``MixupCallback(seed=seed, **mixup)``. Both arms start from the same weights and data, so the runs are paired.

    Args:
        make_model: builds the GAN; it must derive from :class:`~lightning_mixup.MixupMixin` and mix its
            discriminator batches with ``self.mix_discriminator(real, fake)`` (without the callback that is ERM).
        make_datamodule: builds the data for a seed.
        seeds: the seeds.
        mixup: ``MixupCallback`` kwargs of the mixup arm, e.g. ``{"alpha": 0.2, "discriminator_mode": "shuffle"}``.
        callback: ``GANStabilityCallback`` kwargs.
        trainer: ``Trainer`` kwargs (``max_steps``, ...); logger, checkpointing, progress bar and model summary are
            off unless given.

    Returns:
        :class:`StabilityComparison`.

    Raises:
        TypeError: if the model is not a ``MixupMixin`` (the callback could not mix its discriminator).
        ValueError: if ``seeds`` is empty.
    """
    if not seeds:
        raise ValueError("Expected at least one seed in `seeds`, but got none.")
    options: dict[str, Any] = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    options.update(trainer or {})
    reports: dict[str, list[StabilityReport]] = {"erm": [], "mixup": []}
    for seed in seeds:
        for arm in ("erm", "mixup"):
            pl.seed_everything(seed, verbose=False)
            model = make_model()
            if not isinstance(model, MixupMixin):
                raise TypeError(
                    f"Expected `make_model()` to return a MixupMixin LightningModule that mixes its discriminator "
                    f"with `self.mix_discriminator(real, fake)`, but got {type(model).__name__}."
                )
            datamodule = make_datamodule(seed)
            stability = GANStabilityCallback(**dict(callback or {}))
            callbacks: list[Callback] = [stability]
            if arm == "mixup":
                callbacks.append(MixupCallback(**{"seed": seed, **dict(mixup)}))
            pl.Trainer(**options, callbacks=callbacks).fit(model, datamodule)
            reports[arm].append(stability.report())
    finals = {arm: [r.final() for r in runs] for arm, runs in reports.items()}
    paired = {
        m: summarise_pairs(finals["erm"], finals["mixup"], m)
        for m in ("modes_captured", "high_quality_share", "reverse_kl")
    }
    verdicts = {arm: verdict_shares([r.verdict for r in runs]) for arm, runs in reports.items()}
    return StabilityComparison(list(seeds), reports["erm"], reports["mixup"], paired, verdicts)
