"""Figures of the GAN stability study (matplotlib, Agg backend, imported lazily).

- :func:`plot_scatter_grid`: generated samples at several training iterations, ERM and mixup side by side, over
  the real modes, as Figure 5 of Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018,
  https://arxiv.org/abs/1710.09412.
- :func:`plot_metric_curves`: modes captured, high-quality share, reverse KL and discriminator loss against the
  generator iteration, mean over seeds with a band of one standard deviation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from experiments.plotting import pyplot, save_figure

__all__ = ["plot_metric_curves", "plot_scatter_grid"]


def plot_scatter_grid(
    snapshots: Mapping[str, Mapping[int, Tensor]],
    modes: Tensor,
    path: str | Path,
    *,
    title: str = "",
    limit: float | None = None,
) -> Path:
    """Scatter plots of generated samples: one row per method, one column per iteration.

    Args:
        snapshots: method label -> {iteration -> ``(S, 2)`` samples}.
        modes: ``(K, 2)`` true modes, drawn as crosses.
        path: the PNG file to write.
        title: the figure title.
        limit: half-width of the axes; by default 1.5 × the largest mode coordinate.

    Returns:
        The path written.
    """
    plt = pyplot()
    labels = list(snapshots)
    steps = sorted({s for per in snapshots.values() for s in per})
    lim = limit if limit is not None else 1.5 * float(modes.abs().max()) + 0.5
    fig, axes = plt.subplots(
        len(labels), len(steps), figsize=(2.2 * len(steps), 2.3 * len(labels)), squeeze=False, sharex=True, sharey=True
    )
    for row, label in enumerate(labels):
        for col, step in enumerate(steps):
            ax = axes[row][col]
            ax.scatter(modes[:, 0], modes[:, 1], marker="x", s=25, c="tab:red", linewidths=1, zorder=3)
            samples = snapshots[label].get(step)
            if samples is not None:
                ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5, c="tab:blue", zorder=2)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"iteration {step}", fontsize=9)
            if col == 0:
                ax.set_ylabel(label, fontsize=9)
    return save_figure(fig, path, title, dpi=110)


def plot_metric_curves(
    curves: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    num_modes: int,
    title: str = "",
) -> Path:
    """Metric-vs-iteration curves, mean ± one standard deviation over seeds.

    Args:
        curves: one entry per line: ``{"label": str, "method": str, "steps": [E], "modes_captured": (S, E),
            "high_quality_share": (S, E), "reverse_kl": (S, E), "loss_steps": [T], "d_loss": (S, T)}`` with the
            arrays as tensors (S seeds).
        path: the PNG file to write.
        num_modes: the number of modes, drawn as a reference line.
        title: the figure title.

    Returns:
        The path written.
    """
    plt = pyplot()
    panels = [
        ("modes_captured", "modes captured"),
        ("high_quality_share", "high-quality share"),
        ("reverse_kl", "reverse KL (nats)"),
        ("d_loss", "discriminator loss"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    styles = ["-", "--", ":", "-."]
    colours = {"erm": "tab:gray", "ERM": "tab:gray"}
    seen_cells: dict[str, int] = {}
    for entry in curves:
        method = str(entry["method"])
        cell = str(entry["label"]).replace(method, "").strip(" ,")
        style = styles[seen_cells.setdefault(cell, len(seen_cells)) % len(styles)]
        colour = colours.get(method, "tab:orange")
        for ax, (key, _) in zip(axes, panels, strict=True):
            values = entry[key].double()
            x = entry["loss_steps"] if key == "d_loss" else entry["steps"]
            mean = values.mean(0)
            std = values.std(0) if values.shape[0] > 1 else values.new_zeros(values.shape[1])
            ax.plot(x, mean, style, color=colour, label=entry["label"], linewidth=1.2)
            ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.12, linewidth=0)
    for ax, (key, name) in zip(axes, panels, strict=True):
        ax.set_xlabel("generator iteration")
        ax.set_title(name, fontsize=10)
        if key == "modes_captured":
            ax.axhline(num_modes, color="black", linewidth=0.6)
    axes[0].legend(fontsize=6, loc="lower right")
    return save_figure(fig, path, title, dpi=110)
