"""Cost and strength of the robustness evaluation's attacks: FGSM ε-sweep, PGD (with restarts), AutoAttack, transfer.

Every ratio is measured side by side in one run: the variants are interleaved round by round and each is
summarised by its median, so drifting machine load hits all of them alike. Model: the digits CNN of
``lightning_mixup.models`` (two 3×3 convolutions, 32 and 64 channels), briefly trained; data: the 360 digits of the
fixed test split, as one batch (as the study evaluates them).

    python -m benchmarks.bench_attacks            # full run, writes benchmarks/results/robustness.{json,md}
    python -m benchmarks.bench_attacks --quick    # a few seconds, for a smoke test

Targets (issue #5):

- FGSM over 8 values of ε needs one input gradient per batch, not 8: the sweep's attack cost (one torchattacks
  FGSM call + recovering the sign + 8 clamped steps) ≤ 1.3× one torchattacks FGSM call, with accuracies equal to
  running torchattacks' FGSM at each ε (checked here and in the tests). The 8 classification forward passes that
  score the 8 adversarial batches cannot be shared; the full 8-ε evaluation is reported against its floor (one
  attack + 8 forwards) and against 8 separate FGSM evaluations.
- PGD throughput within 5 % of a hand-written PGD loop: the evaluator's PGD path for one run (torchattacks PGD
  through the evaluator's input wrapper) and bare torchattacks PGD, both against the same loop written by hand; and
  the cost of the default PGD (a run from the clean input, then one random restart on what is still unbroken).

Strength and cost of the stronger attacks (issue #11):

- PGD not weaker than FGSM: on the bundled tables (iris, wine, breast cancer; ERM and mixup MLPs, 5 seeds, inputs
  min-max rescaled to [0, 1] with the training split's range as the robustness study does), each PGD variant is
  run with 8 random seeds at 5 values of ε, and the cells where PGD leaves more than one example (or 1 %) more
  correct than FGSM are counted (full run only).
- AutoAttack per version (standard, fast) on a subset of the digits test set, against PGD at the same ε; and the
  transfer attacks (FGSM and PGD crafted on a second digits CNN) against the white-box ones.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
import torchattacks
from torch import Tensor, nn
from tqdm import tqdm

from benchmarks.common import interleaved_medians, markdown_table, write_results
from lightning_mixup.data import SklearnDataModule
from lightning_mixup.evaluation import AttackModel, AttackSuite, build_autoattack, evaluate_robustness, fgsm_eps_sweep
from lightning_mixup.evaluation.attacks import as_attack_input, seeded_rng
from lightning_mixup.models import build_backbone

RESULTS = Path(__file__).parent / "results"
EPS8 = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]


def digits_model_and_data(epochs: int, seed: int = 0) -> tuple[nn.Module, Tensor, Tensor]:
    dm = SklearnDataModule("digits", batch_size=64)
    dm.setup("fit")
    torch.manual_seed(seed)
    model = build_backbone("cnn", (1, 8, 8), 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for x, y in dm.train_dataloader():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    x, y = dm.test_set.tensors  # type: ignore[union-attr]
    return model.eval(), x, y


def hand_pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int) -> Tensor:
    """The PGD loop written by hand (L∞, random start), with the same operations as torchattacks."""
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1).detach()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * grad.sign()
        adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1).detach()
    return adv


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def bench_fgsm(model: nn.Module, x: Tensor, y: Tensor, rounds: int) -> dict[str, object]:
    one = torchattacks.FGSM(model, eps=0.1)
    reference = torchattacks.FGSM(model, eps=max(EPS8))
    per_eps = [torchattacks.FGSM(model, eps=e) for e in EPS8]

    def classify(adv: Tensor) -> Tensor:
        with torch.no_grad():
            return model(adv).argmax(1)

    fns: dict[str, Callable[[], object]] = {
        "forward (classify one batch)": lambda: classify(x),
        "torchattacks FGSM, one ε (attack only)": lambda: one(x, y),
        "sweep, 8 ε (attack only)": lambda: fgsm_eps_sweep(reference, x, y, EPS8),
        "one ε evaluated (attack + classify)": lambda: classify(one(x, y)),
        "sweep, 8 ε evaluated (attack + 8 classify)": lambda: [
            classify(a) for a in fgsm_eps_sweep(reference, x, y, EPS8)
        ],
        "8 × torchattacks FGSM evaluated": lambda: [classify(a(x, y)) for a in per_eps],
    }
    ms = interleaved_medians(fns, rounds, "FGSM")
    sweep_acc = [accuracy(model, a, y) for a in fgsm_eps_sweep(reference, x, y, EPS8)]
    direct_acc = [accuracy(model, a(x, y), y) for a in per_eps]
    equal_inputs = all(
        torch.equal(a, b(x, y)) for a, b in zip(fgsm_eps_sweep(reference, x, y, EPS8), per_eps, strict=True)
    )
    floor = ms["torchattacks FGSM, one ε (attack only)"] + 8 * ms["forward (classify one batch)"]
    return {
        "eps": EPS8,
        "median_ms": {k: round(v * 1e3, 3) for k, v in ms.items()},
        "ratios": {
            "sweep attack / one FGSM attack (target <= 1.3)": round(
                ms["sweep, 8 ε (attack only)"] / ms["torchattacks FGSM, one ε (attack only)"], 3
            ),
            "sweep evaluation / one-ε evaluation": round(
                ms["sweep, 8 ε evaluated (attack + 8 classify)"] / ms["one ε evaluated (attack + classify)"], 3
            ),
            "sweep evaluation / floor (one attack + 8 forwards)": round(
                ms["sweep, 8 ε evaluated (attack + 8 classify)"] / floor, 3
            ),
            "8 separate FGSM evaluations / sweep evaluation (speed-up)": round(
                ms["8 × torchattacks FGSM evaluated"] / ms["sweep, 8 ε evaluated (attack + 8 classify)"], 3
            ),
        },
        "accuracy_sweep": [round(a, 6) for a in sweep_acc],
        "accuracy_torchattacks_per_eps": [round(a, 6) for a in direct_acc],
        "accuracies_equal": sweep_acc == direct_acc,
        "adversarial_inputs_bitwise_equal": equal_inputs,
    }


def bench_pgd(model: nn.Module, x: Tensor, y: Tensor, rounds: int, eps: float = 0.1, steps: int = 10) -> dict:
    alpha = 2.5 * eps / steps
    bare = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    wrapped = AttackModel(model).eval()
    wrapped.sample_shape = tuple(x.shape[1:])
    one_run = AttackSuite(wrapped, torch.device("cpu"), pgd_eps=[eps], pgd_steps=steps, pgd_clean_start=False)
    default = AttackSuite(wrapped, torch.device("cpu"), pgd_eps=[eps], pgd_steps=steps)

    def evaluator_path(suite: AttackSuite) -> Tensor:
        with torch.enable_grad():
            return next(iter(suite.run(x, y)))[2]

    fns: dict[str, Callable[[], object]] = {
        "hand-written PGD loop": lambda: hand_pgd(model, x, y, eps, alpha, steps),
        "torchattacks PGD": lambda: bare(x, y),
        "evaluator PGD, one random-start run": lambda: evaluator_path(one_run),
        "evaluator PGD, default (clean start + 1 restart on the unbroken)": lambda: evaluator_path(default),
    }
    ms = interleaved_medians(fns, rounds, "PGD")
    with seeded_rng(0, torch.device("cpu")):
        by_hand = hand_pgd(model, x, y, eps, alpha, steps)
    with seeded_rng(0, torch.device("cpu")):
        by_torchattacks = bare(x, y)
    with seeded_rng(0, torch.device("cpu")):
        by_default = evaluator_path(default)
    hand = ms["hand-written PGD loop"]
    fgsm = torchattacks.FGSM(model, eps=eps)(x, y)
    return {
        "eps": eps,
        "steps": steps,
        "step_size": alpha,
        "median_ms": {k: round(v * 1e3, 3) for k, v in ms.items()},
        "ratios": {
            "evaluator PGD (one run) / hand-written loop (target within 5 %)": round(
                ms["evaluator PGD, one random-start run"] / hand, 3
            ),
            "torchattacks PGD / hand-written loop": round(ms["torchattacks PGD"] / hand, 3),
            "default PGD / one run": round(
                ms["evaluator PGD, default (clean start + 1 restart on the unbroken)"]
                / ms["evaluator PGD, one random-start run"],
                3,
            ),
        },
        "same_adversarial_inputs_as_hand_loop": bool(torch.equal(by_hand, by_torchattacks)),
        "accuracy": {
            "fgsm": round(accuracy(model, fgsm, y), 4),
            "pgd, one random-start run (hand loop)": round(accuracy(model, by_hand, y), 4),
            "pgd, default": round(accuracy(model, by_default, y), 4),
        },
    }


def bench_autoattack(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, versions: tuple[str, ...]
) -> dict[str, object]:
    """Seconds and accuracy of AutoAttack per version, and of the default PGD, at one ε (one call each)."""
    wrapped = AttackModel(model).eval()
    wrapped.sample_shape = tuple(x.shape[1:])
    images = as_attack_input(x)
    rows: dict[str, dict[str, object]] = {}
    pgd = AttackSuite(wrapped, torch.device("cpu"), pgd_eps=[eps])
    start = time.perf_counter()
    with torch.enable_grad(), seeded_rng(0, torch.device("cpu")):
        adv = next(iter(pgd.run(images, y)))[2]
    rows["pgd (default)"] = {"seconds": round(time.perf_counter() - start, 2), "accuracy": accuracy(wrapped, adv, y)}
    for version in versions:
        attack, names = build_autoattack(wrapped, eps, num_classes=10, version=version, seed=0)
        start = time.perf_counter()
        with torch.enable_grad(), seeded_rng(0, torch.device("cpu")):
            adv = attack(images, y)
        rows[f"autoattack {version}"] = {
            "seconds": round(time.perf_counter() - start, 2),
            "accuracy": accuracy(wrapped, adv, y),
            "components": names,
        }
    return {"eps": eps, "examples": len(y), "clean_accuracy": accuracy(model, x, y), "attacks": rows}


def bench_transfer(
    model: nn.Module, source: nn.Module, x: Tensor, y: Tensor, eps: tuple[float, ...]
) -> dict[str, object]:
    """The whole evaluator with and without a transfer source: seconds and accuracy per attack."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=512)
    grid = {"fgsm_eps": list(eps), "pgd_eps": list(eps), "pgdl2_eps": [], "trainer_kwargs": {"accelerator": "cpu"}}
    start = time.perf_counter()
    evaluate_robustness(model, loader, num_classes=10, **grid)
    white_s = time.perf_counter() - start
    start = time.perf_counter()
    both = evaluate_robustness(model, loader, num_classes=10, transfer_from=source, **grid)
    both_s = time.perf_counter() - start
    return {
        "eps": list(eps),
        "seconds": {"white-box FGSM + PGD": round(white_s, 2), "with transfer FGSM + PGD": round(both_s, 2)},
        "accuracy": {a: {str(e): round(v, 4) for e, v in c.items()} for a, c in both.robust_accuracy.items()},
        "sanity_passed": both.passed,
        "failed_cells": both.failed_cells,
    }


