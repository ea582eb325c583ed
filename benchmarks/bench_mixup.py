"""Cost of mixup: the per-batch mixing against timm's ``Mixup``, and a training step with and without MixupCallback.

Every ratio is measured side by side in one run: the variants are interleaved round by round and each is
summarised by its median, so drifting machine load hits all of them alike.

    python -m benchmarks.bench_mixup            # full run, writes benchmarks/results/mixup.{json,md}
    python -m benchmarks.bench_mixup --quick    # a few seconds, for a smoke test

Targets (issue #9): on a 64×3×224×224 float32 batch on the CPU, mixup ≤ 0.8× and CutMix ≤ 1.0× the time of timm's
``Mixup`` (timm's own code when installed: ``pip install --no-deps timm``), never more than one output batch
allocated; a whole training step with the callback (label tracking included) ≤ 1.02× the same step without it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import itertools
import logging
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from benchmarks.common import interleaved_medians, write_results
from lightning_mixup import MixupCallback, MixupEngine, MixupPolicy

RESULTS = Path(__file__).parent / "results"


def load_timm_mixup() -> tuple[Callable[..., Any], str]:
    """Timm's ``Mixup`` class, from timm's own ``timm/data/mixup.py`` when timm is installed.

    ``import timm`` needs torchvision (which cannot load beside the CPU torch here), so the module file is loaded
    by path: it imports only numpy and torch. Without timm, a faithful re-statement of ``Mixup._mix_batch`` for
    ``mode="batch"`` is used and named as such.
    """
    spec = importlib.util.find_spec("timm")
    if spec is not None and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / "data" / "mixup.py"
        module_spec = importlib.util.spec_from_file_location("timm_data_mixup", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        version = importlib.metadata.version("timm")
        return module.Mixup, f"timm {version} (timm/data/mixup.py, loaded by path)"

    class Restated:
        """Re-statement of timm's Mixup._mix_batch (mode='batch'), not timm's code."""

        def __init__(self, mixup_alpha: float, cutmix_alpha: float, **_: object) -> None:
            self.alpha, self.cutmix = mixup_alpha, cutmix_alpha

        def __call__(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if self.cutmix:
                lam = float(np.random.beta(self.cutmix, self.cutmix))
                h, w = x.shape[-2:]
                cut_h, cut_w = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
                cy, cx = np.random.randint(h), np.random.randint(w)
                yl, yh = np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h)
                xl, xh = np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w)
                x[:, :, yl:yh, xl:xh] = x.flip(0)[:, :, yl:yh, xl:xh]
            else:
                lam = float(np.random.beta(self.alpha, self.alpha))
                x_flipped = x.flip(0).mul_(1.0 - lam)
                x.mul_(lam).add_(x_flipped)
            return x, target

    return Restated, "a re-statement of timm's Mixup._mix_batch (timm not installed)"


def _time_method(
    engine: MixupEngine, timm: Callable[..., Any], x: torch.Tensor, y: torch.Tensor, rounds: int
) -> dict[str, float]:
    module = nn.Identity()
    engine.start(module, seed=0, rank=0)
    out, scratch = torch.empty_like(x), x.clone()

    def ours() -> None:
        engine.reseed(0)
        engine.mix_container(module, (x, y), epoch=0)  # the result is dropped, as a finished step drops it

    medians = interleaved_medians(
        {"copy_ (reference)": lambda: out.copy_(x), "ours": ours},
        rounds,
        "mixing",
    )
    timm_times = []
    for _ in range(rounds):
        scratch.copy_(x)  # timm mixes in place: a fresh batch each call, outside the timing
        start = time.perf_counter()
        timm(scratch, y)
        timm_times.append(time.perf_counter() - start)
    medians["timm Mixup"] = statistics.median(timm_times)
    engine.stop()
    return medians


def bench_op(shape: tuple[int, ...], rounds: int) -> dict[str, object]:
    """The whole per-batch mixing of the callback's engine against timm's ``Mixup``, mixup and CutMix.

    Both sides do everything a batch needs: draw λ (and the box), mix the inputs, build the targets (timm: mixed
    one-hot targets; ours: MixedLabels). timm mixes the batch in place, so every timm call gets a fresh copy of the
    batch made outside its timing; ours never writes into the batch.
    """
    np.random.seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    y = torch.randint(1000, (shape[0],), generator=g)
    timm_mixup, timm_name = load_timm_mixup()
    results: dict[str, object] = {"shape": list(shape), "timm": timm_name}
    for method, (alpha, cutmix_alpha) in {"mixup": (0.2, 0.0), "cutmix": (0.0, 1.0)}.items():
        timm = timm_mixup(
            mixup_alpha=alpha, cutmix_alpha=cutmix_alpha, prob=1.0, mode="batch", label_smoothing=0.0, num_classes=1000
        )
        medians = _time_method(MixupEngine(MixupPolicy(alpha=alpha, cutmix_alpha=cutmix_alpha)), timm, x, y, rounds)
        timm_ms = medians["timm Mixup"]
        results[method] = {
            "median_ms": {k: round(v * 1e3, 3) for k, v in medians.items()},
            "ratio_to_timm": {k: round(v / timm_ms, 3) for k, v in medians.items()},
        }
    return results


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

    Mixing a batch (drawing, mixing, wrapping and tracking the labels), the end-of-step check, and the extra cost
    of the mixed cross-entropy (forward and backward) over the plain one.
    """
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(batch_size, 3, 32, 32, generator=g), torch.randint(10, (batch_size,), generator=g)
    engine = MixupCallback(alpha=0.2, seed=0).engine
    engine.start(nn.Identity(), seed=0, rank=0)
    logits = torch.randn(batch_size, 10, generator=g, requires_grad=True)

    def mix_step() -> None:
        engine.reseed(0)
        _, labels = engine.mix_container(nn.Identity(), (x, y), epoch=0)
        labels.tracker.consumed = True
        engine.end_step(backward_ran=True)

    _, labels = engine.mix_container(nn.Identity(), (x, y), epoch=0)
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


