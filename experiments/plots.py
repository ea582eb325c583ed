"""Plots of robustness and calibration results: accuracy-vs-ε curves with bands, reliability diagrams.

matplotlib is optional (``pip install 'lightning-mixup[plots]'``) and imported lazily with the Agg backend, so
importing this module never needs a display or matplotlib.

References:
    - Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, https://arxiv.org/abs/1706.04599
      (reliability diagrams)
    - Verma et al., "Manifold Mixup", ICML 2019, https://arxiv.org/abs/1806.05236 (FGSM/PGD accuracy)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from experiments.plotting import pyplot, save_figure
from lightning_mixup.evaluation.results import ReliabilityBins

ATTACK_TITLES = {"fgsm": "FGSM (L∞)", "pgd": "PGD (L∞)", "pgdl2": "PGD (L2)"}


def plot_accuracy_curves(
    curves: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Accuracy against ε, one panel per attack, one line (and band) per model or method.

    Args:
        curves: ``{label: {attack: {"eps": [...], "mean": [...], "low": [...], "high": [...]}}}``; ``low``/``high``
            (a confidence band) are optional.
        path: the image file to write (``.png``, ``.pdf``, ...).
        title: the figure title.

    Returns:
        ``path``.

    Example:
        >>> import tempfile
        >>> curve = {"eps": [0.0, 0.1], "mean": [0.9, 0.4], "low": [0.85, 0.3], "high": [0.95, 0.5]}
        >>> out = plot_accuracy_curves({"ERM": {"fgsm": curve}}, Path(tempfile.mkdtemp()) / "acc.png")
        >>> out.stat().st_size > 0
        True
    """
    plt = pyplot()
    attacks = list(dict.fromkeys(a for per_label in curves.values() for a in per_label))
    if not attacks:
        raise ValueError("Expected at least one attack curve in `curves`, but got none.")
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.2 * len(attacks), 3.4), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=True):
        for label, per_attack in curves.items():
            if attack not in per_attack:
                continue
            curve = per_attack[attack]
            (line,) = ax.plot(curve["eps"], curve["mean"], marker="o", markersize=3, label=label)
            if "low" in curve and "high" in curve:
                low = [m if not math.isfinite(v) else v for v, m in zip(curve["low"], curve["mean"], strict=True)]
                high = [m if not math.isfinite(v) else v for v, m in zip(curve["high"], curve["mean"], strict=True)]
                ax.fill_between(curve["eps"], low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(ATTACK_TITLES.get(attack, attack))
        ax.set_xlabel("ε (input units)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path, title)


def plot_reliability_diagrams(
    bins: Mapping[str, ReliabilityBins], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Reliability diagrams (accuracy per confidence bin against the diagonal), one panel per model or method.

    Args:
        bins: ``{label: ReliabilityBins}``.
        path: the image file to write.
        title: the figure title.

    Returns:
        ``path``.

    Example:
        >>> import tempfile
        >>> b = ReliabilityBins([0.0, 0.5, 1.0, 1.0], [2, 6, 2], [0.4, 0.8, 1.0], [0.5, 0.7, 1.0])
        >>> plot_reliability_diagrams({"ERM": b}, Path(tempfile.mkdtemp()) / "rel.png").stat().st_size > 0
        True
    """
    plt = pyplot()
    if not bins:
        raise ValueError("Expected at least one entry in `bins`, but got none.")
    fig, axes = plt.subplots(1, len(bins), figsize=(3.8 * len(bins), 3.8), squeeze=False)
    for ax, (label, raw) in zip(axes[0], bins.items(), strict=True):
        merged = raw.merged()
        keep = [k for k, n in enumerate(merged.count) if n > 0]  # empty bins are not drawn
        lefts = [merged.edges[k] for k in keep]
        widths = [merged.edges[k + 1] - merged.edges[k] for k in keep]
        accuracy = [merged.accuracy[k] for k in keep]
        confidence = [merged.confidence[k] for k in keep]
        ax.bar(
            lefts,
            accuracy,
            width=widths,
            align="edge",
            color="tab:blue",
            edgecolor="black",
            linewidth=0.5,
            label="accuracy",
        )
        ax.bar(
            lefts,
            [abs(c - a) for a, c in zip(accuracy, confidence, strict=True)],
            bottom=[min(a, c) for a, c in zip(accuracy, confidence, strict=True)],
            width=widths,
            align="edge",
            facecolor=(1.0, 0.0, 0.0, 0.15),
            edgecolor="red",
            hatch="//",
            linewidth=0.5,
            label="gap to mean confidence",
        )
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set_title(f"{label} (ECE {raw.ece:.3f}, N={sum(raw.count)})")
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize="small")
    return save_figure(fig, path, title)


def pool_bins(bins: Sequence[ReliabilityBins]) -> ReliabilityBins:
    """Pool reliability bins of several runs (same binning): counts add, means are count-weighted.

    Example:
        >>> a = ReliabilityBins([0.0, 1.0], [1], [0.6], [1.0])
        >>> b = ReliabilityBins([0.0, 1.0], [3], [0.8], [0.0])
        >>> pooled = pool_bins([a, b])
        >>> pooled.count, round(pooled.confidence[0], 4), pooled.accuracy
        ([4], 0.75, [0.25])
    """
    if not bins:
        raise ValueError("Expected at least one ReliabilityBins to pool, but got none.")
    edges = bins[0].edges
    if any(b.edges != edges for b in bins):
        raise ValueError("Expected reliability bins with the same edges, but they differ.")
    size = len(bins[0].count)
    count = [sum(b.count[k] for b in bins) for k in range(size)]

    def pooled(attr: str, k: int) -> float:
        if count[k] == 0:
            return math.nan
        return sum(getattr(b, attr)[k] * b.count[k] for b in bins if b.count[k]) / count[k]

    return ReliabilityBins(
        edges=list(edges),
        count=count,
        confidence=[pooled("confidence", k) for k in range(size)],
        accuracy=[pooled("accuracy", k) for k in range(size)],
    )
