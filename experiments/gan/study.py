"""The GAN stability study: ERM against discriminator mixup, one setting at a time, on the batched engine.

The claim under test is §3.5 of Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018
(https://arxiv.org/abs/1710.09412): training the discriminator on mixed real and fake samples stabilises GAN
training. A *setting* (:class:`SettingConfig`) fixes the data, the networks and the schedule; its *cells* are
(latent size, mixing form, α) combinations, each trained over several seeds; every mixup cell is paired by seed with
the ERM cell of the same data and latent size (same initial weights, data and latent codes: only the mixing
differs). Runs are scored with the VEEGAN/PacGAN mode-coverage metrics (images: a digit classifier) and a per-run
verdict over the last evaluations (:func:`~lightning_mixup.gan.run_verdict`), exactly as the
:class:`~lightning_mixup.gan.GANStabilityCallback` scores a Lightning run.

Training uses :func:`~experiments.gan.batched.train_gan_batch`, which trains the runs ``Trainer`` + ``StudyGAN`` +
``MixupCallback`` would train (a test checks the weights agree). The settings themselves are in
:mod:`experiments.gan.suite`.

Entry point: :func:`run_setting`, which returns a dict (also written as JSON) and writes a Markdown report and the
figures.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from experiments.gan.batched import (
    MIX_METHODS,
    BatchedGANResult,
    EngineConfig,
    GANRunSpec,
    check_num_samples,
    train_gan_batch,
)
from experiments.gan.compare import paired_interval
from experiments.gan.data import GaussianMixture
from experiments.gan.digits import StackedDigitClassifier, StackedDigits, train_digit_classifier
from experiments.paths import repo_relative_files
from lightning_mixup.gan import (
    VERDICTS,
    VerdictRule,
    classifier_coverage,
    classifier_mode_counts,
    coverage_from_counts,
    grid_modes,
    mode_histogram,
    ring_modes,
    run_verdict,
)

__all__ = ["DATASETS", "SettingConfig", "arm_label", "run_setting"]

DATASETS: tuple[str, ...] = ("ring", "grid", "digits")
_FORM_LABELS = {"erm": "ERM", "paper": "mixup Beta(α, α)", "shuffle": "mixup U(0, α) shuffle"}


def arm_label(method: str, alpha: float) -> str:
    """``"ERM"``, ``"paper α=0.2"`` or ``"shuffle α=0.2"``.

    Example:
        >>> arm_label("shuffle", 0.2), arm_label("erm", 0.0)
        ('shuffle α=0.2', 'ERM')
    """
    return "ERM" if method == "erm" else f"{method} α={alpha:g}"


@dataclass
class SettingConfig:
    """One setting of the study; every field is JSON-serialisable.

    Attributes:
        name: a short identifier (file names, claim rows).
        title: a one-line description for the report.
        datasets: among ``("ring", "grid", "digits")``.
        ring: ``{"radius": ..., "std": ...}`` of the ring of 8.
        grid: ``{"spacing": ..., "std": ...}`` of the 5×5 grid.
        model: :class:`~experiments.gan.module.StudyGAN` keyword arguments shared by all runs.
        cells: ``{"latent_dim": int, "method": "erm"|"paper"|"shuffle", "alpha": float}`` per cell; every latent
            size with a mixup cell needs an ERM cell (the pairing baseline).
        seeds: seeds per cell (``first_seed … first_seed + seeds - 1``).
        first_seed: the first seed.
        batch_size: real samples per discriminator step.
        num_samples: ``None``: fresh real samples at every step; an int: a fixed training set of that size per run
            (PacGAN's 100,000), reshuffled every epoch.
        iterations: generator iterations per run.
        eval_every: evaluation interval in generator iterations.
        eval_samples: generated samples per evaluation (2,500 in PacGAN's 2D protocol).
        snapshot_steps: iterations shown in the scatter plots.
        verdict_window: evaluations the verdict looks at.
        verdict_min_modes_share: see :class:`~lightning_mixup.gan.VerdictRule`.
        verdict_max_reverse_kl: see :class:`~lightning_mixup.gan.VerdictRule`.
        verdict_min_high_quality: see :class:`~lightning_mixup.gan.VerdictRule`.
        verdict_diverged_high_quality: see :class:`~lightning_mixup.gan.VerdictRule`; ``None`` (mixtures): the
            high-quality share a uniform smear over the data's square scores by chance (a run that places its samples
            no better than that has left the data), 0.05 for images.
        digit_classifier_steps: training steps of the stacked-digits mode counter.
        reference: what the original work ran (for the report's "what was cut" line), free-form.
        num_threads: torch CPU threads during the setting (restored afterwards); ``None`` leaves torch's setting.
        device: where the networks train.
    """

    name: str = "authors"
    title: str = ""
    datasets: list[str] = field(default_factory=lambda: ["ring", "grid"])
    ring: dict[str, float] = field(default_factory=lambda: {"radius": 1.0, "std": 0.01})
    grid: dict[str, float] = field(default_factory=lambda: {"spacing": 0.5, "std": 0.01})
    model: dict[str, Any] = field(default_factory=dict)
    cells: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"latent_dim": 2, "method": "erm", "alpha": 0.0},
            {"latent_dim": 2, "method": "shuffle", "alpha": 0.2},
        ]
    )
    seeds: int = 5
    first_seed: int = 0
    batch_size: int = 128
    num_samples: int | None = None
    iterations: int = 1000
    eval_every: int = 100
    eval_samples: int = 2500
    snapshot_steps: list[int] = field(default_factory=lambda: [10, 100, 1000])
    verdict_window: int = 3
    verdict_min_modes_share: float = 1.0
    verdict_max_reverse_kl: float = 0.1
    verdict_min_high_quality: float = 0.5
    verdict_diverged_high_quality: float | None = None
    digit_classifier_steps: int = 150
    reference: str = ""
    num_threads: int | None = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.datasets or any(d not in DATASETS for d in self.datasets):
            raise ValueError(
                f"Expected argument `datasets` to be a non-empty list from {DATASETS}, but got {self.datasets!r}."
            )
        if not self.cells:
            raise ValueError("Expected at least one cell in `cells`, but got none.")
        for cell in self.cells:
            if set(cell) != {"latent_dim", "method", "alpha"} or cell["method"] not in MIX_METHODS:
                raise ValueError(
                    "Expected every cell to be {'latent_dim': int, 'method': one of "
                    f"{MIX_METHODS}, 'alpha': float}}, but got {cell!r}."
                )
            GANRunSpec(0, cell["method"], cell["alpha"] if cell["method"] != "erm" else 0.2)
        erm_latents = {c["latent_dim"] for c in self.cells if c["method"] == "erm"}
        missing = sorted({c["latent_dim"] for c in self.cells} - erm_latents)
        if missing:
            raise ValueError(f"Expected an ERM cell for every latent size, but latent sizes {missing} have none.")
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 1:
            raise ValueError(f"Expected argument `seeds` to be a positive int, but got {self.seeds!r}.")
        check_num_samples(self.num_samples, self.batch_size)
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            raise ValueError(
                f"Expected argument `num_threads` to be a positive int or None, but got {self.num_threads!r}."
            )
        self.snapshot_steps = sorted({s for s in self.snapshot_steps if 0 <= s <= self.iterations})
        self.verdict_rule()

    def verdict_rule(self, chance_high_quality: float | None = None) -> VerdictRule:
        """The verdict thresholds (``chance_high_quality``: the smear's share, used when the field is ``None``)."""
        diverged = self.verdict_diverged_high_quality
        if diverged is None:
            diverged = chance_high_quality if chance_high_quality is not None else 0.05
        return VerdictRule(
            window=self.verdict_window,
            min_modes_share=self.verdict_min_modes_share,
            max_reverse_kl=self.verdict_max_reverse_kl,
            min_high_quality=self.verdict_min_high_quality,
            diverged_high_quality=diverged,
        )

    def sampler(self, dataset: str) -> GaussianMixture | StackedDigits:
        """The data of ``dataset``."""
        if dataset == "ring":
            return GaussianMixture(ring_modes(8, float(self.ring["radius"])), float(self.ring["std"]))
        if dataset == "grid":
            return GaussianMixture(grid_modes(5, float(self.grid["spacing"])), float(self.grid["std"]))
        return StackedDigits()

    def engine_config(self, dataset: str, latent_dim: int, classifier: Any = None) -> EngineConfig:
        """The shared configuration of the runs of one dataset and latent size."""
        return EngineConfig(
            sampler=self.sampler(dataset),
            model={**self.model, "latent_dim": latent_dim},
            batch_size=self.batch_size,
            num_samples=self.num_samples,
            iterations=self.iterations,
            eval_every=self.eval_every,
            eval_samples=self.eval_samples,
            classifier=classifier,
            snapshot_steps=tuple(self.snapshot_steps),
        )

    @property
    def architecture(self) -> str:
        """``G 3×512 / D 3×512``-style description of the networks."""
        m = {"g_hidden": 512, "g_depth": 3, "d_hidden": 512, "d_depth": 3, **self.model}
        g = f"G {m['g_depth']}×{m['g_hidden']}" + (" BN" if m.get("g_batchnorm") else "")
        d = f"D {m['d_depth']}×{m['d_hidden']}" + (f" maxout-{m['d_maxout']}" if m.get("d_maxout", 1) > 1 else "")
        return f"{g}, {d}"


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    t = torch.tensor([v for v in values if math.isfinite(v)], dtype=torch.float64)
    if t.numel() == 0:
        return {"mean": math.nan, "std": math.nan}
    return {"mean": float(t.mean()), "std": float(t.std()) if t.numel() > 1 else 0.0}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _tail_var(values: Tensor) -> float | None:
    return _finite_or_none(float(values.double().var())) if values.numel() > 1 else None


def chance_high_quality(reference: Sequence[Mapping[str, Any]], cfg: SettingConfig, dataset: str) -> float | None:
    """The high-quality share of the uniform smear on ``dataset`` (``None`` for images)."""
    for entry in reference:
        if entry["dataset"] == f"{dataset} ({cfg.name})" and entry["sampler"] == "uniform smear":
            return float(entry["high_quality_share"]["mean"])
    return None


def _run_records(
    cfg: SettingConfig,
    dataset: str,
    latent_dim: int,
    result: BatchedGANResult,
    num_modes: int,
    chance: float | None = None,
) -> list[dict[str, Any]]:
    rule = cfg.verdict_rule(chance)
    half = result.d_loss.shape[1] // 2
    model = {"g_hidden": 512, "g_depth": 3, "lr_d": 1e-3, **cfg.model}
    records = []
    for i, run in enumerate(result.runs):
        modes = result.modes_captured[i].tolist()
        hq = result.high_quality_share[i].tolist()
        kl = result.reverse_kl[i].tolist()
        finite = bool(result.finite[i])
        tail = slice(half, None)
        records.append(
            {
                "setting": cfg.name,
                "dataset": f"{dataset} ({cfg.name})",
                "data": dataset,
                "num_modes": num_modes,
                "hidden": model["g_hidden"],
                "depth": model["g_depth"],
                "lr": model["lr_d"],
                "latent_dim": latent_dim,
                "method": arm_label(run.method, run.alpha),
                "form": run.method,
                "alpha": run.alpha if run.method != "erm" else 0.0,
                "seed": run.seed,
                "modes_captured": modes[-1],
                "high_quality_share": hq[-1],
                "reverse_kl": kl[-1],
                "verdict": run_verdict(modes, hq, kl, num_modes=num_modes, finite=finite, rule=rule),
                "finite": finite,
                "d_loss_var": _tail_var(result.d_loss[i, tail]),
                "g_loss_var": _tail_var(result.g_loss[i, tail]),
                "d_grad_norm_mean": _finite_or_none(float(result.d_grad_norm[i, tail].double().mean())),
                "g_grad_norm_mean": _finite_or_none(float(result.g_grad_norm[i, tail].double().mean())),
                "trajectory": {
                    "steps": result.eval_steps.tolist(),
                    "modes_captured": modes,
                    "high_quality_share": hq,
                    "reverse_kl": kl,
                },
            }
        )
    return records


_CELL_KEYS = ("dataset", "latent_dim", "method")


def _cells(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in _CELL_KEYS), []).append(run)
    cells = []
    for key, members in groups.items():
        cell: dict[str, Any] = dict(zip(_CELL_KEYS, key, strict=True))
        cell.update({"form": members[0]["form"], "alpha": members[0]["alpha"], "num_modes": members[0]["num_modes"]})
        cell["runs"] = len(members)
        for metric in ("modes_captured", "high_quality_share", "reverse_kl"):
            cell[metric] = _mean_std([m[metric] for m in members])
        for verdict in VERDICTS:
            cell[verdict] = sum(m["verdict"] == verdict for m in members) / len(members)
        for metric in ("d_loss_var", "g_loss_var", "d_grad_norm_mean", "g_grad_norm_mean"):
            cell[metric] = _mean_std([m[metric] for m in members if m[metric] is not None])["mean"]
        cells.append(cell)
    return cells


def _paired(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every mixup cell against ERM of the same dataset and latent size, paired by seed."""
    erm = {(r["dataset"], r["latent_dim"], r["seed"]): r for r in runs if r["form"] == "erm"}
    groups: dict[tuple[Any, ...], list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for run in runs:
        base = erm.get((run["dataset"], run["latent_dim"], run["seed"]))
        if run["form"] != "erm" and base is not None:
            groups.setdefault((run["dataset"], run["latent_dim"], run["method"]), []).append((base, run))
    out = []
    for (dataset, latent_dim, method), pairs in groups.items():
        entry: dict[str, Any] = {"dataset": dataset, "latent_dim": latent_dim, "method": method, "pairs": len(pairs)}
        entry["form"], entry["alpha"] = pairs[0][1]["form"], pairs[0][1]["alpha"]
        entry["num_modes"] = pairs[0][1]["num_modes"]
        for metric in ("modes_captured", "high_quality_share", "reverse_kl"):
            diffs = [m[metric] - e[metric] for e, m in pairs]
            mean, low, high = paired_interval(diffs)
            entry[metric] = {
                "erm": sum(e[metric] for e, _ in pairs) / len(pairs),
                "mixup": sum(m[metric] for _, m in pairs) / len(pairs),
                "diff": mean,
                "low": low,
                "high": high,
                "better": sum(d > 0 for d in diffs),
                "tie": sum(d == 0 for d in diffs),
                "worse": sum(d < 0 for d in diffs),
            }
        for verdict in VERDICTS:
            diffs = [float(m["verdict"] == verdict) - float(e["verdict"] == verdict) for e, m in pairs]
            mean, low, high = paired_interval(diffs)
            entry[verdict] = {
                "erm": sum(e["verdict"] == verdict for e, _ in pairs) / len(pairs),
                "mixup": sum(m["verdict"] == verdict for _, m in pairs) / len(pairs),
                "diff": mean,
                "low": low,
                "high": high,
            }
        out.append(entry)
    return out


def _reference_samplers(cfg: SettingConfig, classifier: Any, draws: int = 3) -> list[dict[str, Any]]:
    """The true distribution (and, for mixtures, a uniform smear over the data's square) scored like a run."""
    out = []
    for dataset in cfg.datasets:
        sampler = cfg.sampler(dataset)
        names = ["true distribution"] if dataset == "digits" else ["true distribution", "uniform smear"]
        for name in names:
            values: dict[str, list[float]] = {"modes_captured": [], "high_quality_share": [], "reverse_kl": []}
            for draw in range(draws):
                g = torch.Generator().manual_seed(10_000 + draw)
                if isinstance(sampler, GaussianMixture):
                    extent = 1.25 * float(sampler.modes.abs().max())
                    if name == "true distribution":
                        samples = sampler.sample(cfg.eval_samples, g)
                    else:
                        samples = (torch.rand(cfg.eval_samples, 2, generator=g) * 2 - 1) * extent
                    counts, total = mode_histogram(samples, sampler.modes, sampler.std)
                    metrics = coverage_from_counts(counts, total)
                else:
                    with torch.no_grad():
                        logits = classifier(sampler.sample(cfg.eval_samples, g))
                    metrics = classifier_coverage(*classifier_mode_counts(logits))
                for key, value in metrics.items():
                    values[key].append(float(value))
            entry: dict[str, Any] = {"dataset": f"{dataset} ({cfg.name})", "sampler": name}
            entry["num_modes"] = 1000 if dataset == "digits" else int(sampler.modes.shape[0])  # type: ignore[union-attr]
            for key, vals in values.items():
                entry[key] = _mean_std(vals)
            out.append(entry)
    return out


def _fmt(stat: Mapping[str, float], scale: float = 1.0, digits: int = 1) -> str:
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def _interval(p: Mapping[str, float], scale: float = 1.0, digits: int = 1) -> str:
    if not math.isfinite(p["low"]):
        return f"{p['diff'] * scale:+.{digits}f}"
    return f"{p['diff'] * scale:+.{digits}f} [{p['low'] * scale:+.{digits}f}, {p['high'] * scale:+.{digits}f}]"


def markdown(result: Mapping[str, Any]) -> str:
    """The setting's report in Markdown."""
    cfg = result["config"]
    lines = [
        f"## {cfg['title'] or cfg['name']}",
        "",
        f"{cfg['seeds']} seeds per cell; {cfg['iterations']} generator iterations "
        f"(each after {cfg['model'].get('d_steps', 5)} discriminator steps), batch {cfg['batch_size']}"
        + (f" from a fixed training set of {cfg['num_samples']:,} samples" if cfg.get("num_samples") else "")
        + "; "
        f"{result['architecture']}; Adam lr {cfg['model'].get('lr_d', 1e-3):g}, betas "
        f"{tuple(cfg['model'].get('betas', (0.9, 0.999)))}; generator loss "
        f"{cfg['model'].get('g_objective', 'non_saturating').replace('_', '-')}. Evaluation: {cfg['eval_samples']} "
        f"samples every {cfg['eval_every']} iterations. Wall time {result['seconds']:.0f} s.",
        "",
    ]
    if cfg.get("reference"):
        lines += [f"What the original ran, and what was cut: {cfg['reference']}", ""]
    lines += [
        "| data | latent | arm | runs | modes | HQ % | reverse KL | converged | collapsed | unconverged | diverged "
        "| var(D loss) | var(G loss) | ‖∇G‖ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["cells"]:
        lines.append(
            f"| {c['dataset']} | {c['latent_dim']} | {c['method']} | {c['runs']} | {_fmt(c['modes_captured'])} / "
            f"{c['num_modes']} | {_fmt(c['high_quality_share'], 100)} | {_fmt(c['reverse_kl'], digits=2)} | "
            f"{c['converged']:.0%} | {c['mode-collapsed']:.0%} | {c['unconverged']:.0%} | {c['diverged']:.0%} | "
            f"{c['d_loss_var']:.3g} | {c['g_loss_var']:.3g} | {c['g_grad_norm_mean']:.3g} |"
        )
    if result["paired"]:
        lines += [
            "",
            "Paired by seed, mixup − ERM (mean difference, 95 % t-interval; better/tie/worse counts for modes):",
            "",
            "| data | latent | arm | Δ modes | better/tie/worse | Δ HQ (points) | Δ reverse KL | Δ converged | "
            "Δ collapsed | Δ diverged |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in result["paired"]:
            m = p["modes_captured"]
            lines.append(
                f"| {p['dataset']} | {p['latent_dim']} | {p['method']} | {_interval(m)} | "
                f"{m['better']}/{m['tie']}/{m['worse']} | {_interval(p['high_quality_share'], 100)} | "
                f"{_interval(p['reverse_kl'], digits=2)} | {_interval(p['converged'], 100, 0)} | "
                f"{_interval(p['mode-collapsed'], 100, 0)} | {_interval(p['diverged'], 100, 0)} |"
            )
    lines += ["", "Reference samplers, scored like a run:", "", "| data | sampler | modes | HQ % | reverse KL |"]
    lines += ["|---|---|---|---|---|"]
    for r in result["reference_samplers"]:
        lines.append(
            f"| {r['dataset']} | {r['sampler']} | {_fmt(r['modes_captured'])} / {r['num_modes']} | "
            f"{_fmt(r['high_quality_share'], 100)} | {_fmt(r['reverse_kl'], digits=2)} |"
        )
    for name, path in result["files"].items():
        if name.startswith(("scatter", "curves")):
            lines += ["", f"![{name}]({Path(path).name})"]
    return "\n".join(lines) + "\n"


def _figures(cfg: SettingConfig, results: Sequence[tuple[str, int, BatchedGANResult]], out: Path) -> dict[str, str]:
    from experiments.gan.plots import plot_metric_curves, plot_scatter_grid

    files: dict[str, str] = {}
    first_latent = cfg.cells[0]["latent_dim"]
    for dataset in cfg.datasets:
        sampler = cfg.sampler(dataset)
        snapshots: dict[str, dict[int, Tensor]] = {}
        curves = []
        for data, latent_dim, result in results:
            if data != dataset:
                continue
            by_arm: dict[str, list[int]] = {}
            for i, run in enumerate(result.runs):
                by_arm.setdefault(arm_label(run.method, run.alpha), []).append(i)
            for label, idx in by_arm.items():
                curves.append(
                    {
                        "label": f"{label}, z={latent_dim}",
                        "method": "ERM" if label == "ERM" else "mixup",
                        "steps": result.eval_steps.tolist(),
                        "modes_captured": result.modes_captured[idx],
                        "high_quality_share": result.high_quality_share[idx],
                        "reverse_kl": result.reverse_kl[idx],
                        "loss_steps": list(range(1, result.d_loss.shape[1] + 1)),
                        "d_loss": result.d_loss[idx],
                    }
                )
                if latent_dim == first_latent and result.snapshots and isinstance(sampler, GaussianMixture):
                    snapshots[label] = {s: v[idx[0]] for s, v in result.snapshots.items()}
        if snapshots and isinstance(sampler, GaussianMixture):
            title = f"{cfg.name} {dataset}: seed {cfg.first_seed}, latent {first_latent}, {cfg.architecture}"
            files[f"scatter_{cfg.name}_{dataset}"] = str(
                plot_scatter_grid(snapshots, sampler.modes, out / f"scatter_{cfg.name}_{dataset}.png", title=title)
            )
        num_modes = sampler.num_modes
        files[f"curves_{cfg.name}_{dataset}"] = str(
            plot_metric_curves(curves, out / f"curves_{cfg.name}_{dataset}.png", num_modes=num_modes, title=dataset)
        )
    return files


def run_setting(
    config: SettingConfig | Mapping[str, Any],
    out: str | Path | None = None,
    *,
    plots: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Train every cell of a setting over its seeds; write ``<name>.json``, ``<name>.md`` and figures to ``out``.

    Args:
        config: a :class:`SettingConfig` or a mapping of its fields.
        out: output folder; ``None`` writes nothing.
        plots: write the figures (when ``out`` is given).
        progress: tqdm progress bars.

    Returns:
        A JSON-serialisable dict: ``"config"``, ``"architecture"``, ``"runs"`` (one record per run, with its
        trajectory and verdict), ``"cells"`` (mean ± std over seeds, verdict shares), ``"paired"`` (every mixup
        cell against ERM, paired by seed, with 95 % t-intervals), ``"reference_samplers"``, ``"seconds"``,
        ``"files"`` and ``"markdown"``.

    Example:
        >>> result = run_setting({"name": "tiny", "datasets": ["ring"], "iterations": 2, "seeds": 1,
        ...                       "eval_every": 1, "eval_samples": 64, "batch_size": 8,
        ...                       "model": {"g_hidden": 8, "d_hidden": 8, "g_depth": 1, "d_depth": 1}})
        >>> [(c["method"], c["runs"]) for c in result["cells"]]
        [('ERM', 1), ('shuffle α=0.2', 1)]
    """
    cfg = config if isinstance(config, SettingConfig) else SettingConfig(**dict(config))
    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        classifier = None
        if "digits" in cfg.datasets:
            classifier = StackedDigitClassifier(train_digit_classifier(steps=cfg.digit_classifier_steps))
        seeds = range(cfg.first_seed, cfg.first_seed + cfg.seeds)
        groups: dict[tuple[str, int, str], list[GANRunSpec]] = {}
        for dataset in cfg.datasets:
            for cell in cfg.cells:
                alpha = float(cell["alpha"]) if cell["method"] != "erm" else 0.2
                key = (dataset, int(cell["latent_dim"]), str(cell["method"]))
                groups.setdefault(key, []).extend(GANRunSpec(s, cell["method"], alpha) for s in seeds)
        results: list[tuple[str, int, BatchedGANResult]] = []
        records: list[dict[str, Any]] = []
        reference = _reference_samplers(cfg, classifier)
        for (dataset, latent_dim, method), runs in groups.items():
            engine = cfg.engine_config(dataset, latent_dim, classifier if dataset == "digits" else None)
            result = train_gan_batch(
                runs,
                engine,
                device=cfg.device,
                progress=progress,
                description=f"{cfg.name} {dataset} z={latent_dim} {method}",
            )
            results.append((dataset, latent_dim, result))
            num_modes = 1000 if dataset == "digits" else engine.sampler.num_modes  # type: ignore[union-attr]
            chance = chance_high_quality(reference, cfg, dataset)
            records.extend(_run_records(cfg, dataset, latent_dim, result, num_modes, chance))
        out_dict: dict[str, Any] = {
            "config": dataclasses.asdict(cfg),
            "architecture": cfg.architecture,
            "runs": records,
            "cells": _cells(records),
            "paired": _paired(records),
            "reference_samplers": reference,
            "seconds": 0.0,
            "files": {},
        }
        if classifier is not None:
            out_dict["classifier_held_out_accuracy"] = float(classifier.digit_classifier.held_out_accuracy)
        if out is not None:
            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            if plots:
                out_dict["files"].update(_figures(cfg, results, folder))
            out_dict["seconds"] = time.perf_counter() - start
            md_path, json_path = folder / f"{cfg.name}.md", folder / f"{cfg.name}.json"
            out_dict["files"].update({f"markdown_{cfg.name}": str(md_path), f"json_{cfg.name}": str(json_path)})
            md_path.write_text(markdown(out_dict))
            json_path.write_text(json.dumps({**out_dict, "files": repo_relative_files(out_dict["files"])}, indent=1))
        else:
            out_dict["seconds"] = time.perf_counter() - start
        out_dict["markdown"] = markdown(out_dict)
        return out_dict
    finally:
        torch.set_num_threads(previous_threads)