def bench_alternating(data: TensorDataset, batch_size: int, epochs: int) -> dict[str, object]:
    """One fit whose steps alternate between mixed and unmixed: the cost of mixing, free of fit-to-fit noise.

    The callback's schedule is switched per step (benchmark only): an unmixed step still runs the callback's hooks,
    so the difference is the mixing itself, the label wrapping and tracking, and the mixed cross-entropy.
    """
    callback = MixupCallback(alpha=0.2)
    batches = itertools.count()  # the engine asks once per training batch
    callback.engine.should_apply = lambda epoch: next(batches) % 2 == 0  # type: ignore[method-assign]
    timer = StepTimer()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[timer, callback],
    )
    pl.seed_everything(0, verbose=False)
    trainer.fit(SmallCNN(), DataLoader(data, batch_size=batch_size))
    # interval k spans batch k (global step k); skip the warm-up steps
    mixed = [t for k, t in enumerate(timer.intervals, start=1) if k >= 4 and k % 2 == 0]
    unmixed = [t for k, t in enumerate(timer.intervals, start=1) if k >= 4 and k % 2 == 1]
    m, u = statistics.median(mixed), statistics.median(unmixed)
    return {
        "steps": len(mixed) + len(unmixed),
        "mixed_ms": round(m * 1e3, 3),
        "unmixed_ms": round(u * 1e3, 3),
        "ratio": round(m / u, 4),
    }


