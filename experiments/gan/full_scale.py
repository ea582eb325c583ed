r"""Settings 1 and 2 at (close to) their original size on a GPU, within a wall-time budget.

The CPU study (:mod:`experiments.gan.suite`) trains narrow networks for short runs. This script trains the original
networks — the mixup authors' 3×512 MLPs; PacGAN's 4×400 BN generator and 3×200 maxout-5 discriminator — on a GPU:
one worker process per (setting, data, mixing form) group, all started together (the per-step Python work runs in
parallel; the GPU is shared). Each worker first times a few iterations, then trains as many generator iterations as
fit in the budget (at most the original run length: 20,001 for the authors' code, 400,000 for PacGAN) and saves its
runs; the main process merges them into ``authors_full.{json,md}``, ``pacgan_full.{json,md}`` and figures.

    python -m experiments.gan.full_scale --device cuda --budget 420 --out experiments/results/gan/full_scale
    python -m experiments.gan.full_scale --device cuda --only pacgan --lr 1e-3 --max-iterations 40000 \
        --name pacgan_full_long     # PacGAN's widths on the CPU long run's schedule (make gan-baseline)

The runs are the same as the CPU study's up to size (same engine, same seeds, ERM paired with mixup by seed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Sequence
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
from experiments.gan.suite import PACGAN_FULL_WIDTH, _anchor_check, _baseline_section, claims, settings

ORIGINAL = {
    "authors": ({"g_hidden": 512, "d_hidden": 512}, 20_001),
    "pacgan": (PACGAN_FULL_WIDTH, 400_000),
}


def stem_of(name: str, stem: str | None = None) -> str:
    """The result files' name of setting ``name``: ``stem``, or ``<name>_full`` by default."""
    return stem or f"{name}_full"


def full_setting(
    name: str, model_override: dict[str, Any] | None = None, lr: float | None = None, stem: str | None = None
) -> SettingConfig:
    """Setting ``name`` of the CPU study with the original network sizes.

    Args:
        name: ``"authors"`` or ``"pacgan"``.
        model_override: ``StudyGAN`` overrides (for smoke tests).
        lr: Adam's step for both networks (default: the setting's own, 1e-3 / 1e-4).
        stem: the result files' name (default ``<name>_full``).
    """
    base = {cfg.name: cfg for cfg in settings(demo=False)}[name]
    fields = dataclasses.asdict(base)
    model, _ = ORIGINAL[name]
    fields["model"] = {**fields["model"], **model, **(model_override or {})}
    if lr is not None:
        fields["model"].update(lr_g=lr, lr_d=lr)
    fields["name"] = stem_of(name, stem)
    if name == "authors":  # the latent-size sweep is left to the CPU study
        fields["cells"] = [c for c in fields["cells"] if c["latent_dim"] == 2]
    return SettingConfig(**fields)


def groups(
    model_override: dict[str, Any] | None = None,
    lr: float | None = None,
    max_iterations: int | None = None,
    stem: str | None = None,
) -> list[dict[str, Any]]:
    """One worker per (setting, data, form): the runs that share a batch (arguments as :func:`full_setting`).

    ``max_iterations`` caps the generator iterations below the original run length.
    """
    if max_iterations is not None and max_iterations < 6:
        raise ValueError(f"Expected argument `max_iterations` >= 6, but got {max_iterations}.")
    out = []
    for name in ("authors", "pacgan"):
        cfg = full_setting(name, model_override)
        forms = list(dict.fromkeys(c["method"] for c in cfg.cells))
        for dataset in cfg.datasets:
            for form in forms:
                alphas = [c["alpha"] for c in cfg.cells if c["method"] == form]
                spec = {"setting": name, "dataset": dataset, "form": form, "alphas": alphas}
                spec["peers"] = len(cfg.datasets) * len(forms)
                out.append(
                    {**spec, "model": model_override or {}, "lr": lr, "max_iterations": max_iterations, "stem": stem}
                )
    return out