TABULAR = {"iris": (60, 16), "wine": (60, 16), "breast_cancer": (30, 16)}
STRENGTH_EPS = (0.02, 0.05, 0.1, 0.15, 0.2)
PGD_VARIANTS = {
    "one random start, 10 steps (the former default)": {"pgd_restarts": 1, "pgd_clean_start": False},
    "one random start, 20 steps": {"pgd_restarts": 1, "pgd_clean_start": False, "pgd_steps": 20},
    "clean start + 1 random restart, 10 steps (default)": {},
}


def tabular_models(seeds: int) -> list[tuple[str, str, int, nn.Module, Tensor, Tensor]]:
    """ERM and mixup (α = 1) MLPs on the bundled tables, trained with the plugin, and each test split in [0, 1]."""
    import lightning.pytorch as pl

    from lightning_mixup import MixupCallback
    from lightning_mixup.models import Classifier

    models = []
    for name, (epochs, batch_size) in TABULAR.items():
        dm = SklearnDataModule(name, batch_size=batch_size)
        dm.setup("fit")
        dm.setup("test")
        train_x = dm.train_set.tensors[0].flatten(1)  # type: ignore[union-attr]
        low, width = train_x.min(0).values, (train_x.max(0).values - train_x.min(0).values).clamp_min(1e-6)
        test_x, test_y = dm.test_set.tensors  # type: ignore[union-attr]
        unit = ((test_x - low) / width).clamp(0, 1)
        for seed in range(seeds):
            for method in ("erm", "mixup"):
                pl.seed_everything(seed, verbose=False)
                model = Classifier("mlp", input_shape=list(dm.input_shape), num_classes=dm.num_classes, lr=1e-3)
                callbacks = [MixupCallback(alpha=1.0, seed=seed, log=False)] if method == "mixup" else []
                pl.Trainer(
                    max_epochs=epochs, accelerator="cpu", devices=1, callbacks=callbacks, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                    limit_val_batches=0, num_sanity_val_steps=0,
                ).fit(model, datamodule=dm)  # fmt: skip
                attacked = AttackModel(model.eval(), (-low / width).tolist(), (1 / width).tolist()).eval()
                models.append((name, method, seed, attacked, unit, test_y))
    return models


