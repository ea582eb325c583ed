"""Per-batch mixup and CutMix: torchvision's v2 ``MixUp`` / ``CutMix`` against timm's ``Mixup`` and ours, one run.

Same batch shapes as ``bench_mixup.py`` (64×3×224×224 float32, 1000 classes). Every variant does the whole
per-batch work that a training loop needs and returns mixed images and mixed soft targets ``(B, 1000)``:

- torchvision: ``v2.MixUp(alpha=0.2, num_classes=1000)(x, y)`` / ``v2.CutMix(alpha=1.0, ...)``;
- timm: ``Mixup(mixup_alpha=0.2 | cutmix_alpha=1.0, mode="batch", num_classes=1000)(x, y)``; timm mixes in place, so
  each timm call gets a fresh copy of the batch made outside its timing;
- ours (``lightning_mixup.functional``): ``sample_mixup`` + ``apply_mix`` + ``mix_targets``, and ``sample_cutmix`` +
  ``apply_mix`` + ``mix_targets``, all with an explicit generator. (The callback's own path, which keeps integer
  labels as ``MixedLabels``, is measured by ``bench_mixup.py``.)

The variants are interleaved call by call, round by round, and each is summarised by its median, so drifting machine
load hits all of them alike. Needs torchvision and timm: run it in the compatibility venv (``make compat-setup``)::

    .venv-compat/bin/python -m benchmarks.bench_torchvision            # writes benchmarks/results/torchvision.{json,md}
    .venv-compat/bin/python -m benchmarks.bench_torchvision --quick    # a few seconds, for a smoke test
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import write_results
from lightning_mixup.functional import apply_mix, mix_targets, sample_cutmix, sample_mixup

RESULTS = Path(__file__).parent / "results"
NUM_CLASSES = 1000


def variants(
    x: torch.Tensor, y: torch.Tensor, method: str
) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """``name -> (prepare, run)``: ``prepare`` is untimed (timm's fresh in-place copy), ``run`` is timed."""
    from timm.data.mixup import Mixup as TimmMixup
    from torchvision.transforms import v2

    g = torch.Generator().manual_seed(0)
    scratch = x.clone()
    size = (x.shape[-2], x.shape[-1])
    if method == "mixup":
        tv = v2.MixUp(alpha=0.2, num_classes=NUM_CLASSES)
        timm = TimmMixup(mixup_alpha=0.2, cutmix_alpha=0.0, prob=1.0, mode="batch", num_classes=NUM_CLASSES)

        def ours() -> object:
            params = sample_mixup(x.shape[0], alpha=0.2, generator=g)
            return apply_mix(x, params), mix_targets(y, params, num_classes=NUM_CLASSES)

    else:
        tv = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
        timm = TimmMixup(mixup_alpha=0.0, cutmix_alpha=1.0, prob=1.0, mode="batch", num_classes=NUM_CLASSES)

        def ours() -> object:
            params = sample_cutmix(x.shape[0], size, alpha=1.0, generator=g)
            return apply_mix(x, params), mix_targets(y, params, num_classes=NUM_CLASSES)

    def nothing() -> None:
        return None

    return {
        "copy_ (reference)": (nothing, lambda: scratch.copy_(x)),
        "torchvision v2": (nothing, lambda: tv(x, y)),
        "timm Mixup": (lambda: scratch.copy_(x), lambda: timm(scratch, y)),
        "ours (functional)": (nothing, ours),
    }


def interleaved(
    fns: dict[str, tuple[Callable[[], object], Callable[[], object]]], rounds: int, desc: str, warmup: int = 2
) -> dict[str, float]:
    """Median seconds of each ``run``, called round-robin ``rounds`` times after ``warmup``, ``prepare`` untimed."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for prepare, run in fns.values():
        for _ in range(warmup):
            prepare()
            run()
    for _ in tqdm(range(rounds), desc=desc, leave=False):
        for name, (prepare, run) in fns.items():
            prepare()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench(shape: tuple[int, ...], rounds: int) -> dict[str, object]:
    np.random.seed(0)  # timm draws from numpy
    torch.manual_seed(0)  # torchvision draws from torch's global generator
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    y = torch.randint(NUM_CLASSES, (shape[0],), generator=g)
    results: dict[str, object] = {"shape": list(shape)}
    for method in ("mixup", "cutmix"):
        medians = interleaved(variants(x, y, method), rounds, method)
        timm_s, tv_s = medians["timm Mixup"], medians["torchvision v2"]
        results[method] = {
            "median_ms": {k: round(v * 1e3, 3) for k, v in medians.items()},
            "ratio_to_timm": {k: round(v / timm_s, 3) for k, v in medians.items()},
            "ratio_to_torchvision": {k: round(v / tv_s, 3) for k, v in medians.items()},
        }
    return results


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write torchvision.json and .md")
    args = parser.parse_args(argv)
    shape = (8, 3, 64, 64) if args.quick else (64, 3, 224, 224)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "command": "python -m benchmarks.bench_torchvision" + (" --quick" if args.quick else ""),
        "torch": torch.__version__,
        "torchvision": importlib.metadata.version("torchvision"),
        "timm": importlib.metadata.version("timm"),
        "rounds": 5 if args.quick else 40,
        "op": bench(shape, rounds=5 if args.quick else 40),
    }
    write_results(args.out, "torchvision", result, to_markdown)
    return result


def to_markdown(result: dict) -> str:
    op = result["op"]
    lines = [
        "# Mixup and CutMix per batch: torchvision v2, timm and ours (benchmarks/bench_torchvision.py)",
        "",
        f"Machine: {result['machine']}; torch {result['torch']}, torchvision {result['torchvision']}, "
        f"timm {result['timm']}. `{result['command']}`, one run; medians of {result['rounds']} interleaved rounds.",
        "",
        f"Batch {'×'.join(map(str, op['shape']))} float32, 1000 classes; every variant returns mixed images and mixed "
        "soft targets. timm mixes in place (its fresh copy is untimed); torchvision and ours allocate the output.",
        "",
        "| method | variant | median ms | × timm | × torchvision |",
        "|---|---|---:|---:|---:|",
    ]
    for method in ("mixup", "cutmix"):
        m = op[method]
        for name, ms in m["median_ms"].items():
            lines.append(
                f"| {method} | {name} | {ms} | {m['ratio_to_timm'][name]} | {m['ratio_to_torchvision'][name]} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
