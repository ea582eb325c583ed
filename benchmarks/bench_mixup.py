"""Cost of mixup: the mixing op against a plain copy, and a training step with and without MixupCallback.

Every ratio is measured side by side in one run: the variants are interleaved round by round and each is
summarised by its median, so drifting machine load hits all of them alike.

    python benchmarks/bench_mixup.py            # full run, writes benchmarks/results/mixup.{json,md}
    python benchmarks/bench_mixup.py --quick    # a few seconds, for a smoke test

Targets (issue #3): the op on a 64×3×224×224 float32 batch ≤ 2× a ``copy_`` of it on the CPU; a training step
with the callback ≤ 1.02× the same step without it.
"""

from __future__ import annotations

import argparse
import json
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

from lightning_mixup import MixupCallback
from lightning_mixup.functional import apply_mix, sample_mixup

RESULTS = Path(__file__).parent / "results"


def interleaved_medians(fns: dict[str, Callable[[], object]], rounds: int, desc: str) -> dict[str, float]:
    """Median seconds per call of each function, calling them round-robin ``rounds`` times."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in tqdm(range(rounds), desc=desc, leave=False):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


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


def bench_step(batch_size: int, steps: int, repeats: int) -> dict[str, object]:
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.rand(batch_size * steps, 3, 32, 32, generator=g), torch.randint(10, (batch_size * steps,))
    )
    intervals: dict[str, list[float]] = {"without callback": [], "with MixupCallback": []}
    for _ in tqdm(range(repeats), desc="training steps", leave=False):
        for name in intervals:
            timer = StepTimer()
            callbacks: list[pl.Callback] = [timer] + ([MixupCallback(alpha=0.2)] if name != "without callback" else [])
            trainer = pl.Trainer(
                accelerator="cpu",
                max_epochs=1,
                logger=False,
                enable_progress_bar=False,
                enable_checkpointing=False,
                enable_model_summary=False,
                callbacks=callbacks,
            )
            pl.seed_everything(0, verbose=False)
            trainer.fit(SmallCNN(), DataLoader(data, batch_size=batch_size))
            intervals[name].extend(timer.intervals[2:])  # skip warm-up steps
    medians = {name: statistics.median(ts) for name, ts in intervals.items()}
    return {
        "model": "3-conv CNN (32-64-128 channels) on 3×32×32, SGD",
        "batch_size": batch_size,
        "steps_measured": {k: len(v) for k, v in intervals.items()},
        "median_step_ms": {k: round(v * 1e3, 3) for k, v in medians.items()},
        "ratio": round(medians["with MixupCallback"] / medians["without callback"], 4),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write mixup.json and mixup.md")
    args = parser.parse_args(argv)
    op_shape = (8, 3, 64, 64) if args.quick else (64, 3, 224, 224)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "op": bench_op(op_shape, rounds=5 if args.quick else 40),
        "training_step": bench_step(64, steps=8 if args.quick else 60, repeats=1 if args.quick else 5),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mixup.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "mixup.md").write_text(to_markdown(result))
    print(to_markdown(result))
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
    lines += ["", f"Ratio with/without MixupCallback: **{step['ratio']}×**", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
