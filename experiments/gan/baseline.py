r"""Long GAN runs outside ``make study`` (issue #12), each ERM against mixup paired by seed.

Two runs: PacGAN's baseline reproduced at CPU scale, and the mixup authors' setting at their own length.

``--setting pacgan`` (``make gan-baseline``, the default): ``make study``'s PacGAN setting trains 4,000 iterations
at PacGAN's learning rate (1e-4): too short for its GAN to reach PacGAN Table 1's GAN row (the report says by how
much). This run trains the same networks ten times longer, 40,000 iterations (a tenth of PacGAN's 400 epochs of
100,000 samples at batch 100), with the learning rate scaled up ten times (1e-3) to make up for the shorter
schedule. Its ERM arm is checked against Table 1's GAN row (modes within 1.5, high-quality share within 5 points)
before the mixup arm, paired by seed, is judged. About 30 minutes on 2 cores (the ring and the grid train in two
processes at once); writes ``pacgan_long.md`` / ``.json`` and figures to ``experiments/results/gan/``.

``--setting authors`` (``make gan-authors``): ``make study`` cuts the authors' ``gan/example_gan.py`` to 800
generator iterations, after which neither arm has found the data (both near 2 % high quality). This run keeps the
study's 3×64 networks but trains the authors' full 20,001 iterations (their code's length), 5 seeds, ERM against
the code's shuffle form at α = 0.2 and 1 and the paper's form at α = 0.2, latent size 2. 48 minutes on 2 cores
(measured with a third run on the machine); writes ``authors_long.md`` / ``.json``. There is no published number to
check its ERM arm against (the mixup paper shows scatter plots only).

    python -m experiments.gan.baseline                          # the committed PacGAN run
    python -m experiments.gan.baseline --iterations 400 --seeds 1 --out /tmp/gan-baseline   # a smoke run
    python -m experiments.gan.baseline --datasets grid --iterations 80000 --name pacgan_long_80k   # the grid, longer
    python -m experiments.gan.baseline --lr 1e-4 --updates simultaneous --name pacgan_long_simultaneous
                                                                # PacGAN's step and its simultaneous updates
    python -m experiments.gan.baseline --lr 1e-4 --updates simultaneous --num-samples 100000   # and its fixed set
                                                      # (committed: --datasets ring --name pacgan_long_fixed_set)
    python -m experiments.gan.baseline --lr 1e-4 --updates simultaneous --full-width --iterations 20000 \
        --datasets ring --threads 2 --name pacgan_full_width_20k    # PacGAN's own widths, on both cores
    python -m experiments.gan.baseline --lr 1e-4 --updates simultaneous --beta1 0.2 --datasets ring --threads 2 \
        --name pacgan_long_beta1_0.2    # PacGAN's Adam β1 read in Blocks' convention before 2017
    python -m experiments.gan.baseline --setting authors       # the committed authors' run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.gan.module import UPDATE_SCHEDULES
from experiments.gan.study import SettingConfig
from experiments.gan.suite import (
    PACGAN_FULL_WIDTH,
    _anchor_check,
    _authors,
    _baseline_section,
    _pacgan,
    claims,
    run_settings,
)

__all__ = ["authors_configs", "configs", "main", "run"]

NAME = "pacgan_long"
AUTHORS_NAME = "authors_long"
#: The authors' run: ERM, their code's shuffle form at two α, the paper's form, all at latent size 2.
AUTHORS_CELLS: tuple[dict[str, Any], ...] = (
    {"latent_dim": 2, "method": "erm", "alpha": 0.0},
    {"latent_dim": 2, "method": "shuffle", "alpha": 0.2},
    {"latent_dim": 2, "method": "shuffle", "alpha": 1.0},
    {"latent_dim": 2, "method": "paper", "alpha": 0.2},
)


#: Each run's defaults (its Makefile target's); the report's command line names only the arguments that differ.
DEFAULTS: dict[str, dict[str, Any]] = {
    "pacgan": {
        "iterations": 40_000,
        "seeds": 5,
        "lr": 1e-3,
        "beta1": 0.8,
        "updates": "alternating",
        "num_samples": None,
        "full_width": False,
        "threads": 1,
        "datasets": ["ring", "grid"],
        "name": NAME,
    },
    "authors": {"iterations": 20_001, "seeds": 5, "threads": 1, "datasets": ["ring", "grid"], "name": AUTHORS_NAME},
}
TARGETS = {"pacgan": "make gan-baseline", "authors": "make gan-authors"}

#: Why ``--beta1 0.2`` is a reading of PacGAN's config: its Adam is Blocks', whose ``beta1`` meant 1 − β1 until
#: January 2017 (mila-iqia/blocks#1159, #1176); PacGAN's ``"beta1": 0.8`` is β1 = 0.8 in the later convention, 0.2 in
#: the earlier one, and its code names only "Blocks, development version".
BETA1_NOTE = "its config's beta1 0.8 read in Blocks' Adam convention before January 2017 (1 − β1)"

_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def _times(ratio: float) -> str:
    """``10.0`` -> ``"ten times"``, ``2.5`` -> ``"2.5×"``."""
    return f"{_WORDS[int(ratio)]} times" if ratio == int(ratio) and int(ratio) in _WORDS else f"{ratio:g}×"


def _per_dataset(
    base: SettingConfig, name: str, title: str, datasets: Sequence[str], iterations: int, seeds: int, **changes: Any
) -> list[SettingConfig]:
    """``base`` at ``iterations`` and ``seeds``, one setting per dataset (so they train in parallel processes)."""
    return [
        dataclasses.replace(
            base,
            name=f"{name}_{dataset}",
            title=f"{title}: {dataset}",
            datasets=[dataset],
            seeds=seeds,
            iterations=iterations,
            eval_every=max(1, iterations // 6),
            **changes,
        )
        for dataset in datasets
    ]


def configs(
    iterations: int = 40_000,
    seeds: int = 5,
    lr: float = 1e-3,
    datasets: Sequence[str] = ("ring", "grid"),
    name: str = NAME,
    updates: str = "alternating",
    num_samples: int | None = None,
    full_width: bool = False,
    threads: int = 1,
    beta1: float = 0.8,
) -> list[SettingConfig]:
    """One setting per dataset, ERM and the paper's mixup at α = 0.2 (the arguments: :func:`run`'s)."""
    base = _pacgan(False)
    model = {**base.model, "lr_g": lr, "lr_d": lr}
    if beta1 != model["betas"][0]:
        model["betas"] = (beta1, model["betas"][1])
    if full_width:
        model.update(PACGAN_FULL_WIDTH)
    widths = f"{model['g_depth']}×{model['g_hidden']} / {model['d_depth']}×{model['d_hidden']}"
    if updates != "alternating":
        model["updates"] = updates
    schedule = (
        "both networks stepping on each batch from one latent batch (PacGAN's simultaneous updates)"
        if updates == "simultaneous"
        else "alternating discriminator and generator steps (PacGAN updates both at once)"
    )
    return _per_dataset(
        base,
        name,
        f"PacGAN baseline at {iterations} iterations, lr {lr:g}"
        + (f", full width ({widths})" if full_width else "")
        + (f", Adam β1 {beta1:g}" if beta1 != base.model["betas"][0] else "")
        + (", simultaneous updates" if updates == "simultaneous" else "")
        + (f", {num_samples:,} fixed samples" if num_samples is not None else ""),
        datasets,
        iterations,
        seeds,
        model=model,
        num_samples=num_samples,
        num_threads=threads,
        snapshot_steps=[iterations // 10, iterations // 2, iterations],
        reference=(
            "PacGAN trains 4×400 / 3×200 networks for 400,000 iterations at lr 1e-4; here "
            + ("the same networks" if full_width else widths)
            + " for "
            f"{iterations} iterations at lr {lr:g} ({_times(400_000 / iterations)} fewer iterations, "
            + ("PacGAN's own step" if lr == 1e-4 else f"a {_times(lr / 1e-4)} larger step")
            + (
                ""
                if beta1 == base.model["betas"][0]
                else f", Adam β1 {beta1:g} instead of PacGAN's {base.model['betas'][0]:g}, {BETA1_NOTE}"
            )
            + f"), {schedule}"
            + ("." if num_samples is None else f", on a fixed training set of {num_samples:,} samples per run.")
        ),
    )


def authors_configs(
    iterations: int = 20_001,
    seeds: int = 5,
    datasets: Sequence[str] = ("ring", "grid"),
    name: str = AUTHORS_NAME,
    threads: int = 1,
) -> list[SettingConfig]:
    """One setting per dataset: the study's authors' setting at ``iterations`` with :data:`AUTHORS_CELLS`."""
    base = _authors(False)
    return _per_dataset(
        base,
        name,
        f"The authors' setting at {iterations} iterations",
        datasets,
        iterations,
        seeds,
        cells=[dict(c) for c in AUTHORS_CELLS],
        num_threads=threads,
        snapshot_steps=[min(100, iterations), iterations // 2, iterations],
        reference=(
            f"their code trains 3×512 MLPs for 20,001 generator iterations; here the study's 3×64 MLPs for "
            f"{iterations} iterations (the study: {base.iterations}), ERM against the code's shuffle form at "
            "α = 0.2 and 1 and the paper's form at α = 0.2, latent size 2. Full-width run: "
            "experiments/configs/gan_authors_*.yaml."
        ),
    )


def _command(setting: str, **arguments: Any) -> str:
    """The command line that makes this report: the Makefile target's, plus any argument not at its default."""
    base = "python -m experiments.gan.baseline" + (" --setting authors" if setting == "authors" else "")
    changed = []
    for key, default in DEFAULTS[setting].items():
        value = list(arguments[key]) if key == "datasets" else arguments[key]
        if value != default:
            flag = f"--{key.replace('_', '-')}"
            if isinstance(value, bool):  # a switch: named when on
                changed.append(flag)
                continue
            text = " ".join(value) if key == "datasets" else f"{value:g}" if isinstance(value, float) else value
            changed.append(f"{flag} {text}")
    return f"`{' '.join([base, *changed])}`" + ("" if changed else f" (`{TARGETS[setting]}`)")


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(results[0])
    for key in ("runs", "cells", "paired", "reference_samplers"):
        merged[key] = [item for r in results for item in r[key]]
    return merged