def bench_pgd_strength(seeds: int = 5, pgd_seeds: int = 8) -> dict[str, object]:
    """Cells where PGD is weaker than FGSM (by more than one example or 1 %), per PGD variant, on the tables."""
    models = tabular_models(seeds)
    failures = dict.fromkeys(PGD_VARIANTS, 0)
    gap = dict.fromkeys(PGD_VARIANTS, 0.0)
    seconds = dict.fromkeys(PGD_VARIANTS, 0.0)
    cells = 0
    for _, _, seed, model, x, y in tqdm(models, desc="PGD strength", leave=False):
        model.sample_shape = tuple(x.shape[1:])
        images = as_attack_input(x)
        tol = max(0.01, 1 / len(y) + 1e-6)
        fgsm = AttackSuite(model, torch.device("cpu"), fgsm_eps=STRENGTH_EPS)
        with torch.enable_grad():
            fgsm_acc = {e: accuracy(model, adv, y) for _, e, adv in fgsm.run(images, y)}
        for pgd_seed in range(pgd_seeds):
            cells += len(STRENGTH_EPS)
            for name, options in PGD_VARIANTS.items():
                suite = AttackSuite(model, torch.device("cpu"), pgd_eps=STRENGTH_EPS, **options)
                start = time.perf_counter()
                with torch.enable_grad(), seeded_rng(1000 * seed + pgd_seed, torch.device("cpu")):
                    pgd_acc = {e: accuracy(model, adv, y) for _, e, adv in suite.run(images, y)}
                seconds[name] += time.perf_counter() - start
                failures[name] += sum(pgd_acc[e] - fgsm_acc[e] > tol for e in STRENGTH_EPS)
                gap[name] += sum(pgd_acc[e] - fgsm_acc[e] for e in STRENGTH_EPS)
    return {
        "datasets": list(TABULAR),
        "models": len(models),
        "eps": list(STRENGTH_EPS),
        "pgd_seeds_per_model": pgd_seeds,
        "cells": cells,
        "cells_pgd_weaker_than_fgsm": failures,
        "mean_pgd_minus_fgsm_accuracy": {k: round(v / cells, 4) for k, v in gap.items()},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def bench_end_to_end(model: nn.Module, x: Tensor, y: Tensor, repeats: int) -> dict[str, object]:
    """The whole evaluator (Trainer, metrics, flags) on the FGSM grid: sweep on and off."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=512)
    times: dict[str, list[float]] = {"fgsm_sweep=True": [], "fgsm_sweep=False": []}
    accuracies: dict[str, dict[float, float]] = {}
    for _ in tqdm(range(repeats), desc="evaluator", leave=False):
        for name in times:
            start = time.perf_counter()
            result = evaluate_robustness(
                model,
                loader,
                num_classes=10,
                fgsm_eps=EPS8,
                pgd_eps=[],
                pgdl2_eps=[],
                fgsm_sweep=name == "fgsm_sweep=True",
                trainer_kwargs={"accelerator": "cpu"},
            )
            times[name].append(time.perf_counter() - start)
            accuracies[name] = result.robust_accuracy["fgsm"]
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return {
        "median_ms": {k: round(v, 1) for k, v in ms.items()},
        "ratio sweep / per-ε torchattacks": round(ms["fgsm_sweep=True"] / ms["fgsm_sweep=False"], 3),
        "accuracies_equal": accuracies["fgsm_sweep=True"] == accuracies["fgsm_sweep=False"],
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke test")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write robustness.json and robustness.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    model, x, y = digits_model_and_data(epochs=1 if args.quick else 5)
    source, _, _ = digits_model_and_data(epochs=1 if args.quick else 5, seed=1)
    subset = 8 if args.quick else 100
    n_transfer = 64 if args.quick else len(y)
    aa_eps, aa_versions = (0.3, ("fast",)) if args.quick else (0.1, ("standard", "fast"))
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        "torch": torch.__version__,
        "torchattacks": torchattacks.__version__,
        "model": "digits CNN (lightning_mixup.models.build_backbone('cnn')), clean accuracy "
        f"{accuracy(model, x, y):.3f}",
        "batch": list(x.shape),
        "fgsm": bench_fgsm(model, x, y, rounds=5 if args.quick else 60),
        "pgd": bench_pgd(model, x, y, rounds=3 if args.quick else 25),
        "evaluator_end_to_end": bench_end_to_end(model, x, y, repeats=1 if args.quick else 7),
        "autoattack": bench_autoattack(model, x[:subset], y[:subset], eps=aa_eps, versions=aa_versions),
        "transfer": bench_transfer(
            model, source, x[:n_transfer], y[:n_transfer], eps=(0.05, 0.1) if args.quick else (0.02, 0.05, 0.1, 0.2)
        ),
        "pgd_strength": None if args.quick else bench_pgd_strength(),
    }
    write_results(args.out, "robustness", result, to_markdown)
    return result


def to_markdown(result: dict) -> str:
    fgsm, pgd, e2e = result["fgsm"], result["pgd"], result["evaluator_end_to_end"]
    aa, transfer, strength = result["autoattack"], result["transfer"], result["pgd_strength"]
    lines = [
        "# Cost and strength of the robustness evaluation (benchmarks/bench_attacks.py)",
        "",
        f"Machine: {result['machine']}; torch {result['torch']}; torchattacks {result['torchattacks']}. "
        f"Model: {result['model']}; batch {'×'.join(map(str, result['batch']))}. Medians of interleaved rounds.",
        "",
        f"## FGSM over 8 ε {fgsm['eps']}",
        "",
        *markdown_table(("variant", "median ms"), fgsm["median_ms"]),
        "",
        *markdown_table(("ratio", "value"), fgsm["ratios"]),
        "",
        f"Accuracies of the sweep equal torchattacks' FGSM at each ε: **{fgsm['accuracies_equal']}** "
        f"(adversarial inputs bitwise equal: {fgsm['adversarial_inputs_bitwise_equal']}); "
        f"accuracy per ε: {fgsm['accuracy_sweep']}.",
        "",
        "The attack part costs one input gradient for all 8 ε. Scoring 8 adversarial batches still takes 8 forward",
        "passes, which no exact method can share, so the full evaluation is compared with its floor (one attack + 8",
        "forwards) and with 8 separate torchattacks FGSM evaluations.",
        "",
        f"## PGD-{pgd['steps']} (L∞, ε = {pgd['eps']}, step {pgd['step_size']:.4g})",
        "",
        *markdown_table(("variant", "median ms"), pgd["median_ms"]),
        "",
        *markdown_table(("ratio", "value"), pgd["ratios"]),
        "",
        *markdown_table(("accuracy at this ε", "value"), pgd["accuracy"]),
        "",
        "Same RNG seed, same adversarial inputs as the hand-written loop: "
        f"{pgd['same_adversarial_inputs_as_hand_loop']}. The default PGD runs once from the clean input, then once",
        "from a random start on the examples still unbroken, and counts an example broken if either run breaks it.",
        "",
    ]
    if strength is not None:
        lines += [
            "## PGD not weaker than FGSM, on the bundled tables",
            "",
            f"{strength['models']} MLPs ({', '.join(strength['datasets'])}; ERM and mixup α = 1; "
            f"{strength['models'] // 6} seeds), ε {strength['eps']} in the [0, 1] box of each feature's training "
            f"range, {strength['pgd_seeds_per_model']} PGD seeds per model: {strength['cells']} cells per variant. "
            "A cell fails when PGD leaves more than one example (or 1 %) more correct than FGSM at that ε.",
            "",
            "| PGD variant | cells failed | mean PGD − FGSM accuracy | seconds, all cells |",
            "|---|---:|---:|---:|",
            *(
                f"| {name} | {strength['cells_pgd_weaker_than_fgsm'][name]} | "
                f"{strength['mean_pgd_minus_fgsm_accuracy'][name]:+.4f} | {strength['seconds'][name]} |"
                for name in strength["cells_pgd_weaker_than_fgsm"]
            ),
            "",
        ]
    lines += [
        f"## AutoAttack (L∞, ε = {aa['eps']}, first {aa['examples']} test digits, one call each)",
        "",
        f"Clean accuracy {aa['clean_accuracy']:.4f}. torchattacks runs APGD for 10 iterations (the reference",
        "implementation: 100); Square's queries are sequential, which dominates on a CPU.",
        "",
        "| attack | components | seconds | accuracy |",
        "|---|---|---:|---:|",
        *(
            f"| {name} | {', '.join(row.get('components', ['clean start + 1 restart']))} | {row['seconds']} | "
            f"{row['accuracy']:.4f} |"
            for name, row in aa["attacks"].items()
        ),
        "",
        "## Transfer attacks (crafted on a second digits CNN, scored on the model), whole evaluator",
        "",
        *markdown_table(("evaluation", "seconds"), transfer["seconds"]),
        "",
        "| attack | " + " | ".join(f"ε={e}" for e in transfer["eps"]) + " |",
        "|---|" + "---:|" * len(transfer["eps"]),
        *(
            f"| {attack} | " + " | ".join(str(curve.get(str(float(e)), "")) for e in transfer["eps"]) + " |"
            for attack, curve in transfer["accuracy"].items()
        ),
        "",
        f"Sanity checks passed: {transfer['sanity_passed']}; failed cells: {transfer['failed_cells'] or 'none'}.",
        "",
        "## Whole evaluator (Trainer, metrics, flags), FGSM on the 8-ε grid",
        "",
        "| variant | median ms |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in e2e["median_ms"].items()),
        "",
        f"Ratio sweep / per-ε torchattacks: {e2e['ratio sweep / per-ε torchattacks']}; accuracies equal: "
        f"{e2e['accuracies_equal']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
