"""Evaluate a saved classifier checkpoint: clean accuracy, ECE, NLL, FGSM/PGD/L2-PGD (AutoAttack, transfer) per ε.

Loads the checkpoint safely: ``torch.load(weights_only=True)`` by
:func:`lightning_mixup.evaluation.load_checkpoint` (never ``load_from_checkpoint``, which Lightning ≤ 2.5.1 lets
unpickle everything), then builds its LightningModule class from the saved hyper-parameters. A file that holds
anything but tensors and plain data is refused with exit code 2 and nothing in it runs. It evaluates the model on
the test split of a bundled dataset through the Lightning Trainer (``lightning_mixup.evaluation``), prints a
summary with the sanity checks, and writes the full result (``--out``, JSON; ``--flags`` adds per-example flags).

    python -m experiments.evaluate_checkpoint path/to/model.ckpt --dataset digits
    python -m experiments.evaluate_checkpoint model.ckpt --dataset wine --fgsm-eps 0 0.05 0.1 --pgd-eps 0.1
    python -m experiments.evaluate_checkpoint model.ckpt --module my_pkg.MyModule --dataset digits --out r.json
    python -m experiments.evaluate_checkpoint mixup.ckpt --transfer-from erm.ckpt --autoattack-eps 0.1
    python -m experiments.evaluate_checkpoint weights.pt --init-args '{"arch": "mlp", "input_shape": [4], ...}'

Inputs are attacked in [0, 1]: digits pixels as they are; UCI tables min-max rescaled with the training split's
range (ε is then a fraction of each feature's range), the model still receiving the standardised features it
was trained on. A model that expects normalised images must contain its normalisation (``Classifier`` does with
``normalize_mean``/``normalize_std``) or be given ``--normalize-mean``/``--normalize-std``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

DATASETS = ("digits", "iris", "wine", "breast_cancer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a Lightning .ckpt file")
    parser.add_argument("--dataset", choices=DATASETS, default="digits", help="test split to use (default: digits)")
    parser.add_argument(
        "--module", default="lightning_mixup.models.Classifier",
        help="the checkpoint's LightningModule class, as package.module.Class (default: %(default)s)",
    )
    parser.add_argument(
        "--fgsm-eps", type=float, nargs="*", help="FGSM L∞ grid; none: no FGSM (default: the study's 8 values)",
    )
    parser.add_argument(
        "--pgd-eps", type=float, nargs="*", help="PGD L∞ grid; none: no PGD (default: 0 0.05 0.1 0.2 0.5)",
    )
    parser.add_argument("--pgdl2-eps", type=float, nargs="*", help="PGD L2 grid; none: no L2 PGD (default: 0 0.5 1 2)")
    parser.add_argument("--pgd-steps", type=int, default=10, help="PGD iterations per run (default: %(default)s)")
    parser.add_argument(
        "--pgd-restarts", type=int, default=1,
        help="PGD runs from a random start, after the one from the clean input (default: %(default)s)",
    )
    parser.add_argument(
        "--autoattack-eps", type=float, nargs="*", default=[], help="AutoAttack L∞ grid (default: none)",
    )
    parser.add_argument(
        "--autoattack-version", default="standard", choices=("standard", "plus", "rand", "fast"),
        help="AutoAttack version (default: %(default)s; 'fast' is several times cheaper on a CPU)",
    )
    parser.add_argument(
        "--transfer-from", help="checkpoint of a source model (same --module class): transfer FGSM/PGD crafted on it",
    )
    parser.add_argument(
        "--init-args", type=json.loads, default=None,
        help="JSON constructor arguments overriding the saved hyper-parameters (all of them for a plain state_dict)",
    )
    parser.add_argument("--normalize-mean", type=float, nargs="+", help="normalisation to apply inside the model")
    parser.add_argument("--normalize-std", type=float, nargs="+", help="its standard deviations")
    parser.add_argument("--seed", type=int, default=0, help="seed of PGD's random starts (default: %(default)s)")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator (default: %(default)s)")
    parser.add_argument("--out", help="write the result as JSON here")
    parser.add_argument("--flags", action="store_true", help="include per-example flags in the JSON")
    parser.add_argument(
        "--unsafe-load", action="store_true", help="weights_only=False: unpickles everything, only for trusted files",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def load_class(path: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise SystemExit(f"--module must be package.module.Class, got {path!r}")
    return getattr(importlib.import_module(module_name), class_name)


def load_model(path: str, module_class: type, args: argparse.Namespace) -> Any:
    """The checkpoint's model, loaded weights-only; a refused or unreadable file exits with status 2."""
    from lightning_mixup.evaluation import load_checkpoint

    try:
        return load_checkpoint(
            path, module_class, checkpoint_kwargs=args.init_args, weights_only=not args.unsafe_load
        )
    except (OSError, TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from err


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from experiments.studies.robustness import (
        DIGITS_FGSM_EPS,
        DIGITS_PGD_EPS,
        DIGITS_PGDL2_EPS,
        robustness_test_data,
    )
    from lightning_mixup.data import SklearnDataModule
    from lightning_mixup.evaluation import evaluate_robustness

    module_class = load_class(args.module)
    model = load_model(args.checkpoint, module_class, args)
    source = load_model(args.transfer_from, module_class, args) if args.transfer_from else None
    dm = SklearnDataModule(args.dataset)
    dm.setup("test")
    loader, space = robustness_test_data(dm)
    mean = args.normalize_mean if args.normalize_mean is not None else space["normalize_mean"]
    std = args.normalize_std if args.normalize_std is not None else space["normalize_std"]
    result = evaluate_robustness(
        model,
        loader,
        num_classes=dm.num_classes,
        fgsm_eps=args.fgsm_eps if args.fgsm_eps is not None else DIGITS_FGSM_EPS,
        pgd_eps=args.pgd_eps if args.pgd_eps is not None else DIGITS_PGD_EPS,
        pgdl2_eps=args.pgdl2_eps if args.pgdl2_eps is not None else DIGITS_PGDL2_EPS,
        pgd_steps=args.pgd_steps,
        pgd_restarts=args.pgd_restarts,
        autoattack_eps=args.autoattack_eps,
        autoattack_version=args.autoattack_version,
        transfer_from=source,
        normalize_mean=mean,
        normalize_std=std,
        seed=args.seed,
        trainer_kwargs={"accelerator": args.accelerator, "enable_progress_bar": not args.no_progress},
    )
    print(result.summary())
    for check in result.sanity:
        status = {True: "ok  ", False: "FAIL", None: "n/a "}[check.passed]
        print(f"  [{status}] {check.name}: {check.detail}")
    if args.out:
        payload = {"checkpoint": str(args.checkpoint), "transfer_from": args.transfer_from, "dataset": args.dataset,
                   "input_space": space["space"], **result.to_dict(include_flags=args.flags)}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.out}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
