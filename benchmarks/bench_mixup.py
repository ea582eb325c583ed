"""Cost of mixup: the mixing op against a plain copy, and a training step with and without MixupCallback.

Every ratio is measured side by side in one run: the variants are interleaved round by round and each is
summarised by its median, so drifting machine load hits all of them alike.

    python -m benchmarks.bench_mixup            # full run, writes benchmarks/results/mixup.{json,md}
    python -m benchmarks.bench_mixup --quick    # a few seconds, for a smoke test

Targets (issue #3): the op on a 64×3×224×224 float32 batch ≤ 2× a ``copy_`` of it on the CPU; a training step
with the callback ≤ 1.02× the same step without it.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from benchmarks.common import interleaved_medians, write_results
from lightning_mixup import MixupCallback
from lightning_mixup.functional import apply_mix, sample_mixup

RESULTS = Path(__file__).parent / "results"


def bench_op(shape: tuple[int, ...], rounds: int) -> dict[str, object]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    out = torch.empty_like(x)
    scratch = x.clone()
    params = sample_mixup(shape[0], alpha=0.2, generator=g)
    lam = float(params.lam[0])
    perm = params.index

    def timm_inplace() -> None:
        # timm's Mixup._mix_batch: x.mul_(lam).add_(x.flip(0).mul_(1 - lam)) on the batch itself; the batch is
        # restored afterwards, outside this function's timing, by `restore` below
        scratch.mul_(lam).add_(scratch.flip(0).mul_(1.0 - lam))

    fns: dict[str, Callable[[], object]] = {
        "copy_": lambda: out.copy_(x),
        "apply_mix(out=buffer)": lambda: apply_mix(x, params, out=out),
        "apply_mix (allocating)": lambda: apply_mix(x, params),
        "naive x*lam + x[perm]*(1-lam)": lambda: x * lam + x[perm] * (1.0 - lam),
    }
    medians = interleaved_medians(fns, rounds, f"op {shape}")
    timm_times = []
    for _ in range(rounds):
        scratch.copy_(x)
        start = time.perf_counter()
        timm_inplace()
        timm_times.append(time.perf_counter() - start)
    medians["timm in-place mul_/add_(flip)"] = statistics.median(timm_times)
    base = medians["copy_"]
    return {
        "shape": list(shape),
        "median_ms": {k: round(v * 1e3, 3) for k, v in medians.items()},
        "ratio_to_copy": {k: round(v / base, 3) for k, v in medians.items()},
    }


class SmallCNN(pl.LightningModule):
    """A small CIFAR-sized CNN with the plain cross-entropy step."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(128, 10),
        )

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:  # noqa: D102
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