def bench_step(batch_size: int, steps: int, repeats: int) -> dict[str, object]:
    g = torch.Generator().manual_seed(0)
    n = batch_size * steps
    data = TensorDataset(torch.rand(n, 3, 32, 32, generator=g), torch.randint(10, (n,), generator=g))
    # an A/A control measures the noise floor of the comparison on this machine
    made: list[MixupCallback] = []

    def with_callback() -> list[MixupCallback]:
        made.append(MixupCallback(alpha=0.2))
        return made[-1:]

    variants = {
        "without callback": lambda: [],
        "without callback (A/A control)": lambda: [],
        "with MixupCallback": with_callback,
    }
    intervals: dict[str, list[float]] = {name: [] for name in variants}
    per_fit: dict[str, list[float]] = {name: [] for name in variants}  # the median step of every fit
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
            per_fit[name].append(statistics.median(timer.intervals[2:]))
    medians = {name: statistics.median(ts) for name, ts in intervals.items()}
    alternating = bench_alternating(data, batch_size, epochs=10 if steps > 10 else 1)
    # paired by repeat: the three fits of a repeat ran back to back, so slow drift of the machine cancels
    paired = [w / b for w, b in zip(per_fit["with MixupCallback"], per_fit["without callback"], strict=True)]
    control = [
        a / b for a, b in zip(per_fit["without callback (A/A control)"], per_fit["without callback"], strict=True)
    ]
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else [paired[0]] * 3
    control_quartiles = statistics.quantiles(control, n=4) if len(control) > 1 else [control[0]] * 3
    base = medians["without callback"]
    work = added_work_us(batch_size)
    return {
        "model": "3-conv CNN (32-64-128 channels) on 3×32×32, SGD",
        "batch_size": batch_size,
        "steps_measured": {k: len(v) for k, v in intervals.items()},
        "median_step_ms": {k: round(v * 1e3, 3) for k, v in medians.items()},
        "ratio": round(statistics.median(paired), 4),
        "ratio_quartiles": [round(q, 4) for q in (quartiles[0], quartiles[2])],
        "noise_floor_ratio": round(statistics.median(control), 4),
        "noise_floor_quartiles": [round(q, 4) for q in (control_quartiles[0], control_quartiles[2])],
        "repeats": repeats,
        "alternating": alternating,
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
    torch.manual_seed(0)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "command": "python -m benchmarks.bench_mixup" + (" --quick" if args.quick else ""),
        "torch": torch.__version__,
        "op": bench_op(op_shape, rounds=5 if args.quick else 40),
        "training_step": bench_step(64, steps=8 if args.quick else 40, repeats=2 if args.quick else 20),
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
        f"## Per-batch mixing on a {'×'.join(map(str, op['shape']))} float32 batch, against {op['timm']}",
        "",
        "Targets (issue #9): mixup ≤ 0.8× and CutMix ≤ 1.0× timm's time, never more than one output batch allocated.",
        "",
        "| method | variant | median ms | × timm |",
        "|---|---|---:|---:|",
    ]
    for method in ("mixup", "cutmix"):
        row = op[method]
        lines += [f"| {method} | {k} | {row['median_ms'][k]} | {row['ratio_to_timm'][k]} |" for k in row["median_ms"]]
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
        f"Whole-step ratio with/without MixupCallback, the median over {step['repeats']} repeats of the fits' median "
        f"steps paired by repeat: **{step['ratio']}×** (quartiles {step['ratio_quartiles'][0]}–"
        f"{step['ratio_quartiles'][1]}). The A/A control, the same step without the callback measured again, reads "
        f"{step['noise_floor_ratio']}× (quartiles {step['noise_floor_quartiles'][0]}–"
        f"{step['noise_floor_quartiles'][1]}): differences of that size are machine noise between fits.",
        "",
        f"Steps alternating within one fit ({step['alternating']['steps']} steps; even steps mixed, odd steps "
        "not, the callback's schedule switched per step), so that fit-to-fit noise cancels: median mixed step "
        f"{step['alternating']['mixed_ms']} ms, unmixed {step['alternating']['unmixed_ms']} ms, "
        f"**{step['alternating']['ratio']}×**.",
        "",
        f"The callback's own work, timed in isolation: mixing the batch {work['mix_batch_us']} µs, the mixed "
        f"cross-entropy's extra cost {work['extra_cross_entropy_us']} µs, together {work['total_us']} µs per step, "
        f"i.e. **{step['added_work_ratio']}×** the median step.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
