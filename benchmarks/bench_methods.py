"""Step cost of every method of ``MixupCallback(method=...)``, side by side in one run (issue #25, item 4).

Targets: RegMixup's step ≤ 2.1× an ERM step (it trains on ``2B`` rows: 2× is the floor); every other method's step
≤ 1.05× plain mixup's; C-Mixup's pair sampling O(B²) at most, measured at B = 1024. MIT, too, trains on ``2B`` rows
(two mixtures of the batch, by its definition), so its target here is RegMixup's: ≤ 2.1× plain mixup. The arm
"ERM on 2B rows" (the unchanged step on ``cat([x, x])``) measures that floor on this machine: a CPU step on twice
the rows can cost more than twice as much.

What is timed, on the code users run (a real ``Trainer`` with ``MixupCallback``; MIT through ``MixupMixin.mit_loss``):

- *classification*: the narrow CIFAR ResNet-8 of ``bench_step`` on 3×32×32, batch 64, SGD, the unchanged
  ``F.cross_entropy`` step; arms ERM (no callback), ``mixup``, ``regmixup``, ``kernel_warping`` (λ per sample, input
  distances) and ``mixup_inference_training`` (the mixin's step);
- *regression*: an MLP on 64 features, batch 256, the unchanged ``F.mse_loss`` step; arms ERM, ``mixup``,
  ``cmixup``;
- *C-Mixup's draw alone* (``sample_cmixup``) at B = 256, 512, 1024, 2048 with 1-D labels: if the cost grows as B²
  the time ratio between successive sizes is 4.

Each fit's median step is the process's CPU time (one torch thread), so other jobs on the machine do not move it;
arms run as short fits in a shuffled order per repeat, ratios are taken within a repeat and their median reported
with quartiles (an A/A ERM arm gives the noise).

Run: ``python -m benchmarks.bench_methods [--quick]`` (about 7 minutes: 9 repeats of 20-step fits; writes
``results/methods.{json,md}``).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.bench_step import RESULTS, ResNet8, StepTimer, _commit, _trainer, ratios, shuffled_fits
from benchmarks.common import write_results
from lightning_mixup import MixupCallback, MixupMixin
from lightning_mixup.functional.cmixup import sample_cmixup

#: (arm, reference arm, the target ratio)
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("classification", "regmixup", "ERM (no callback)", 2.1),
    ("classification", "mixup_inference_training", "mixup", 2.1),
    ("classification", "kernel_warping", "mixup", 1.05),
    ("regression", "cmixup", "mixup", 1.05),
)


class MitResNet8(MixupMixin, ResNet8):
    """The same network whose step is Mixup Inference in Training through the mixin."""

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        x, y = batch
        return self.mit_loss(x, y)


class DoubledResNet8(ResNet8):
    """The floor of a method that trains on ``2B`` rows: the unchanged step on the batch twice, no mixing."""

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        x, y = batch
        return F.cross_entropy(self(torch.cat([x, x])), torch.cat([y, y]))


class MLPRegressor(pl.LightningModule):
    """A 64-256-256-1 MLP with the unchanged ``F.mse_loss`` step and Adam."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.net(x).squeeze(-1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        x, y = batch
        return F.mse_loss(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:  # noqa: D102
        return torch.optim.Adam(self.parameters(), lr=1e-3)


Arm = tuple[Callable[[], pl.LightningModule], Callable[[], list[pl.Callback]]]


def _images(steps: int, batch_size: int = 64) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size * steps, 3, 32, 32, generator=g)
    return DataLoader(TensorDataset(x, torch.randint(10, (len(x),), generator=g)), batch_size=batch_size)


