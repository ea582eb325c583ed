"""The GAN training-stability study: ERM against mixup discriminators on the ring and grid mixtures.

The claim under test is §3.5 of Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018
(https://arxiv.org/abs/1710.09412): training the discriminator on mixed real and fake samples stabilizes GAN
training. The authors judged it by scatter plots; here every cell (dataset × architecture × learning rate × latent
size × method) is trained over several seeds and scored by the mode-coverage metrics of VEEGAN (Srivastava et al.,
NeurIPS 2017, https://arxiv.org/abs/1705.07761) and PacGAN (Lin et al., NeurIPS 2018,
https://arxiv.org/abs/1712.04086), with a per-run verdict (:func:`~lightning_mixup.gan.metrics.run_verdict`).

All runs that share a tensor shape (architecture, latent size, method) are trained at once by
:func:`~experiments.gan.batched.train_gan_batch`; ERM and mixup runs with the same seed share their initial
weights, data and noise, so the comparison is paired.

Entry point: :func:`run_gan_study`, which returns a dict (also written as JSON) and writes a Markdown table and the
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
    BatchedGANConfig,
    BatchedGANResult,
    GANRunSpec,
    MixtureProblem,
    train_gan_batch,
)
from lightning_mixup.gan.data import grid_modes, ring_modes, sample_mixture
from lightning_mixup.gan.metrics import VERDICTS, VerdictRule, coverage_from_counts, mode_histogram, run_verdict

__all__ = ["ANCHORS", "DATASETS", "GANStudyConfig", "run_gan_study"]

DATASETS: tuple[str, ...] = ("ring", "grid")

#: Published numbers to put beside ours (modes captured, high-quality share in %); 10 trials each in PacGAN.
ANCHORS: tuple[dict[str, Any], ...] = (
    {"source": "PacGAN Table 1", "model": "GAN", "dataset": "ring", "modes": 6.3, "high_quality": 98.2},
    {"source": "PacGAN Table 1", "model": "GAN", "dataset": "grid", "modes": 17.3, "high_quality": 94.8},
    {"source": "PacGAN Table 1", "model": "PacGAN4", "dataset": "ring", "modes": 7.8, "high_quality": 95.9},
    {"source": "PacGAN Table 1", "model": "PacGAN4", "dataset": "grid", "modes": 24.8, "high_quality": 93.6},
    {"source": "VEEGAN Table 1", "model": "GAN", "dataset": "ring", "modes": 1.0, "high_quality": None},
    {"source": "VEEGAN Table 1", "model": "GAN", "dataset": "grid", "modes": 3.3, "high_quality": None},
)

_METHOD_LABELS = {"erm": "ERM", "paper": "mixup", "shuffle": "mixup-shuffle"}


@dataclass
class GANStudyConfig:
    """The sweep and the training schedule of the study; every field is JSON-serialisable.

    Attributes:
        datasets: problems among ``("ring", "grid")``.
        architectures: ``[hidden units, hidden layers]`` pairs, used for both networks.
        learning_rates: Adam learning rates (the same for both networks).
        latent_dims: generator input sizes.
        seeds: the number of seeds per cell (seeds ``first_seed … first_seed + seeds - 1``).
        first_seed: the first seed.
        methods: among ``("erm", "paper", "shuffle")``: plain GAN, and discriminator mixup in the paper's or the
            authors' code's form.
        alpha: mixup's α (Beta(α, α) for ``"paper"``, U(0, α) for ``"shuffle"``); 0.2 as in the paper's Figure 5.
        iterations: generator iterations per run (each after ``d_steps`` discriminator steps).
        batch_size: real samples per discriminator step.
        d_steps: discriminator steps per generator iteration (5 in the mixup authors' code).
        betas: Adam betas. (0.5, 0.999) as in DCGAN (Radford et al. 2016, https://arxiv.org/abs/1511.06434), not
            the mixup authors' "Adam with default parameters" (0.9, 0.999): with β1 = 0.9 and these short schedules
            hardly any run, ERM or mixup, put a fifth of its samples near a mode (measured; see the README text).
        eval_every: evaluation interval in generator iterations.
        eval_samples: generated samples per evaluation.
        snapshot_steps: iterations shown in the scatter plots.
        ring_radius: radius of the ring (2.0 in VEEGAN/PacGAN).
        ring_std: std of the ring's components (0.02 in VEEGAN/PacGAN).
        grid_spacing: spacing of the grid (2.0 in VEEGAN/PacGAN: points at {-4, -2, 0, 2, 4}).
        grid_std: std of the grid's components (0.05 in VEEGAN/PacGAN).
        verdict_window: see :class:`~lightning_mixup.gan.metrics.VerdictRule`.
        verdict_min_high_quality: see :class:`~lightning_mixup.gan.metrics.VerdictRule`.
        verdict_diverged_high_quality: see :class:`~lightning_mixup.gan.metrics.VerdictRule`.
        verdict_max_reverse_kl: see :class:`~lightning_mixup.gan.metrics.VerdictRule`.
        out: output folder (JSON, Markdown, figures); ``None`` writes nothing.
        plots: write the figures.
        progress: show tqdm progress bars.
        num_threads: torch CPU threads during the study (restored afterwards); ``None`` leaves torch's setting.
            One thread is the default: on a small shared machine it is both faster and far steadier than two.
    """

    datasets: list[str] = field(default_factory=lambda: list(DATASETS))
    architectures: list[list[int]] = field(default_factory=lambda: [[64, 3], [32, 2]])
    learning_rates: list[float] = field(default_factory=lambda: [1e-3])
    latent_dims: list[int] = field(default_factory=lambda: [2, 8])
    seeds: int = 5
    first_seed: int = 0
    methods: list[str] = field(default_factory=lambda: ["erm", "paper"])
    alpha: float = 0.2
    iterations: int = 4000
    batch_size: int = 64
    d_steps: int = 5
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    eval_every: int = 200
    eval_samples: int = 2048
    snapshot_steps: list[int] = field(default_factory=lambda: [10, 100, 1000, 2000, 4000])
    ring_radius: float = 2.0
    ring_std: float = 0.02
    grid_spacing: float = 2.0
    grid_std: float = 0.05
    verdict_window: int = 3
    verdict_min_high_quality: float = 0.5
    verdict_diverged_high_quality: float = 0.05
    verdict_max_reverse_kl: float = 0.1
    out: str | None = "experiments/results/gan"
    plots: bool = True
    progress: bool = True
    num_threads: int | None = 1

    @classmethod
    def quick(cls, **overrides: Any) -> GANStudyConfig:
        """A smoke-test sweep of about a minute: one architecture, learning rate and latent size, 3 seeds."""
        base: dict[str, Any] = {
            "architectures": [[64, 3]],
            "learning_rates": [1e-3],
            "latent_dims": [2],
            "seeds": 3,
            "iterations": 1500,
            "eval_every": 100,
            "snapshot_steps": [10, 100, 500, 1500],
        }
        base.update(overrides)
        return cls(**base)

    def __post_init__(self) -> None:
        for name in ("datasets", "methods"):
            allowed = DATASETS if name == "datasets" else MIX_METHODS
            values = getattr(self, name)
            if not values or any(v not in allowed for v in values):
                raise ValueError(
                    f"Expected argument `{name}` to be a non-empty list from {allowed}, but got {values!r}."
                )
        if not self.architectures or any(
            len(a) != 2 or not all(isinstance(v, int) and v >= 1 for v in a) for a in self.architectures
        ):
            raise ValueError(
                "Expected argument `architectures` to be a non-empty list of [hidden units, hidden layers] positive "
                f"int pairs, but got {self.architectures!r}."
            )
        if not self.learning_rates or any(not isinstance(v, (int, float)) or v <= 0 for v in self.learning_rates):
            raise ValueError(
                f"Expected argument `learning_rates` to be positive floats, but got {self.learning_rates!r}."
            )
        if not self.latent_dims or any(not isinstance(v, int) or v < 1 for v in self.latent_dims):
            raise ValueError(f"Expected argument `latent_dims` to be positive ints, but got {self.latent_dims!r}.")
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 1:
            raise ValueError(f"Expected argument `seeds` to be a positive int, but got {self.seeds!r}.")
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            raise ValueError(
                f"Expected argument `num_threads` to be a positive int or None, but got {self.num_threads!r}."
            )
        self.snapshot_steps = sorted({s for s in self.snapshot_steps if 0 <= s <= self.iterations})
        self.batched_config()  # validates the training schedule
        self.verdict_rule()

    def batched_config(self, hidden: int = 1, depth: int = 1, latent_dim: int = 1) -> BatchedGANConfig:
        """The shared configuration of one batch of runs."""
        return BatchedGANConfig(
            latent_dim=latent_dim,
            hidden=hidden,
            depth=depth,
            batch_size=self.batch_size,
            d_steps=self.d_steps,
            iterations=self.iterations,
            betas=(float(self.betas[0]), float(self.betas[1])),
            eval_every=self.eval_every,
            eval_samples=self.eval_samples,
            snapshot_steps=tuple(self.snapshot_steps),
        )

    def verdict_rule(self) -> VerdictRule:
        """The verdict thresholds."""
        return VerdictRule(
            window=self.verdict_window,
            min_high_quality=self.verdict_min_high_quality,
            diverged_high_quality=self.verdict_diverged_high_quality,
            max_reverse_kl=self.verdict_max_reverse_kl,
        )

    def problem(self, name: str) -> MixtureProblem:
        """The mixture called ``name``."""
        if name == "ring":
            return MixtureProblem("ring", ring_modes(8, self.ring_radius), self.ring_std)
        return MixtureProblem("grid", grid_modes(5, self.grid_spacing), self.grid_std)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _reference_samplers(cfg: GANStudyConfig, draws: int = 5) -> list[dict[str, Any]]:
    """The metrics of two reference samplers, computed like a run's final evaluation (mean ± std over draws).

    - ``"true distribution"``: the mixture itself (the best a generator can score).
    - ``"uniform smear"``: uniform on the square ``[-a, a]²``, ``a = 1.25 · max |mode coordinate|`` (the square the
      modes sit in plus a margin): a generator that has learnt only where the data are. Its mode count shows how
      many modes the VEEGAN/PacGAN rule credits to a blurry generator by chance.
    """
    out = []
    for dataset in cfg.datasets:
        problem = cfg.problem(dataset)
        extent = 1.25 * float(problem.modes.abs().max())
        for name in ("true distribution", "uniform smear"):
            values: dict[str, list[float]] = {"modes_captured": [], "high_quality_share": [], "reverse_kl": []}
            for draw in range(draws):
                g = torch.Generator().manual_seed(draw)
                if name == "true distribution":
                    samples = sample_mixture(problem.modes, problem.std, cfg.eval_samples, generator=g)
                else:
                    samples = (torch.rand(cfg.eval_samples, 2, generator=g) * 2 - 1) * extent
                counts, total = mode_histogram(samples, problem.modes, problem.std)
                for key, value in coverage_from_counts(counts, total).items():
                    values[key].append(float(value))
            entry: dict[str, Any] = {"dataset": dataset, "sampler": name, "num_modes": problem.num_modes}
            if name == "uniform smear":
                entry["extent"] = extent
            for key, vals in values.items():
                mean, std = _mean_std(vals)
                entry[key] = {"mean": mean, "std": std}
            out.append(entry)
    return out


def _run_records(result: BatchedGANResult, group: Mapping[str, Any], rule: VerdictRule) -> list[dict[str, Any]]:
    half = result.d_loss.shape[1] // 2
    records = []
    for i, run in enumerate(result.runs):
        modes = result.modes_captured[i].tolist()
        hq = result.high_quality_share[i].tolist()
        kl = result.reverse_kl[i].tolist()
        finite = bool(result.finite[i])
        verdict = run_verdict(modes, hq, kl, num_modes=run.problem.num_modes, finite=finite, rule=rule)
        tail = slice(half, None)
        records.append(
            {
                "dataset": run.problem.name,
                "num_modes": run.problem.num_modes,
                **group,
                "lr": run.lr_d,
                "method": run.method,
                "seed": run.seed,
                "modes_captured": modes[-1],
                "high_quality_share": hq[-1],
                "reverse_kl": kl[-1],
                "verdict": verdict,
                "finite": finite,
                "d_loss_var": _finite_or_none(float(result.d_loss[i, tail].double().var())),
                "g_loss_var": _finite_or_none(float(result.g_loss[i, tail].double().var())),
                "d_grad_norm_mean": _finite_or_none(float(result.d_grad_norm[i, tail].double().mean())),
                "g_grad_norm_mean": _finite_or_none(float(result.g_grad_norm[i, tail].double().mean())),
                "g_grad_norm_max": _finite_or_none(float(result.g_grad_norm[i].double().max())),
                "trajectory": {
                    "steps": result.eval_steps.tolist(),
                    "modes_captured": modes,
                    "high_quality_share": hq,
                    "reverse_kl": kl,
                },
            }
        )
    return records


_CELL_KEYS = ("dataset", "hidden", "depth", "lr", "latent_dim", "method")


def _cells(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in _CELL_KEYS), []).append(run)
    cells = []
    for key, members in groups.items():
        cell: dict[str, Any] = dict(zip(_CELL_KEYS, key, strict=True))
        cell["num_modes"] = members[0]["num_modes"]
        cell["runs"] = len(members)
        for metric in ("modes_captured", "high_quality_share", "reverse_kl"):
            mean, std = _mean_std([m[metric] for m in members])
            cell[metric] = {"mean": mean, "std": std}
        for verdict in VERDICTS:
            cell[verdict] = sum(m["verdict"] == verdict for m in members) / len(members)
        for metric in ("d_loss_var", "g_loss_var", "d_grad_norm_mean", "g_grad_norm_mean"):
            values = [m[metric] for m in members if m[metric] is not None]
            cell[metric] = _mean_std(values)[0] if values else None
        cells.append(cell)
    return cells


def _paired(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per cell and mixup method: how often mixup beat, tied or lost to ERM on the same seed (modes captured)."""
    erm = {tuple(r[k] for k in (*_CELL_KEYS[:-1], "seed")): r for r in runs if r["method"] == "erm"}
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in runs:
        if r["method"] == "erm":
            continue
        base = erm.get(tuple(r[k] for k in (*_CELL_KEYS[:-1], "seed")))
        if base is None:
            continue
        key = tuple(r[k] for k in _CELL_KEYS)
        entry = out.setdefault(key, {**dict(zip(_CELL_KEYS, key, strict=True)), "better": 0, "tie": 0, "worse": 0})
        diff = r["modes_captured"] - base["modes_captured"]
        entry["better" if diff > 0 else "worse" if diff < 0 else "tie"] += 1
    return list(out.values())


def _fmt(stat: Mapping[str, float], scale: float = 1.0, digits: int = 1) -> str:
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def _markdown(result: Mapping[str, Any]) -> str:
    cfg = result["config"]
    lines = [
        "# GAN training stability: ERM vs mixup discriminators",
        "",
        f"{cfg['seeds']} seeds per cell, {cfg['iterations']} generator iterations ({cfg['d_steps']} discriminator "
        f"steps each), batch {cfg['batch_size']}, Adam betas {tuple(cfg['betas'])}, mixup α = {cfg['alpha']}. "
        f"Final evaluation on {cfg['eval_samples']} samples. Ring: 8 modes, radius {cfg['ring_radius']}, std "
        f"{cfg['ring_std']}; grid: 25 modes, spacing {cfg['grid_spacing']}, std {cfg['grid_std']}. "
        f"Wall time {result['seconds']:.0f} s.",
        "",
        "Modes: modes captured (a mode is captured if it is the nearest mode of at least one high-quality sample); "
        "HQ: share of samples within 3 std of their nearest mode; reverse KL: KL(mode histogram of HQ samples ‖ "
        "uniform), nats. Mean ± std over seeds. Verdicts, over the last "
        f"{cfg['verdict_window']} evaluations: diverged (non-finite, or mean HQ < "
        f"{cfg['verdict_diverged_high_quality']:.0%}), converged (in each: all modes captured, reverse KL ≤ "
        f"{cfg['verdict_max_reverse_kl']} and HQ ≥ {cfg['verdict_min_high_quality']:.0%}), mode-collapsed (in some: "
        f"modes missing or reverse KL > {cfg['verdict_max_reverse_kl']}), unconverged (modes covered evenly but HQ "
        "too low). Loss variance, gradient norm: over the second half of training.",
        "",
        "| dataset | hidden×depth | lr | latent | method | modes | HQ % | reverse KL | converged | collapsed "
        "| unconverged | diverged | var(D loss) | var(G loss) | ‖∇G‖ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def num(value: float | None, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}g}"

    for c in result["cells"]:
        lines.append(
            f"| {c['dataset']} | {c['hidden']}×{c['depth']} | {c['lr']:g} | {c['latent_dim']} | "
            f"{_METHOD_LABELS[c['method']]} | {_fmt(c['modes_captured'])} / {c['num_modes']} | "
            f"{_fmt(c['high_quality_share'], 100)} | {_fmt(c['reverse_kl'], digits=2)} | "
            f"{c['converged'] * 100:.0f} % | {c['mode-collapsed'] * 100:.0f} % | {c['unconverged'] * 100:.0f} % | "
            f"{c['diverged'] * 100:.0f} % | "
            f"{num(c['d_loss_var'])} | {num(c['g_loss_var'])} | {num(c['g_grad_norm_mean'])} |"
        )
    lines += [
        "",
        "## Overall, per dataset and method",
        "",
        "| dataset | method | runs | modes | HQ % | reverse KL | converged | collapsed | unconverged | diverged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["summary"]:
        lines.append(
            f"| {s['dataset']} | {_METHOD_LABELS[s['method']]} | {s['runs']} | {_fmt(s['modes_captured'])} / "
            f"{s['num_modes']} | {_fmt(s['high_quality_share'], 100)} | {_fmt(s['reverse_kl'], digits=2)} | "
            + " | ".join(f"{s[v] * 100:.0f} %" for v in VERDICTS)
            + " |"
        )
    lines += [
        "",
        "## Reference samplers, scored like a run (same number of samples)",
        "",
        "| dataset | sampler | modes | HQ % | reverse KL |",
        "|---|---|---|---|---|",
    ]
    for r in result["reference_samplers"]:
        name = r["sampler"] + (f" on [-{r['extent']:g}, {r['extent']:g}]²" if "extent" in r else "")
        lines.append(
            f"| {r['dataset']} | {name} | {_fmt(r['modes_captured'])} / {r['num_modes']} | "
            f"{_fmt(r['high_quality_share'], 100)} | {_fmt(r['reverse_kl'], digits=2)} |"
        )
    if result["paired"]:
        lines += [
            "",
            "## Paired by seed: mixup vs ERM, final modes captured",
            "",
            "| dataset | hidden×depth | lr | latent | method | better | tie | worse |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p in result["paired"]:
            lines.append(
                f"| {p['dataset']} | {p['hidden']}×{p['depth']} | {p['lr']:g} | {p['latent_dim']} | "
                f"{_METHOD_LABELS[p['method']]} | {p['better']} | {p['tie']} | {p['worse']} |"
            )
    lines += [
        "",
        "## Published anchors (other settings: longer training, their architectures)",
        "",
        "| source | model | dataset | modes | HQ % |",
        "|---|---|---|---|---|",
    ]
    for a in ANCHORS:
        hq = "n/a" if a["high_quality"] is None else f"{a['high_quality']:.1f}"
        lines.append(f"| {a['source']} | {a['model']} | {a['dataset']} | {a['modes']:.1f} | {hq} |")
    lines += [
        "",
        "PacGAN Table 1: Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086 (10 trials). VEEGAN Table 1: "
        "Srivastava et al., NeurIPS 2017, https://arxiv.org/abs/1705.07761. Their GANs train longer and with other "
        "architectures, so the anchors locate our numbers; they are not a like-for-like comparison.",
        "",
    ]
    return "\n".join(lines)


def _summary(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        for method in dict.fromkeys(r["method"] for r in runs):
            members = [r for r in runs if r["dataset"] == dataset and r["method"] == method]
            if not members:
                continue
            entry: dict[str, Any] = {"dataset": dataset, "method": method, "runs": len(members)}
            entry["num_modes"] = members[0]["num_modes"]
            for metric in ("modes_captured", "high_quality_share", "reverse_kl"):
                mean, std = _mean_std([m[metric] for m in members])
                entry[metric] = {"mean": mean, "std": std}
            for verdict in VERDICTS:
                entry[verdict] = sum(m["verdict"] == verdict for m in members) / len(members)
            out.append(entry)
    return out


def _block_mean(values: Tensor, blocks: int) -> tuple[list[int], Tensor]:
    """Average ``(S, T)`` values over about ``blocks`` consecutive blocks of iterations."""
    t = values.shape[1]
    size = max(1, t // blocks)
    usable = (t // size) * size
    steps = [size * (k + 1) for k in range(usable // size)]
    return steps, values[:, :usable].reshape(values.shape[0], -1, size).mean(-1)


def _figures(
    cfg: GANStudyConfig, results: Sequence[tuple[Mapping[str, Any], BatchedGANResult]], out: Path
) -> dict[str, str]:
    from experiments.gan.plots import plot_metric_curves, plot_scatter_grid

    files: dict[str, str] = {}
    first_arch, first_latent, first_lr = cfg.architectures[0], cfg.latent_dims[0], cfg.learning_rates[0]
    for dataset in cfg.datasets:
        problem = cfg.problem(dataset)
        snapshots: dict[str, dict[int, Tensor]] = {}
        curves = []
        for group, result in results:
            idx_by_cell: dict[tuple[float, str], list[int]] = {}
            for i, run in enumerate(result.runs):
                if run.problem.name == dataset:
                    idx_by_cell.setdefault((run.lr_d, run.method), []).append(i)
            for (lr, method), idx in idx_by_cell.items():
                label = _METHOD_LABELS[method]
                cell = f"{group['hidden']}×{group['depth']}, z={group['latent_dim']}, lr={lr:g}"
                steps, d_loss = _block_mean(result.d_loss[idx], 50)
                curves.append(
                    {
                        "label": f"{label}, {cell}",
                        "method": label,
                        "steps": result.eval_steps.tolist(),
                        "modes_captured": result.modes_captured[idx],
                        "high_quality_share": result.high_quality_share[idx],
                        "reverse_kl": result.reverse_kl[idx],
                        "loss_steps": steps,
                        "d_loss": d_loss,
                    }
                )
                is_first = [group["hidden"], group["depth"]] == list(first_arch) and group["latent_dim"] == first_latent
                if is_first and lr == first_lr and result.snapshots:
                    snapshots[label] = {s: v[idx[0]] for s, v in result.snapshots.items()}
        if snapshots:
            title = (
                f"{dataset}: seed {cfg.first_seed}, {first_arch[0]}×{first_arch[1]} MLPs, latent {first_latent}, "
                f"lr {first_lr:g}, α={cfg.alpha}"
            )
            files[f"scatter_{dataset}"] = str(
                plot_scatter_grid(snapshots, problem.modes, out / f"scatter_{dataset}.png", title=title)
            )
        files[f"curves_{dataset}"] = str(
            plot_metric_curves(curves, out / f"curves_{dataset}.png", num_modes=problem.num_modes, title=dataset)
        )
    return files


def run_gan_study(config: GANStudyConfig | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run the ERM-vs-mixup GAN stability sweep; write JSON, Markdown and figures to ``config.out``.

    Args:
        config: a :class:`GANStudyConfig`, or a mapping of its fields, where ``{"quick": True, ...}`` starts from
            :meth:`GANStudyConfig.quick`; ``None`` is the default sweep.

    Returns:
        A JSON-serialisable dict: ``"config"``, ``"runs"`` (one record per run, with its trajectory and verdict),
        ``"cells"`` (mean ± std over seeds, verdict shares), ``"summary"`` (per dataset and method),
        ``"paired"`` (mixup vs ERM on the same seed), ``"reference_samplers"`` (the true distribution and a uniform
        smear, scored like a run), ``"anchors"``, ``"seconds"``, ``"files"`` (paths written)
        and ``"markdown"`` (the table's text, not part of the JSON file).

    Raises:
        ValueError: for an invalid configuration.
        TypeError: if ``config`` is neither a config nor a mapping.

    Example:
        >>> result = run_gan_study({"quick": True, "datasets": ["ring"], "iterations": 4, "seeds": 1,
        ...                         "eval_every": 2, "eval_samples": 64, "out": None, "progress": False})
        >>> [(c["method"], c["runs"]) for c in result["cells"]]
        [('erm', 1), ('paper', 1)]
    """
    if config is None:
        cfg = GANStudyConfig()
    elif isinstance(config, GANStudyConfig):
        cfg = config
    elif isinstance(config, Mapping):
        options = dict(config)
        quick = bool(options.pop("quick", False))
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(GANStudyConfig)})
        if unknown:
            raise ValueError(f"Expected GANStudyConfig fields, but got unknown keys {unknown}.")
        cfg = GANStudyConfig.quick(**options) if quick else GANStudyConfig(**options)
    else:
        raise TypeError(
            f"Expected `config` to be a GANStudyConfig, a mapping or None, but got {type(config).__name__}."
        )

    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        groups = []
        for hidden, depth in cfg.architectures:
            for latent_dim in cfg.latent_dims:
                for method in cfg.methods:
                    runs = [
                        GANRunSpec(cfg.problem(d), seed, method, cfg.alpha, lr, lr)  # type: ignore[arg-type]
                        for d in cfg.datasets
                        for lr in cfg.learning_rates
                        for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds)
                    ]
                    groups.append(({"hidden": hidden, "depth": depth, "latent_dim": latent_dim}, runs))
        bar = None
        if cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(groups) * cfg.iterations, desc="GAN study", unit="it")
        results: list[tuple[dict[str, Any], BatchedGANResult]] = []
        try:
            for group, runs in groups:
                if bar is not None:
                    bar.set_postfix_str(
                        f"{group['hidden']}×{group['depth']} z={group['latent_dim']} {runs[0].method} "
                        f"({len(runs)} runs)"
                    )
                batch_cfg = cfg.batched_config(group["hidden"], group["depth"], group["latent_dim"])
                results.append((group, train_gan_batch(runs, batch_cfg, progress=bar.update if bar else False)))
        finally:
            if bar is not None:
                bar.close()
        rule = cfg.verdict_rule()
        run_records = [rec for group, result in results for rec in _run_records(result, group, rule)]
        result_dict: dict[str, Any] = {
            "config": dataclasses.asdict(cfg),
            "runs": run_records,
            "cells": _cells(run_records),
            "summary": _summary(run_records),
            "paired": _paired(run_records),
            "reference_samplers": _reference_samplers(cfg),
            "anchors": [dict(a) for a in ANCHORS],
            "seconds": 0.0,
            "files": {},
        }
        if cfg.out is not None:
            out = Path(cfg.out)
            out.mkdir(parents=True, exist_ok=True)
            if cfg.plots:
                result_dict["files"].update(_figures(cfg, results, out))
            result_dict["seconds"] = time.perf_counter() - start
            md_path, json_path = out / "gan_study.md", out / "gan_study.json"
            result_dict["files"].update({"markdown": str(md_path), "json": str(json_path)})
            md_path.write_text(_markdown(result_dict))
            json_path.write_text(json.dumps(result_dict, indent=1))
        else:
            result_dict["seconds"] = time.perf_counter() - start
        result_dict["markdown"] = _markdown(result_dict)
        return result_dict
    finally:
        torch.set_num_threads(previous_threads)
