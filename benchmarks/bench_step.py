"""Whole-step benchmark of the callback's fast paths (issue #23): does each second code path earn its keep?

A realistic CPU training step: a narrow CIFAR ResNet-8 (three stages of one basic block, 16-32-64 channels, batch
norm) on random 3×32×32 (batch 128) and 3×64×64 (batch 64) images, SGD with momentum, the plain
``F.cross_entropy(self(x), y)`` step, run by a real Lightning ``Trainer`` with ``MixupCallback`` (the code users
run). Each fast path is switched off by a monkeypatch, one at a time and all together:

- ``OutputPool`` (``lightning_mixup/_buffers.py``): ``empty_like`` patched to plain ``torch.empty_like``;
- the per-sample blending loop (``functional/apply.py``): ``_LOOP_MIN_SAMPLE_NUMEL = inf``;
- the Python-float Gamma sampler (``functional/sampling.py``): ``_SCALAR_GAMMA_MAX = -1`` (tensor sampler always);
- the CPU-only ``plain`` branch of the mixed cross-entropy (``functional/labels.py``): ``plain=False`` forced.

A toggle whose fast path no longer exists in the code is skipped (and said so): ERM against the callback still
runs, and the callback's whole cost bounds what any path inside it can save.

Steps are timed in the process's CPU time (user + system, so page faults count) with torch on one thread: on a
machine shared with other jobs the wall time of a step jumps by ±20 % with their load (it is reported beside).
Three measurements, all in one run:

1. **Steps rotating within one fit**: one ``Trainer.fit`` per image size whose consecutive steps
   cycle through the arms (shuffled order in every cycle) — the callback idle (schedule off: ERM with the hooks),
   the callback as shipped, twice (an A/A control), and each fast path off. The arm of a step is set at the end of
   the previous step. Each arm is compared with the shipped step *of the same cycle* (adjacent steps), so machine
   load that drifts over seconds cancels; the median of these paired ratios and its quartiles are reported.
2. **Whole fits, interleaved** (the code users run, nothing switched inside a fit): short fits of ERM without any
   callback (twice: A/A), ``MixupCallback()`` as shipped, everything off, and CutMix as shipped
   (``MixupCallback(alpha=0, cutmix_alpha=1)``), in a shuffled order in every repeat; ratios of each fit's median
   step to the ERM fit of the same repeat.
3. **The callback's own work, timed alone**: mixing, labels, the mixed cross-entropy and the end-of-step check with
   each path on and off, in a shuffled order every round. A patch changes nothing but this work, so it bounds what
   the path can save of the step.

A path is kept only where (1) and (3) both show a saving of at least 3 % of the step.

    python -m benchmarks.bench_step            # about 3-4 minutes on 2 cores; writes benchmarks/results/step.{json,md}
    python -m benchmarks.bench_step --quick    # a few seconds, for a smoke test
    python -m benchmarks.bench_step --render benchmarks/results/step.json   # the Markdown again, from the JSON
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import logging
import math
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.common import write_results
from lightning_mixup import MixupCallback

RESULTS = Path(__file__).parent / "results"
KEEP_THRESHOLD = 0.03  # issue #23: keep a second code path only if it saves at least 3 % of the step

Patch = tuple[Any, str, Any]


# --- the model -------------------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3×3 convolutions with batch norm and a (projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet8(pl.LightningModule):
    """A narrow CIFAR ResNet-8 (16-32-64 channels) with the plain cross-entropy step and SGD."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1).flatten(1))

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:  # noqa: D102
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)