def run(
    out: str | Path,
    *,
    setting: str = "pacgan",
    iterations: int | None = None,
    seeds: int | None = None,
    lr: float = 1e-3,
    beta1: float = 0.8,
    updates: str = "alternating",
    num_samples: int | None = None,
    full_width: bool = False,
    threads: int = 1,
    workers: int = 2,
    datasets: Sequence[str] = ("ring", "grid"),
    name: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the runs, write ``<name>.md`` / ``.json`` (and each dataset's own files) to ``out``.

    Args:
        out: the output folder.
        setting: ``"pacgan"`` (checked against PacGAN Table 1's GAN row) or ``"authors"`` (their length).
        iterations: generator iterations (default 40,000 / 20,001).
        seeds: seeds per cell (default 3 / 5).
        lr: Adam's step of both networks (``"pacgan"`` only; the authors' run keeps their 1e-3).
        beta1: Adam's β1 of both networks (``"pacgan"`` only; PacGAN's config: 0.8; 0.2 reads it in Blocks' Adam
            convention before January 2017, see :data:`BETA1_NOTE`).
        updates: ``"alternating"`` or ``"simultaneous"`` (PacGAN's schedule; ``"pacgan"`` only).
        num_samples: ``None``: fresh samples at every step; an int: a fixed training set per run (``"pacgan"`` only;
            PacGAN's is 100,000).
        full_width: PacGAN's own 4×400 / 3×200 networks instead of the CPU runs' 4×100 / 3×50 (``"pacgan"`` only;
            about 6× slower per iteration on the CPU).
        threads: torch threads per process (1: the committed runs'; 2 lets one process use both cores when it
            trains one dataset alone; float rounding, and so each run's trajectory, depends on it).
        workers: processes (one dataset each).
        datasets: ``ring`` and/or ``grid``.
        name: the file name stem (default ``pacgan_long`` / ``authors_long``).
        progress: a tqdm bar per group of runs (the command line shows them).
    """
    if setting not in ("pacgan", "authors"):
        raise ValueError(f"Expected argument `setting` to be 'pacgan' or 'authors', but got {setting!r}.")
    if updates not in UPDATE_SCHEDULES or (setting == "authors" and updates != "alternating"):
        raise ValueError(
            f"Expected argument `updates` to be 'alternating' or 'simultaneous' (the latter with setting='pacgan', "
            f"whose discriminator takes one step per generator step), but got {updates!r} with setting={setting!r}."
        )
    if setting == "authors" and beta1 != DEFAULTS["pacgan"]["beta1"]:
        raise ValueError(
            f"Expected `beta1` at its default (0.8, pacgan only) with setting='authors', whose code keeps Adam's "
            f"defaults (β1 0.9), but got {beta1}."
        )
    if not 0 <= beta1 < 1:
        raise ValueError(f"Expected argument `beta1` in [0, 1), but got {beta1}.")
    if full_width and setting == "authors":
        raise ValueError(
            "Expected `full_width=False` with setting='authors' (their 3×512 networks train on a GPU: "
            "python -m experiments.gan.full_scale), but got True."
        )
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"Expected argument `threads` to be a positive int, but got {threads!r}.")
    if num_samples is not None and setting == "authors":
        raise ValueError(
            f"Expected `num_samples=None` with setting='authors' (their code draws fresh samples), but got "
            f"{num_samples}."
        )
    start = time.perf_counter()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    defaults = DEFAULTS[setting]
    iterations, seeds, name = iterations or defaults["iterations"], seeds or defaults["seeds"], name or defaults["name"]
    if setting == "pacgan":
        settings = configs(iterations, seeds, lr, datasets, name, updates, num_samples, full_width, threads, beta1)
        title = "# The PacGAN baseline at CPU scale, and ERM against mixup at that length"
    else:
        settings = authors_configs(iterations, seeds, datasets, name, threads)
        title = "# The mixup authors' GAN setting at their length, ERM against mixup"
    command = _command(
        setting,
        iterations=iterations,
        seeds=seeds,
        lr=lr,
        beta1=beta1,
        updates=updates,
        num_samples=num_samples,
        full_width=full_width,
        threads=threads,
        datasets=datasets,
        name=name,
    )
    results = run_settings(settings, folder, workers=workers, progress=progress)
    processes = max(1, min(workers, len(settings)))  # what run_settings starts: one dataset per process
    merged = _merge(results)
    rows = claims([merged])
    seconds = time.perf_counter() - start
    check = _anchor_check(merged) if setting == "pacgan" else None
    intro = settings[0].reference[0].upper() + settings[0].reference[1:]
    arms = "ERM against the paper's mixup form (α = 0.2)" if setting == "pacgan" else "ERM against mixup"
    lines = [
        title,
        "",
        f"{command}: {intro} {seeds} seeds per cell; {arms}, paired by seed. Wall time {seconds / 60:.1f} min "
        f"({processes} {'process' if processes == 1 else 'processes'}"
        + (f", {threads} threads each" if threads != 1 else "")
        + ").",
        "",
    ]
    if check is not None:
        lines += [
            _baseline_section(merged),
            f"Baseline check (modes within 1.5 and HQ within 5 points of Table 1's GAN row): {check}.",
            "",
        ]
    lines += [
        *["#" + r["markdown"] if r["markdown"].startswith("## ") else r["markdown"] for r in results],
        "## Claim rows at this length",
        "",
        "| claim | setting | measured | verdict |",
        "|---|---|---|---|",
        *[f"| {r['claim']} | {r['setting']} | {r['measured']} | **{r['verdict']}** |" for r in rows],
        "",
    ]
    text = "\n".join(lines)
    (folder / f"{name}.md").write_text(text)
    summary = {
        "setting": setting,
        "iterations": iterations,
        "seeds": seeds,
        "lr": settings[0].model["lr_d"],
        "betas": list(settings[0].model["betas"]),
        "updates": updates,
        "num_samples": num_samples,
        "full_width": full_width,
        "threads": threads,
        "seconds": seconds,
        "baseline_check": check,
        "cells": merged["cells"],
        "paired": merged["paired"],
        "claims": rows,
    }
    (folder / f"{name}.json").write_text(json.dumps(summary, indent=1))
    return {**summary, "markdown": text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--setting", choices=["pacgan", "authors"], default="pacgan", help="which run (default: %(default)s)"
    )
    parser.add_argument(
        "--iterations", type=int, default=None, help="generator iterations (default: 40,000 pacgan, 20,001 authors)"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: 5)")
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="Adam step of both networks, pacgan only (default: %(default)s)"
    )
    parser.add_argument(
        "--beta1",
        type=float,
        default=0.8,
        help="Adam's β1 of both networks, pacgan only (default: %(default)s, PacGAN's config; 0.2: that value in "
        "Blocks' Adam convention before 2017)",
    )
    parser.add_argument(
        "--updates",
        choices=UPDATE_SCHEDULES,
        default="alternating",
        help="GAN update schedule, pacgan only: simultaneous is PacGAN's (default: %(default)s)",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=None,
        help="a fixed training set of this many samples per run, pacgan only (PacGAN: 100000; default: fresh samples)",
    )
    parser.add_argument(
        "--full-width",
        action="store_true",
        help="PacGAN's own 4×400 / 3×200 networks, pacgan only (default: the CPU runs' 4×100 / 3×50)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per process (default: %(default)s, as committed)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (default: %(default)s)")
    parser.add_argument("--datasets", nargs="+", choices=["ring", "grid"], default=["ring", "grid"], help="data")
    parser.add_argument("--name", default=None, help="file name stem of the report (default: by setting)")
    parser.add_argument("--out", default="experiments/results/gan", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    result = run(
        args.out,
        setting=args.setting,
        iterations=args.iterations,
        seeds=args.seeds,
        lr=args.lr,
        beta1=args.beta1,
        updates=args.updates,
        num_samples=args.num_samples,
        full_width=args.full_width,
        threads=args.threads,
        workers=args.workers,
        datasets=args.datasets,
        name=args.name,
        progress=True,
    )
    print(result["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
