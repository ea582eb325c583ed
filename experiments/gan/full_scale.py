"""Settings 1 and 2 at (close to) their original size on a GPU, within a wall-time budget.

The CPU study (:mod:`experiments.gan.suite`) trains narrow networks for short runs. This script trains the original
networks — the mixup authors' 3×512 MLPs; PacGAN's 4×400 BN generator and 3×200 maxout-5 discriminator — on a GPU:
one worker process per (setting, data, mixing form) group, all started together (the per-step Python work runs in
parallel; the GPU is shared). Each worker first times a few iterations, then trains as many generator iterations as
fit in the budget (at most the original run length: 20,001 for the authors' code, 400,000 for PacGAN) and saves its
runs; the main process merges them into ``authors_full.{json,md}``, ``pacgan_full.{json,md}`` and figures.

    python -m experiments.gan.full_scale --device cuda --budget 420 --out experiments/results/gan/full_scale

The runs are the same as the CPU study's up to size (same engine, same seeds, ERM paired with mixup by seed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from experiments.gan.batched import GANRunSpec, train_gan_batch
from experiments.gan.study import (
    SettingConfig,
    _cells,
    _figures,
    _paired,
    _reference_samplers,
    _run_records,
    chance_high_quality,
    markdown,
)
from experiments.gan.suite import settings

ORIGINAL = {
    "authors": ({"g_hidden": 512, "d_hidden": 512}, 20_001),
    "pacgan": ({"g_hidden": 400, "d_hidden": 200}, 400_000),
}


def full_setting(name: str, model_override: dict[str, Any] | None = None) -> SettingConfig:
    """Setting ``name`` of the CPU study with the original network sizes (``model_override``: for smoke tests)."""
    base = {cfg.name: cfg for cfg in settings(demo=False)}[name]
    fields = dataclasses.asdict(base)
    model, _ = ORIGINAL[name]
    fields["model"] = {**fields["model"], **model, **(model_override or {})}
    fields["name"] = f"{name}_full"
    if name == "authors":  # the latent-size sweep is left to the CPU study
        fields["cells"] = [c for c in fields["cells"] if c["latent_dim"] == 2]
    return SettingConfig(**fields)


def groups(model_override: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One worker per (setting, data, form): the runs that share a batch."""
    out = []
    for name in ("authors", "pacgan"):
        cfg = full_setting(name, model_override)
        for dataset in cfg.datasets:
            for form in dict.fromkeys(c["method"] for c in cfg.cells):
                alphas = [c["alpha"] for c in cfg.cells if c["method"] == form]
                spec = {"setting": name, "dataset": dataset, "form": form, "alphas": alphas}
                out.append({**spec, "model": model_override or {}})
    return out


def worker(spec: dict[str, Any], device: str, budget: float, out: Path) -> None:
    start = time.perf_counter()
    if device.startswith("cuda"):
        torch.set_float32_matmul_precision("high")  # TF32 matrix products
    torch.set_num_threads(1)
    cfg = full_setting(spec["setting"], spec.get("model"))
    runs = [
        GANRunSpec(seed, spec["form"], alpha if spec["form"] != "erm" else 0.2)
        for alpha in spec["alphas"]
        for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds)
    ]
    latent = cfg.cells[0]["latent_dim"]
    probe = dataclasses.replace(cfg, iterations=20, eval_every=20, snapshot_steps=[])
    train_gan_batch(runs, probe.engine_config(spec["dataset"], latent), device=device)  # warm-up
    tick = time.perf_counter()
    train_gan_batch(runs, probe.engine_config(spec["dataset"], latent), device=device)
    per_iteration = (time.perf_counter() - tick) / 20
    remaining = budget - (time.perf_counter() - start)
    iterations = int(min(ORIGINAL[spec["setting"]][1], max(100, 0.85 * remaining / per_iteration)))
    iterations -= iterations % 6
    full = dataclasses.replace(
        cfg,
        iterations=iterations,
        eval_every=iterations // 6,
        snapshot_steps=[10, 100, 1000, iterations // 2, iterations],
    )
    result = train_gan_batch(runs, full.engine_config(spec["dataset"], latent), device=device)
    key = f"{spec['setting']}_{spec['dataset']}_{spec['form']}"
    torch.save(
        {"spec": spec, "iterations": iterations, "per_iteration_s": per_iteration, "result": result},
        out / f"{key}.pt",
    )
    print(f"{key}: {len(runs)} runs, {iterations} iterations, {per_iteration * 1000:.1f} ms/iteration", flush=True)


def merge(out: Path) -> None:
    for name in ("authors", "pacgan"):
        parts = [torch.load(p, weights_only=False) for p in sorted(out.glob(f"{name}_*.pt"))]
        if not parts:
            continue
        iterations = min(p["iterations"] for p in parts)
        base = full_setting(name, parts[0]["spec"].get("model"))
        cfg = dataclasses.replace(base, iterations=iterations, eval_every=max(1, iterations // 6))
        cfg.snapshot_steps = sorted({s for p in parts for s in p["result"].snapshots})
        records, results = [], []
        reference = _reference_samplers(cfg, None)
        for p in parts:
            result, dataset = p["result"], p["spec"]["dataset"]
            num_modes = cfg.sampler(dataset).num_modes  # type: ignore[union-attr]
            chance = chance_high_quality(reference, cfg, dataset)
            records += _run_records(cfg, dataset, cfg.cells[0]["latent_dim"], result, num_modes, chance)
            results.append((p["spec"]["dataset"], cfg.cells[0]["latent_dim"], result))
        lengths = {p["spec"]["form"]: p["iterations"] for p in parts}
        fields = dataclasses.asdict(cfg)
        fields["reference"] = (
            f"original network sizes ({cfg.architecture}); generator iterations per group {lengths} of the original "
            f"{ORIGINAL[name][1]:,}, as many as fit the GPU budget."
        )
        out_dict: dict[str, Any] = {
            "config": fields,
            "architecture": cfg.architecture,
            "runs": records,
            "cells": _cells(records),
            "paired": _paired(records),
            "reference_samplers": reference,
            "seconds": max(float(p["result"].seconds) for p in parts),
            "files": _figures(cfg, results, out),
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        }
        (out / f"{cfg.name}.json").write_text(json.dumps(out_dict, indent=1))
        (out / f"{cfg.name}.md").write_text(markdown(out_dict))
        print(markdown(out_dict), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds per worker (default: %(default)s)")
    parser.add_argument("--out", default="experiments/results/gan/full_scale")
    parser.add_argument("--only", nargs="+", choices=["authors", "pacgan"], help="settings to run")
    parser.add_argument("--model", type=json.loads, help="GANModule overrides (JSON), for smoke tests")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--merge-only", action="store_true", help="merge saved worker results")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        worker(json.loads(args.worker), args.device, args.budget, out)
        return 0
    if not args.merge_only:
        specs = [g for g in groups(args.model) if args.only is None or g["setting"] in args.only]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "experiments.gan.full_scale",
                    "--worker",
                    json.dumps(spec),
                    "--device",
                    args.device,
                    "--budget",
                    str(args.budget),
                    "--out",
                    str(out),
                ]
            )
            for spec in specs
        ]
        codes = [p.wait() for p in procs]
        print(f"workers exited with {codes}", flush=True)
    merge(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