class StepTimer(pl.Callback):
    """Wall time between consecutive training-batch ends: loading, transfer, mixing, forward, backward, step."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.intervals: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:  # noqa: D102
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append(now - self.last)
        self.last = now


def added_work_us(batch_size: int, rounds: int = 2000) -> dict[str, float]:
    """The callback's own work per step, timed in isolation, in microseconds.

    Mixing a batch, and the extra cost of the mixed cross-entropy (forward and backward) over the plain one.
    """
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(batch_size, 3, 32, 32, generator=g), torch.randint(10, (batch_size,), generator=g)
    callback = MixupCallback(alpha=0.2, seed=0)
    callback._generator = torch.Generator()  # what setup() does
    logits = torch.randn(batch_size, 10, generator=g, requires_grad=True)

    def mix_step() -> None:
        callback._reseed(0)
        callback.mix(nn.Identity(), x, y, epoch=0, step=0)

    _, labels = callback.mix(nn.Identity(), x, y, epoch=0, step=0)
    medians = interleaved_medians(
        {
            "mix": mix_step,
            "ce_plain": lambda: F.cross_entropy(logits, y).backward(),
            "ce_mixed": lambda: F.cross_entropy(logits, labels).backward(),
        },
        rounds,
        "added work",
    )
    mix, extra_ce = medians["mix"] * 1e6, (medians["ce_mixed"] - medians["ce_plain"]) * 1e6
    return {
        "mix_batch_us": round(mix, 1),
        "extra_cross_entropy_us": round(extra_ce, 1),
        "total_us": round(mix + extra_ce, 1),
    }


def bench_step(batch_size: int, steps: int, repeats: int) -> dict[str, object]:
    g = torch.Generator().manual_seed(0)
    n = batch_size * steps
    data = TensorDataset(torch.rand(n, 3, 32, 32, generator=g), torch.randint(10, (n,), generator=g))
    # an A/A control measures the noise floor of the comparison on this machine
    variants = {
        "without callback": lambda: [],
        "without callback (A/A control)": lambda: [],
        "with MixupCallback": lambda: [MixupCallback(alpha=0.2)],
    }
    intervals: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for repeat in tqdm(range(repeats), desc="training steps", leave=False):
        for name in names if repeat % 2 == 0 else names[::-1]:  # ABBA order: no variant always runs first
            timer = StepTimer()
            trainer = pl.Trainer(
                accelerator="cpu",
                max_epochs=1,
                logger=False,
                enable_progress_bar=False,
                enable_checkpointing=False,
                enable_model_summary=False,
                callbacks=[timer, *variants[name]()],
            )
            pl.seed_everything(0, verbose=False)
            trainer.fit(SmallCNN(), DataLoader(data, batch_size=batch_size))
            intervals[name].extend(timer.intervals[2:])  # skip warm-up steps
    medians = {name: statistics.median(ts) for name, ts in intervals.items()}
    base = medians["without callback"]
    work = added_work_us(batch_size)
    return {
        "model": "3-conv CNN (32-64-128 channels) on 3×32×32, SGD",
        "batch_size": batch_size,
        "steps_measured": {k: len(v) for k, v in intervals.items()},
        "median_step_ms": {k: round(v * 1e3, 3) for k, v in medians.items()},
        "ratio": round(medians["with MixupCallback"] / base, 4),
        "noise_floor_ratio": round(medians["without callback (A/A control)"] / base, 4),
        "added_work": work,
        "added_work_ratio": round(1 + work["total_us"] * 1e-6 / base, 4),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write mixup.json and mixup.md")
    args = parser.parse_args(argv)
    op_shape = (8, 3, 64, 64) if args.quick else (64, 3, 224, 224)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "op": bench_op(op_shape, rounds=5 if args.quick else 40),
        "training_step": bench_step(64, steps=8 if args.quick else 60, repeats=2 if args.quick else 10),
    }
    write_results(args.out, "mixup", result, to_markdown)
    return result


def to_markdown(result: dict) -> str:
    op, step = result["op"], result["training_step"]
    lines = [
        "# Cost of mixup (benchmarks/bench_mixup.py)",
        "",
        f"Machine: {result['machine']}; torch {result['torch']}. Medians of interleaved rounds.",
        "",
        f"## Mixing op on a {'×'.join(map(str, op['shape']))} float32 batch (target ≤ 2× copy_)",
        "",
        "| variant | median ms | × copy_ |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {op['median_ms'][k]} | {op['ratio_to_copy'][k]} |" for k in op["median_ms"]]
    lines += [
        "",
        f"## Training step, {step['model']}, batch {step['batch_size']} (target ≤ 1.02×)",
        "",
        "| variant | median ms/step |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v} |" for k, v in step["median_step_ms"].items()]
    work = step["added_work"]
    lines += [
        "",
        f"Whole-step ratio with/without MixupCallback: **{step['ratio']}×** (the A/A control, the same step "
        f"without the callback measured again, reads {step['noise_floor_ratio']}×: differences of that size are "
        "machine noise).",
        "",
        f"The callback's own work, timed in isolation: mixing the batch {work['mix_batch_us']} µs, the mixed "
        f"cross-entropy's extra cost {work['extra_cross_entropy_us']} µs, together {work['total_us']} µs per step, "
        f"i.e. **{step['added_work_ratio']}×** the median step.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