def _agree(out: Path, stem: str, spec: dict[str, Any], iterations: int, wait: float = 60.0) -> int:
    """The fewest iterations that any worker of the setting can afford, so that ERM and mixup train equally long.

    Each worker writes its own number to ``<stem>__<data>__<form>.plan`` and waits (at most ``wait`` seconds) for
    its ``peers``; a worker that has not answered by then is left out (its runs may then end at another length,
    which the report lists per group).
    """
    (out / f"{stem}__{spec['dataset']}__{spec['form']}.plan").write_text(str(iterations))
    deadline = time.monotonic() + wait
    while len(plans := list(out.glob(f"{stem}__*.plan"))) < spec.get("peers", 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    return min(int(plan.read_text() or iterations) for plan in plans)


def worker(spec: dict[str, Any], device: str, budget: float, out: Path) -> None:
    start = time.perf_counter()
    if device.startswith("cuda"):
        torch.set_float32_matmul_precision("high")  # TF32 matrix products
    torch.set_num_threads(1)
    cfg = full_setting(spec["setting"], spec.get("model"), spec.get("lr"), spec.get("stem"))
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
    original = ORIGINAL[spec["setting"]][1]
    cap = min(original, spec.get("max_iterations") or original)
    iterations = _agree(out, cfg.name, spec, int(min(cap, max(100, 0.85 * remaining / per_iteration))))
    iterations -= iterations % 6
    full = dataclasses.replace(
        cfg,
        iterations=iterations,
        eval_every=iterations // 6,
        snapshot_steps=[10, 100, 1000, iterations // 2, iterations],
    )
    result = train_gan_batch(runs, full.engine_config(spec["dataset"], latent), device=device)
    key = f"{cfg.name}__{spec['dataset']}__{spec['form']}"
    torch.save(
        {"spec": spec, "iterations": iterations, "cap": cap, "per_iteration_s": per_iteration, "result": result},
        out / f"{key}.pt",
    )
    print(f"{key}: {len(runs)} runs, {iterations} iterations, {per_iteration * 1000:.1f} ms/iteration", flush=True)


def merge(out: Path, names: Sequence[str] = ("authors", "pacgan"), stem: str | None = None) -> None:
    """Write the report of each setting in ``names`` from its workers' results under ``out``.

    ``stem`` is one setting's file stem, as given to :func:`groups`.
    """
    if stem is not None and len(names) != 1:
        raise ValueError(f"Expected one setting in `names` with a `stem`, but got {list(names)}.")
    for name in names:
        parts = [torch.load(p, weights_only=False) for p in sorted(out.glob(f"{stem_of(name, stem)}__*.pt"))]
        if not parts:
            continue
        iterations = min(p["iterations"] for p in parts)
        spec = parts[0]["spec"]
        base = full_setting(name, spec.get("model"), spec.get("lr"), spec.get("stem"))
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
        cap = parts[0].get("cap", ORIGINAL[name][1])
        lr = cfg.model["lr_g"]
        fields["reference"] = (
            f"original network sizes ({cfg.architecture}), Adam lr {lr:g}; generator iterations per group {lengths} "
            f"of the original {ORIGINAL[name][1]:,}"
            + (f" (capped at {cap:,})" if cap < ORIGINAL[name][1] else "")
            + ", as many as fit the GPU budget."
        )
        out_dict: dict[str, Any] = {
            "setting": name,
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
        text = report(out_dict)
        (out / f"{cfg.name}.md").write_text(text)
        print(text, flush=True)


def report(result: dict[str, Any]) -> str:
    """The markdown report of one merged setting: the study's tables, PacGAN's baseline check, the claim rows."""
    lines = [
        f"# {result['config']['name']}: the original network sizes (`python -m experiments.gan.full_scale`)",
        "",
        f"Trained on: {result['device']}.",
        "",
        markdown(result),
        "",
    ]
    # results merged before "setting" was saved are named after it (pacgan_full, pacgan_full_long)
    if result.get("setting", str(result["config"]["name"]).split("_")[0]) == "pacgan":
        lines += [
            _baseline_section(result),
            f"Baseline check (modes within 1.5 and HQ within 5 points of Table 1's GAN row): {_anchor_check(result)}.",
            "",
        ]
    lines += [
        "## Claim rows",
        "",
        "| claim | setting | measured | verdict |",
        "|---|---|---|---|",
        *[f"| {r['claim']} | {r['setting']} | {r['measured']} | **{r['verdict']}** |" for r in claims([result])],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds per worker (default: %(default)s)")
    parser.add_argument("--out", default="experiments/results/gan/full_scale")
    parser.add_argument("--only", nargs="+", choices=["authors", "pacgan"], help="settings to run")
    parser.add_argument("--model", type=json.loads, help="StudyGAN overrides (JSON), for smoke tests")
    parser.add_argument("--lr", type=float, help="Adam's step for both networks (default: the setting's own)")
    parser.add_argument("--max-iterations", type=int, help="cap on generator iterations (default: the original)")
    parser.add_argument("--name", help="result file stem (default: <setting>_full)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--merge-only", action="store_true", help="merge saved worker results")
    parser.add_argument(
        "--render", type=Path, help="rewrite the .md report of a merged result (.json), e.g. one made on a GPU machine"
    )
    args = parser.parse_args(argv)
    if args.render:
        args.render.with_suffix(".md").write_text(report(json.loads(args.render.read_text())))
        return 0
    if args.name and (args.only is None or len(args.only) != 1):
        parser.error(f"--name {args.name} names one setting's results: give it with one --only setting")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        worker(json.loads(args.worker), args.device, args.budget, out)
        return 0
    if not args.merge_only:
        for name in args.only or ("authors", "pacgan"):
            for stale in out.glob(f"{stem_of(name, args.name)}__*.plan"):
                stale.unlink()
        specs = [
            g
            for g in groups(args.model, args.lr, args.max_iterations, args.name)
            if args.only is None or g["setting"] in args.only
        ]
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
    merge(out, args.only or ("authors", "pacgan"), args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
