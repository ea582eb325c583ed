"""Many small GANs at once vs one after another: the speed-up of ``lightning_mixup.gan.train_gan_batch``.

The same ``N`` runs (the study's small GANs: ring and grid problems, different seeds) are trained twice, side by
side in this process: all ``N`` in one batch (stacked weights, batched matmuls), and one by one (the same code with
one run per batch, so the only difference is the batching). Both orders are repeated and interleaved, and the
median time of each is reported, with a check that the two give the same weights. Results go to
``benchmarks/results/gan_batched.json`` and ``.md``.

    python -m benchmarks.bench_gan_batched            # the default measurement (a few minutes)
    python -m benchmarks.bench_gan_batched --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from experiments.gan.batched import BatchedGANConfig, GANRunSpec, MixtureProblem, train_gan_batch
from lightning_mixup.gan import grid_modes, ring_modes


def measure(
    runs: list[GANRunSpec], cfg: BatchedGANConfig, repeats: int, batched_threads: int, sequential_threads: int
) -> dict:
    batched_times, sequential_times = [], []
    max_diff = 0.0
    for _ in range(repeats):
        torch.set_num_threads(batched_threads)
        start = time.perf_counter()
        together = train_gan_batch(runs, cfg)
        batched_times.append(time.perf_counter() - start)
        torch.set_num_threads(sequential_threads)
        start = time.perf_counter()
        alone = [train_gan_batch([run], cfg) for run in runs]
        sequential_times.append(time.perf_counter() - start)
        for i, result in enumerate(alone):
            for a, b in zip(together.generator_params, result.generator_params, strict=True):
                max_diff = max(max_diff, float((a[i] - b[0]).norm() / b[0].norm()))
    batched, sequential = statistics.median(batched_times), statistics.median(sequential_times)
    return {
        "runs": len(runs),
        "hidden": cfg.hidden,
        "depth": cfg.depth,
        "batch_size": cfg.batch_size,
        "d_steps": cfg.d_steps,
        "iterations": cfg.iterations,
        "method": runs[0].method,
        "batched_s": batched,
        "sequential_s": sequential,
        "speedup": sequential / batched,
        "batched_times_s": batched_times,
        "sequential_times_s": sequential_times,
        "max_relative_weight_difference": max_diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="GANs per batch (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=150, help="generator iterations (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (default: %(default)s)")
    parser.add_argument(
        "--batched-threads", type=int, default=2, help="torch threads for the batched runs (default: %(default)s)"
    )
    parser.add_argument(
        "--sequential-threads",
        type=int,
        default=1,
        help="torch threads for the one-by-one runs (default: %(default)s, their fastest setting: tiny ops only lose "
        "to thread hand-offs)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 4 runs, 10 iterations, 1 repeat")
    parser.add_argument("--out", default="benchmarks/results", help="output folder (default: %(default)s)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.iterations, args.repeats = 4, 10, 1
    problems = [MixtureProblem("ring", ring_modes(8, 2.0), 0.02), MixtureProblem("grid", grid_modes(), 0.05)]
    settings = [
        # the study's two architectures (batch 64, 5 discriminator steps), ERM and mixup
        (64, 3, 64, "erm", args.runs, args.iterations),
        (64, 3, 64, "paper", args.runs, args.iterations),
        (32, 2, 64, "paper", args.runs, args.iterations),
        # the mixup authors' architecture (3×512, batch 128): compute-bound, so batching gains little
        (512, 3, 128, "paper", max(2, args.runs // 5), max(2, args.iterations // 15)),
    ]
    rows = []
    for hidden, depth, batch_size, method, n, iterations in settings:
        runs = [GANRunSpec(problems[i % 2], seed=i, method=method) for i in range(n)]  # type: ignore[arg-type]
        cfg = BatchedGANConfig(
            hidden=hidden, depth=depth, batch_size=batch_size, iterations=iterations, eval_every=max(1, iterations)
        )
        row = measure(runs, cfg, args.repeats, args.batched_threads, args.sequential_threads)
        rows.append(row)
        print(
            f"{hidden}x{depth} batch {batch_size} {method}: {n} runs batched {row['batched_s']:.2f} s, one by one "
            f"{row['sequential_s']:.2f} s, speed-up {row['speedup']:.1f}x "
            f"(max ‖Δw‖/‖w‖ {row['max_relative_weight_difference']:.1e})",
            flush=True,
        )
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = {
        "torch": torch.__version__,
        "batched_threads": args.batched_threads,
        "sequential_threads": args.sequential_threads,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_after": load,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gan_batched.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# Batched GAN training: N runs at once vs one by one",
        "",
        f"torch {torch.__version__}, {os.cpu_count()} CPUs; batched runs on {args.batched_threads} torch thread(s), "
        f"one-by-one runs on {args.sequential_threads} (each side at its fastest setting: the one-by-one side's tiny "
        "ops run slower on two threads); load average after the run "
        f"{tuple(round(v, 2) for v in load) if load else 'n/a'}. Median of {args.repeats} interleaved repetitions; the "
        "same runs, the same code (`train_gan_batch` with N runs vs N calls with one run).",
        "",
        "Max ‖Δw‖/‖w‖: relative difference of the final generator weight tensors, batched vs one by one. The two "
        "see the same random draws; they differ only by the float rounding of a batched against a single matmul, "
        "which GAN training amplifies over hundreds of steps (the tests check agreement to 1e-5 over a few "
        "iterations and against a plain `torch.optim.Adam` loop).",
        "",
        "| MLP (hidden×depth) | batch | method | runs | iterations | batched s | one by one s | speed-up "
        "| max ‖Δw‖/‖w‖ |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['hidden']}×{r['depth']} | {r['batch_size']} | {r['method']} | {r['runs']} | {r['iterations']} | "
            f"{r['batched_s']:.2f} | {r['sequential_s']:.2f} | {r['speedup']:.1f}× | "
            f"{r['max_relative_weight_difference']:.1e} |"
        )
    (out / "gan_batched.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
