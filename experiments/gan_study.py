"""GAN training stability: ERM vs mixup discriminators on the ring and grid of Gaussians (issue #4).

Trains every cell of the sweep (dataset × architecture × learning rate × latent size × method) over several seeds,
all runs of a shape at once (``lightning_mixup.gan.train_gan_batch``), and writes to ``--out``:
``gan_study.json`` (every run with its trajectory and verdict, per-cell statistics), ``gan_study.md`` (the table
beside the PacGAN/VEEGAN anchors) and the figures (``scatter_*.png`` as the mixup paper's Figure 5,
``curves_*.png``).

    python -m experiments.gan_study --quick          # about a minute
    python -m experiments.gan_study                  # the default sweep (under 10 minutes on 2 CPU cores)
    python -m experiments.gan_study --seeds 10 --iterations 5000 --architectures 512x3

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _architecture(text: str) -> list[int]:
    try:
        hidden, depth = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected HIDDENxDEPTH such as 64x3, got {text!r}") from err
    return [hidden, depth]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute (fewer runs and steps)")
    parser.add_argument("--out", default="experiments/results/gan", help="output folder (default: %(default)s)")
    parser.add_argument("--seeds", type=int, help="seeds per cell (default: 5; 3 with --quick)")
    parser.add_argument("--first-seed", type=int, help="the first seed (default: 0)")
    parser.add_argument("--datasets", nargs="+", choices=["ring", "grid"], help="problems (default: ring grid)")
    parser.add_argument("--architectures", nargs="+", type=_architecture, help="HIDDENxDEPTH (default: 64x3 32x2)")
    parser.add_argument("--lrs", nargs="+", type=float, help="Adam learning rates (default: 1e-3)")
    parser.add_argument("--latent-dims", nargs="+", type=int, help="latent sizes (default: 2 8)")
    parser.add_argument(
        "--methods", nargs="+", choices=["erm", "paper", "shuffle"], help="ERM and mixup forms (default: erm paper)"
    )
    parser.add_argument("--alpha", type=float, help="mixup alpha (default: 0.2)")
    parser.add_argument(
        "--iterations", type=int, help="generator iterations per run (default: 4000; 1500 with --quick)"
    )
    parser.add_argument("--batch-size", type=int, help="real samples per discriminator step (default: 64)")
    parser.add_argument("--d-steps", type=int, help="discriminator steps per generator step (default: 5)")
    parser.add_argument("--eval-every", type=int, help="evaluation interval in generator iterations")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: 1)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {"quick": args.quick, "out": args.out, "plots": not args.no_plots}
    config["progress"] = not args.no_progress
    names = {
        "seeds": "seeds",
        "first_seed": "first_seed",
        "datasets": "datasets",
        "architectures": "architectures",
        "lrs": "learning_rates",
        "latent_dims": "latent_dims",
        "methods": "methods",
        "alpha": "alpha",
        "iterations": "iterations",
        "batch_size": "batch_size",
        "d_steps": "d_steps",
        "eval_every": "eval_every",
        "threads": "num_threads",
    }
    for arg, field in names.items():
        value = getattr(args, arg)
        if value is not None:
            config[field] = value
    if args.iterations is not None:
        config["snapshot_steps"] = sorted({10, 100, args.iterations // 4, args.iterations // 2, args.iterations})
    return config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from experiments.gan.study import run_gan_study

    result = run_gan_study(config_from_args(args))
    print(result["markdown"])
    print(f"wall time {result['seconds']:.1f} s; files: {', '.join(result['files'].values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