# --- the fast paths and their switches -------------------------------------------------------------------------------


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def fast_path_switches() -> dict[str, list[Patch] | str]:
    """For each fast path, the patches that switch it off, or why it is skipped (no longer in the code)."""
    switches: dict[str, list[Patch] | str] = {}
    buffers = _module("lightning_mixup._buffers")
    pool = getattr(buffers, "OutputPool", None)
    if pool is not None and hasattr(pool, "empty_like"):
        switches["OutputPool"] = [(pool, "empty_like", lambda self, x: torch.empty_like(x))]
    else:
        switches["OutputPool"] = "skipped: lightning_mixup._buffers.OutputPool no longer exists"
    apply = _module("lightning_mixup.functional.apply")
    if hasattr(apply, "_LOOP_MIN_SAMPLE_NUMEL"):
        switches["per-sample loop"] = [(apply, "_LOOP_MIN_SAMPLE_NUMEL", math.inf)]
    else:
        switches["per-sample loop"] = "skipped: functional.apply._LOOP_MIN_SAMPLE_NUMEL no longer exists"
    sampling = _module("lightning_mixup.functional.sampling")
    if hasattr(sampling, "_SCALAR_GAMMA_MAX"):
        switches["scalar Gamma sampler"] = [(sampling, "_SCALAR_GAMMA_MAX", -1)]
    else:
        switches["scalar Gamma sampler"] = "skipped: functional.sampling._SCALAR_GAMMA_MAX no longer exists"
    labels = _module("lightning_mixup.functional.labels")
    fast = getattr(labels, "_cross_entropy_fast", None)
    if fast is not None and "plain" in inspect.signature(fast).parameters:

        def not_plain(*args: Any, plain: bool = False, **kwargs: Any) -> Any:
            return fast(*args, plain=False, **kwargs)

        switches["CPU cross-entropy branch"] = [(labels, "_cross_entropy_fast", not_plain)]
    else:
        switches["CPU cross-entropy branch"] = "skipped: functional.labels._cross_entropy_fast has no `plain` branch"
    return switches


def exercised(path: str, image_size: int, batch_size: int) -> bool:
    """Whether the shipped code takes the fast path at all in this setting (mode "batch", default policy)."""
    if path == "per-sample loop":
        apply = _module("lightning_mixup.functional.apply")
        return 3 * image_size * image_size >= getattr(apply, "_LOOP_MIN_SAMPLE_NUMEL", math.inf)
    return True  # the pool, the sampler (2 Gamma draws per batch) and the cross-entropy branch run on every step


class Patcher:
    """Applies one arm's patches at a time, restoring the originals first."""

    def __init__(self, patches: list[Patch]) -> None:
        self.originals = {(id(obj), attr): (obj, attr, getattr(obj, attr)) for obj, attr, _ in patches}

    def set(self, patches: list[Patch]) -> None:
        """Restore every patched attribute, then apply ``patches``."""
        self.restore()
        for obj, attr, value in patches:
            setattr(obj, attr, value)

    def restore(self) -> None:
        """Put every patched attribute back."""
        for obj, attr, value in self.originals.values():
            setattr(obj, attr, value)


@contextlib.contextmanager
def patched(patches: list[Patch]) -> Iterator[None]:
    patcher = Patcher(patches)
    patcher.set(patches)
    try:
        yield
    finally:
        patcher.restore()


# --- timing -----------------------------------------------------------------------------------------------------------


class StepTimer(pl.Callback):
    """Time between consecutive training-batch ends: loading, mixing, forward, backward, optimizer step.

    ``intervals`` is the process's CPU time (user + system, so page faults count), ``wall`` the wall time. On a
    machine shared with other jobs the wall time of a step jumps by ±20 % with their load; the CPU time of a
    one-thread step does not, so the ratios are taken on CPU time.
    """

    def __init__(self) -> None:
        self.last: tuple[float, float] | None = None
        self.intervals: list[float] = []
        self.wall: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:  # noqa: D102
        now = time.process_time(), time.perf_counter()
        if self.last is not None:
            self.intervals.append(now[0] - self.last[0])
            self.wall.append(now[1] - self.last[1])
        self.last = now


class Rotator(pl.Callback):
    """Sets the arm of the next step at the end of each step; records the arm of every timed interval."""

    def __init__(self, arms: dict[str, list[Patch] | None], patcher: Patcher, seed: int) -> None:
        self.arms, self.patcher = arms, patcher
        self.rng = random.Random(seed)
        self.queue: list[str] = []
        self.current: str = "shipped"
        self.cycle = -1
        self.order: list[tuple[str, int]] = []  # the arm (and its cycle) of the step after each batch end

    def _next(self) -> None:
        if not self.queue:
            self.queue = list(self.arms)
            self.rng.shuffle(self.queue)
            self.cycle += 1
        self.current = self.queue.pop()
        self.patcher.set(self.arms[self.current] or [])
        self.order.append((self.current, self.cycle))

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:  # noqa: D102
        self._next()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        self.patcher.restore()


def _trainer(callbacks: list[pl.Callback]) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )


def _data(image_size: int, batch_size: int, steps: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    n = batch_size * steps
    x = torch.rand(n, 3, image_size, image_size, generator=g)
    y = torch.randint(10, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=True)


def _quartiles(values: list[float]) -> list[float]:
    if len(values) < 2:
        return [values[0], values[0]] if values else [math.nan, math.nan]
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def _summary(ratios: list[float]) -> dict[str, Any]:
    q = _quartiles(ratios)
    return {"ratio": round(statistics.median(ratios), 4), "quartiles": [round(v, 4) for v in q], "n": len(ratios)}


def rotating(image_size: int, batch_size: int, cycles: int, switches: dict[str, list[Patch] | str]) -> dict[str, Any]:
    """One fit whose steps cycle through the arms; paired ratios to the shipped step of the same cycle."""
    active = {name: patches for name, patches in switches.items() if not isinstance(patches, str)}
    paths = [name for name in active if exercised(name, image_size, batch_size)]
    arms: dict[str, list[Patch] | None] = {
        "callback idle (schedule off)": None,
        "shipped": [],
        "shipped (A/A control)": [],
        **{f"{name} off": active[name] for name in paths},
    }
    if len(paths) > 1:
        arms["all off"] = [p for name in paths for p in active[name]]
    patcher = Patcher([p for patches in arms.values() for p in patches or []])
    rotator = Rotator(arms, patcher, seed=image_size)
    callback = MixupCallback(alpha=0.2, seed=0)
    engine = callback.engine
    should_apply = engine.should_apply
    engine.should_apply = lambda epoch, step=None: (  # type: ignore[method-assign]
        rotator.current != "callback idle (schedule off)" and should_apply(epoch)
    )
    timer = StepTimer()
    steps = 2 + (cycles + 1) * len(arms)  # the first cycle is the warm-up
    pl.seed_everything(0, verbose=False)
    # the rotator runs before the timer at each batch end, so the switch is timed with the step it belongs to
    _trainer([callback, rotator, timer]).fit(ResNet8(), _data(image_size, batch_size, steps))
    # interval k runs from the end of batch k to the end of batch k + 1: the step set by rotator.order[k]
    per_arm: dict[str, list[float]] = {name: [] for name in arms}
    wall: dict[str, list[float]] = {name: [] for name in arms}
    cycle_of: dict[int, dict[str, float]] = {}
    for (arm, c), seconds, wall_seconds in zip(rotator.order, timer.intervals, timer.wall, strict=False):
        if c == 0:
            continue
        per_arm[arm].append(seconds)
        wall[arm].append(wall_seconds)
        cycle_of.setdefault(c, {})[arm] = seconds
    full = [c for c in cycle_of.values() if len(c) == len(arms)]
    medians = {name: statistics.median(ts) for name, ts in per_arm.items() if ts}
    vs_shipped = {name: _summary([c[name] / c["shipped"] for c in full]) for name in arms if name != "shipped"}
    pool = getattr(engine, "_pool", None)
    return {
        "image_size": image_size,
        "batch_size": batch_size,
        "cycles": len(full),
        "median_step_ms": {k: round(v * 1e3, 3) for k, v in medians.items()},
        "median_wall_ms": {k: round(statistics.median(v) * 1e3, 3) for k, v in wall.items() if v},
        "vs_shipped": vs_shipped,
        "not_exercised": [name for name in active if name not in paths],
        "output_buffers": None if pool is None else {"reused": pool.reused, "allocated": pool.allocated},
    }


def whole_fits(
    image_size: int, batch_size: int, steps: int, repeats: int, switches: dict[str, list[Patch] | str]
) -> dict[str, Any]:
    """Short fits of each arm, in a shuffled order per repeat; ratios to the ERM fit of the same repeat."""
    all_off = [p for patches in switches.values() if not isinstance(patches, str) for p in patches]
    arms: dict[str, tuple[Callable[[], list[pl.Callback]], list[Patch]]] = {
        "ERM (no callback)": (lambda: [], []),
        "ERM (A/A control)": (lambda: [], []),
        "MixupCallback() shipped": (lambda: [MixupCallback(alpha=0.2, seed=0)], []),
        "CutMix shipped": (lambda: [MixupCallback(alpha=0.0, cutmix_alpha=1.0, seed=0)], []),
    }
    if all_off:
        arms["MixupCallback(), all fast paths off"] = (lambda: [MixupCallback(alpha=0.2, seed=0)], all_off)
    data = _data(image_size, batch_size, steps)

    def fit(name: str, timer: StepTimer) -> None:
        make, patches = arms[name]
        with patched(patches):
            _trainer([*make(), timer]).fit(ResNet8(), data)

    per_fit, wall = shuffled_fits(list(arms), fit, repeats, random.Random(image_size))
    return {
        "image_size": image_size,
        "batch_size": batch_size,
        "steps_per_fit": steps,
        "repeats": repeats,
        "median_step_ms": {k: round(statistics.median(v) * 1e3, 3) for k, v in per_fit.items()},
        "median_wall_ms": {k: round(statistics.median(v) * 1e3, 3) for k, v in wall.items()},
        "vs_erm": ratios(per_fit, "ERM (no callback)"),
        "vs_shipped": ratios(per_fit, "MixupCallback() shipped"),
    }


def shuffled_fits(
    names: list[str], fit: Callable[[str, StepTimer], None], repeats: int, rng: random.Random
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``fit(name, timer)`` for every name in a shuffled order per repeat: each fit's median CPU and wall step time."""
    per_fit: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        order = list(names)
        rng.shuffle(order)
        for name in order:
            timer = StepTimer()
            pl.seed_everything(0, verbose=False)
            fit(name, timer)
            per_fit[name].append(statistics.median(timer.intervals[2:]))
            wall[name].append(statistics.median(timer.wall[2:]))
    return per_fit, wall


def ratios(per_fit: dict[str, list[float]], reference: str, arms: list[str] | None = None) -> dict[str, Any]:
    """Per-repeat ratios of each arm (default: every other arm) to ``reference``, summarised by :func:`_summary`."""
    base = per_fit[reference]
    names = [k for k in per_fit if k != reference] if arms is None else arms
    return {k: _summary([a / b for a, b in zip(per_fit[k], base, strict=True)]) for k in names}


def _cpu_medians(fns: dict[str, Callable[[], None]], rounds: int, seed: int, warmup: int = 3) -> dict[str, float]:
    """Median CPU seconds per call of each function, round-robin in a shuffled order every round."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        order = list(fns)
        rng.shuffle(order)
        for name in order:
            start = time.process_time()
            fns[name]()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def isolated(image_size: int, batch_size: int, rounds: int, switches: dict[str, list[Patch] | str]) -> dict[str, Any]:
    """The callback's own per-step work with each fast path on and off, timed alone (interleaved), in µs.

    Mixing the batch (drawing λ and the partners, blending, wrapping the labels), the mixed cross-entropy's forward
    and backward on ``(B, 10)`` logits, and the end-of-step check: everything a fast path can speed up. Low noise,
    so it corroborates the whole-step figures: a path cannot save more of the step than its share of this work.
    """
    active = {name: patches for name, patches in switches.items() if not isinstance(patches, str)}
    paths = [name for name in active if exercised(name, image_size, batch_size)]
    arms: dict[str, list[Patch]] = {"shipped": [], **{f"{name} off": active[name] for name in paths}}
    if len(paths) > 1:
        arms["all off"] = [p for name in paths for p in active[name]]
    patcher = Patcher([p for patches in arms.values() for p in patches])
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, 3, image_size, image_size, generator=g)
    y = torch.randint(10, (batch_size,), generator=g)
    logits = torch.randn(batch_size, 10, generator=g, requires_grad=True)
    engine = MixupCallback(alpha=0.2, seed=0).engine
    module = nn.Identity()
    engine.start(module, seed=0, rank=0)

    def work(patches: list[Patch]) -> Callable[[], None]:
        def step() -> None:
            patcher.set(patches)
            engine.reseed(0)
            _, labels = engine.mix_batch(module, (x, y), epoch=0, step=0)
            F.cross_entropy(logits, labels).backward()
            engine.end_step(backward_ran=True)
            patcher.restore()

        return step

    medians = _cpu_medians({name: work(patches) for name, patches in arms.items()}, rounds, seed=image_size)
    engine.stop()
    return {
        "image_size": image_size,
        "batch_size": batch_size,
        "rounds": rounds,
        "median_us": {k: round(v * 1e6, 1) for k, v in medians.items()},
        "saved_us": {k: round((v - medians["shipped"]) * 1e6, 1) for k, v in medians.items() if k != "shipped"},
    }


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per fast path: the share of the step it saves, per image size, and keep or delete.

    Keep only where switching it off costs at least 3 % of the whole step in the rotating fit *and* the work it
    changes, timed alone, costs at least 3 % of the step: the patch changes nothing else, so a whole-step
    difference beyond the isolated one is the machine's noise (the A/A control shows its size).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, state in result["switches"].items():
        if state != "available":
            out[name] = {"verdict": state}
            continue
        savings = {
            f"{r['image_size']}x{r['image_size']}": round(r["vs_shipped"][f"{name} off"]["ratio"] - 1, 4)
            for r in result["rotating"]
            if f"{name} off" in r["vs_shipped"]
        }
        steps = {f"{r['image_size']}x{r['image_size']}": r for r in result["rotating"]}
        isolated_share = {}
        for r in result["isolated"]:
            size = f"{r['image_size']}x{r['image_size']}"
            if f"{name} off" in r["saved_us"]:
                step_us = steps[size]["median_step_ms"]["shipped"] * 1e3
                isolated_share[size] = round(r["saved_us"][f"{name} off"] / step_us, 5)
        keep = any(
            saved >= KEEP_THRESHOLD and isolated_share.get(size, 0.0) >= KEEP_THRESHOLD
            for size, saved in savings.items()
        )
        out[name] = {"saves": savings, "isolated_share": isolated_share, "verdict": "keep" if keep else "delete"}
    return out


def _commit() -> str:
    try:
        root = Path(__file__).parents[1]
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "lightning_mixup"], cwd=root, capture_output=True,
                               text=True, check=True)  # fmt: skip
        return sha.stdout.strip() + (" (lightning_mixup modified)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write step.json and step.md")
    parser.add_argument("--cycles", type=int, default=None, help="cycles of the rotating fit (default 10)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the whole fits (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable on a shared machine)")
    parser.add_argument("--render", type=Path, default=None, help="re-render the Markdown from a step.json, no run")
    args = parser.parse_args(argv)
    if args.render is not None:
        result = json.loads(args.render.read_text())
        result["verdicts"] = verdicts(result)
        write_results(args.out, "step", result, to_markdown)
        return result
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    switches = fast_path_switches()
    settings = [(32, 128), (64, 64)]
    cycles = args.cycles or (1 if args.quick else 10)
    repeats = args.repeats or (1 if args.quick else 3)
    fit_steps = 5 if args.quick else 6
    if args.quick:
        settings = [(16, 8), (64, 4)]
    start = time.perf_counter()
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "command": "python -m benchmarks.bench_step" + (" --quick" if args.quick else ""),
        "commit": _commit(),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "model": "CIFAR ResNet-8, 16-32-64 channels, batch norm; SGD (momentum 0.9); F.cross_entropy",
        "switches": {k: v if isinstance(v, str) else "available" for k, v in switches.items()},
        "rotating": [rotating(size, batch, cycles, switches) for size, batch in settings],
        "whole_fits": [whole_fits(size, batch, fit_steps, repeats, switches) for size, batch in settings],
        "isolated": [isolated(size, batch, 20 if args.quick else 300, switches) for size, batch in settings],
    }
    result["verdicts"] = verdicts(result)
    result["seconds"] = round(time.perf_counter() - start, 1)
    write_results(args.out, "step", result, to_markdown)
    return result


def _fmt(summary: dict[str, Any]) -> str:
    q = summary["quartiles"]
    return f"{summary['ratio']:.4f} ({q[0]:.4f}–{q[1]:.4f})"


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Whole-step benchmark of the fast paths (benchmarks/bench_step.py, issue #23)",
        "",
        f"Commit measured: `{result['commit']}`. Machine: {result['machine']}; torch {result['torch']}, "
        f"Lightning {result['lightning']}. Model: {result['model']}. Command: `{result['command']}` "
        f"({result['seconds']} s).",
        "",
        f"Rule (issue #23): keep a second code path only if switching it off costs ≥ {KEEP_THRESHOLD:.0%} of the "
        "whole training step; otherwise delete it. Read here as: the whole step in the rotating fit (CPU time, paired "
        f"with the shipped step of the same cycle) costs ≥ {KEEP_THRESHOLD:.0%} more without the path, *and* the work "
        f"the path changes, timed alone, costs ≥ {KEEP_THRESHOLD:.0%} of the step more without it. The patch changes "
        "nothing but that work, so a whole-step difference beyond it is noise, whose size the A/A rows show: "
        + "; ".join(
            f"{r['image_size']}×{r['image_size']}: A/A {_fmt(r['vs_shipped']['shipped (A/A control)'])}"
            for r in result["rotating"]
        )
        + ".",
        "",
        "## Verdicts",
        "",
        "| fast path | whole step saved (off/shipped − 1, CPU time, rotating fit) | its isolated work saved, share of "
        "the step | verdict |",
        "|---|---|---|---|",
    ]
    for name, v in result["verdicts"].items():
        saves = ", ".join(f"{size}: {s:+.1%}" for size, s in v.get("saves", {}).items()) or "–"
        share = ", ".join(f"{size}: {s:+.2%}" for size, s in v.get("isolated_share", {}).items()) or "–"
        lines.append(f"| {name} | {saves} | {share} | **{v['verdict']}** |")
    steps = {r["image_size"]: r["median_step_ms"]["shipped"] for r in result["rotating"]}
    bounds = [
        f"{r['image_size']}×{r['image_size']}: {r['median_us']['shipped']} µs, "
        f"{r['median_us']['shipped'] / (steps[r['image_size']] * 1e3):.2%} of the {steps[r['image_size']]} ms step"
        for r in result["isolated"]
    ]
    lines += [
        "",
        "The bound: the callback's whole per-step work as shipped (mixing, labels, mixed cross-entropy, end-of-step "
        f"check), timed alone in CPU time, is {'; '.join(bounds)}. No path inside it can save more than that.",
    ]
    lines += [
        "",
        "## Steps rotating within one fit",
        "",
        "Median step of each arm (the process's CPU time, user + system, and the wall time); ratio of CPU times to the "
        "shipped step of the same cycle (median over cycles, quartiles in brackets). The A/A control is the shipped "
        "step measured again: its quartiles are the noise of one pair.",
        "",
    ]
    for r in result["rotating"]:
        lines += [
            f"### 3×{r['image_size']}×{r['image_size']}, batch {r['batch_size']} ({r['cycles']} cycles)",
            "",
            "| arm | median CPU ms/step | median wall ms/step | × shipped, CPU time (quartiles) |",
            "|---|---:|---:|---:|",
        ]
        for name, ms in r["median_step_ms"].items():
            ratio = "1" if name == "shipped" else _fmt(r["vs_shipped"][name])
            lines.append(f"| {name} | {ms} | {r['median_wall_ms'][name]} | {ratio} |")
        if r["not_exercised"]:
            skipped = ", ".join(r["not_exercised"])
            lines += ["", f"Not exercised at this size (the shipped code does not take it): {skipped}."]
        if r["output_buffers"]:
            lines += ["", f"Output buffers: {r['output_buffers']['allocated']} allocated, "
                      f"{r['output_buffers']['reused']} reused."]  # fmt: skip
        lines.append("")
    lines += [
        "## Whole fits, interleaved",
        "",
        "Each fit's median step (steps after the second; CPU and wall time); ratios of CPU times to the ERM fit and to "
        "the shipped-callback fit of the same repeat (median over repeats, quartiles in brackets).",
        "",
    ]
    for r in result["whole_fits"]:
        lines += [
            f"### 3×{r['image_size']}×{r['image_size']}, batch {r['batch_size']} ({r['repeats']} repeats of "
            f"{r['steps_per_fit']}-step fits)",
            "",
            "| arm | median CPU ms/step | median wall ms/step | × ERM, CPU (quartiles) | × shipped, CPU (quartiles) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, ms in r["median_step_ms"].items():
            vs_erm = "1" if name == "ERM (no callback)" else _fmt(r["vs_erm"][name])
            vs_shipped = "1" if name == "MixupCallback() shipped" else _fmt(r["vs_shipped"][name])
            lines.append(f"| {name} | {ms} | {r['median_wall_ms'][name]} | {vs_erm} | {vs_shipped} |")
        lines.append("")
    lines += [
        "## The callback's own work, timed alone",
        "",
        "Mixing the batch, the mixed cross-entropy (forward and backward on (B, 10) logits) and the end-of-step "
        "check: medians of the process's CPU time in µs, the arms in a shuffled order every round. A path cannot "
        "save more of the step than it saves here.",
        "",
    ]
    for r in result["isolated"]:
        lines += [
            f"### 3×{r['image_size']}×{r['image_size']}, batch {r['batch_size']} ({r['rounds']} rounds)",
            "",
            "| arm | median µs | saved by the fast path, µs |",
            "|---|---:|---:|",
        ]
        for name, us in r["median_us"].items():
            lines.append(f"| {name} | {us} | {r['saved_us'].get(name, '–')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