def _table(steps: int, batch_size: int = 256) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size * steps, 64, generator=g)
    y = x[:, :8].sum(1) + 0.1 * torch.randn(len(x), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def classification_arms() -> dict[str, Arm]:
    def callback(**kwargs: Any) -> Callable[[], list[pl.Callback]]:
        return lambda: [MixupCallback(seed=0, **kwargs)]

    return {
        "ERM (no callback)": (ResNet8, lambda: []),
        "ERM (A/A control)": (ResNet8, lambda: []),
        "ERM on 2B rows": (DoubledResNet8, lambda: []),
        "mixup": (ResNet8, callback()),
        "regmixup": (ResNet8, callback(method="regmixup")),
        "kernel_warping": (ResNet8, callback(method="kernel_warping", mode="elem")),
        "mixup_inference_training": (MitResNet8, callback(method="mixup_inference_training")),
    }


def regression_arms() -> dict[str, Arm]:
    return {
        "ERM (no callback)": (MLPRegressor, lambda: []),
        "ERM (A/A control)": (MLPRegressor, lambda: []),
        "mixup": (MLPRegressor, lambda: [MixupCallback(seed=0)]),
        "cmixup": (MLPRegressor, lambda: [MixupCallback(method="cmixup", seed=0)]),
    }


def interleaved_fits(arms: dict[str, Arm], data: DataLoader, repeats: int, seed: int) -> dict[str, Any]:
    """Short fits of each arm in a shuffled order per repeat; per repeat, ratios to ERM and to mixup."""

    def fit(name: str, timer: StepTimer) -> None:
        make_module, make_callbacks = arms[name]
        _trainer([*make_callbacks(), timer]).fit(make_module(), data)

    per_fit, _ = shuffled_fits(list(arms), fit, repeats, random.Random(seed))
    methods = [k for k in per_fit if k != "mixup" and not k.startswith("ERM")]
    two_b = [k for k in ("regmixup", "mixup_inference_training") if k in per_fit]
    return {
        "repeats": repeats,
        "steps_per_fit": len(data),
        "median_step_ms": {k: round(statistics.median(v) * 1e3, 3) for k, v in per_fit.items()},
        "vs_erm": ratios(per_fit, "ERM (no callback)"),
        "vs_mixup": ratios(per_fit, "mixup", methods),
        "vs_2b_floor": ratios(per_fit, "ERM on 2B rows", two_b) if "ERM on 2B rows" in per_fit else {},
    }


def cmixup_sampling(sizes: list[int], rounds: int) -> dict[str, Any]:
    """CPU time of C-Mixup's draw alone per batch size, and the growth between successive sizes."""
    seconds: dict[int, float] = {}
    for size in sizes:
        y = torch.randn(size, generator=torch.Generator().manual_seed(size))
        g = torch.Generator()
        times = []
        for r in range(rounds + 2):
            g.manual_seed(r)
            start = time.process_time()
            sample_cmixup(y, generator=g)
            times.append(time.process_time() - start)
        seconds[size] = statistics.median(times[2:])
    growth = {f"{b}/{a}": round(seconds[b] / seconds[a], 2) for a, b in itertools.pairwise(sizes)}
    return {"median_ms": {str(k): round(v * 1e3, 3) for k, v in seconds.items()}, "growth": growth}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer steps and repeats, no file written")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats, steps = (1, 4) if args.quick else (9, 20)
    result = {
        "commit": _commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "classification": interleaved_fits(classification_arms(), _images(steps), repeats, seed=1),
        "regression": interleaved_fits(regression_arms(), _table(3 * steps), repeats, seed=2),
        "cmixup_sampling": cmixup_sampling([256, 512, 1024, 2048], rounds=2 if args.quick else 10),
    }
    if not args.quick:
        write_results(RESULTS, "methods", result, to_markdown)
    return result


def _fmt(summary: dict[str, Any]) -> str:
    low, high = summary["quartiles"]
    return f"{summary['ratio']:.3f}× ({low:.3f}–{high:.3f})"


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Step cost of each method (benchmarks/bench_methods.py, issue #25)",
        "",
        f"Commit `{result['commit']}`, torch {result['torch']}, {result['threads']} thread; the process's CPU time per "
        "step (median of each fit), fits interleaved in a shuffled order per repeat; ratio = median over repeats "
        "(quartiles). Targets: RegMixup ≤ 2.1× ERM (2× is the floor: 2B rows); MIT ≤ 2.1× mixup (it trains on 2B rows "
        'too); every other method ≤ 1.05× mixup. "ERM on 2B rows" is the unchanged step on `cat([x, x])`: the floor '
        "of a 2B-row method on this machine.",
        "",
        "| target | measured (quartiles) | met |",
        "|---|---|---|",
    ]
    for task, arm, reference, target in TARGETS:
        summary = result[task]["vs_erm" if reference.startswith("ERM") else "vs_mixup"][arm]
        lines.append(
            f"| {arm} ≤ {target}× {reference} | {_fmt(summary)} | {'yes' if summary['ratio'] <= target else 'no'} |"
        )
    for arm, summary in result["classification"].get("vs_2b_floor", {}).items():
        lines.append(f"| {arm} vs ERM on 2B rows (the floor; not a target) | {_fmt(summary)} | |")
    for task in ("classification", "regression"):
        part = result[task]
        lines += [
            "",
            f"## {task} ({part['repeats']} repeats of {part['steps_per_fit']}-step fits)",
            "",
            "| arm | ms/step | × ERM | × mixup |",
            "|---|---:|---:|---:|",
        ]
        for arm, ms in part["median_step_ms"].items():
            vs_erm = _fmt(part["vs_erm"][arm]) if arm in part["vs_erm"] else "1"
            vs_mixup = _fmt(part["vs_mixup"][arm]) if arm in part["vs_mixup"] else ("1" if arm == "mixup" else "")
            lines.append(f"| {arm} | {ms} | {vs_erm} | {vs_mixup} |")
    sampling = result["cmixup_sampling"]
    lines += [
        "",
        "## C-Mixup's pair sampling alone (`sample_cmixup`, 1-D labels)",
        "",
        "| B | ms |",
        "|---:|---:|",
        *(f"| {b} | {ms} |" for b, ms in sampling["median_ms"].items()),
        "",
        "Growth between successive sizes (4 = quadratic): "
        + ", ".join(f"{k}: {v}×" for k, v in sampling["growth"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
