r"""MNIST-1D and digits: ERM against mixup per α, with calibration and FGSM/PGD robustness, and the ERM anchor check.

- *Anchor check.* ERM with the MNIST-1D repository's recipe (Adam lr 1e-2, batch 100, 6,000 steps, the standard
  4,000/1,000 split) must land near the published test accuracies before any mixup effect is believed: CNN 94 %,
  MLP 68 % (paper abstract, https://arxiv.org/abs/2011.14439 v1, and the package README); the repository's
  benchmark notebook prints 92.3 % and 65.1 % at its last step.
- *Study.* The same recipe on 3,500 training examples (500 held out, stratified, as the inner validation split for
  choosing α and fitting the temperature), for ERM and α ∈ {0.1, 0.2, 0.4, 1.0}, paired by seed (same
  initialisation, data order and mixing stream per seed; the batched engine).
- *digits* (scikit-learn, 64 pixel features): the tabular pipeline's folds, the paper's MLP, ``paper`` setting
  with early stopping off, three folds as replicates.
- *Robustness* (:func:`lightning_mixup.evaluation.evaluate_robustness`, torchattacks through the Trainer): FGSM and
  PGD (L∞, 20 steps, step 2.5·ε/20, random start) accuracy over an ε grid. Attacks need a [0, 1] box: digits
  pixels are in [0, 1] (the model's standardisation is folded into ``normalize_mean``/``normalize_std``); MNIST-1D
  signals have no natural box, so they are rescaled with the training split's global minimum and maximum (test
  values outside are clipped, and counted) and ε is a fraction of that range (the range is about 10 standard
  deviations: ε = 0.01 moves every sample by 0.1 standard deviations). A cell whose sanity check fails (PGD weaker
  than FGSM at the same ε by more than one example, or accuracy rising with ε) is flagged and left out of verdicts.
  When :func:`~lightning_mixup.evaluation.evaluate_robustness` accepts ``autoattack_eps`` and ``transfer_from``,
  AutoAttack (its ``"fast"`` version, for the CPU budget) and the paper's black-box setting (examples crafted on a
  separately trained ERM model) are run too.

References:
    - Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D", 2020, https://arxiv.org/abs/2011.14439
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412 (§3.5)
    - Croce & Hein, "Reliable evaluation of adversarial robustness ...", ICML 2020, https://arxiv.org/abs/2003.01690
"""

from __future__ import annotations

import copy
import inspect
import itertools
import logging
import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from experiments.classification import ood
from experiments.classification.engine import PAPER_ALPHA, RunSpec, evaluate_logits, fit_batched
from experiments.classification.metrics import evaluate_logits as score
from experiments.classification.metrics import reliability
from experiments.classification.tabular import ALPHAS, ERM, SELECTED, arm_name, select_alpha
from experiments.data.mnist1d import make_mnist1d
from experiments.data.tabular import load_table, split_fold
from experiments.models import build_backbone
from lightning_mixup.engine import batch_seed
from lightning_mixup.evaluation import evaluate_robustness
from lightning_mixup.evaluation.robustness import RobustnessEvaluator

#: The MNIST-1D repository's recipe (notebooks/train.py; the benchmark notebook runs 6,000 steps).
RECIPE = {"lr": 1e-2, "batch_size": 100, "steps": 6000}
#: Published test accuracies on the standard split: paper abstract (arXiv:2011.14439 v1) and package README; and the
#: repository's benchmark notebook output at step 6,000.
ANCHORS = {
    "mnist1d_cnn": {"published": 0.94, "notebook": 0.923},
    "mnist1d_mlp": {"published": 0.68, "notebook": 0.651},
}
MNIST1D_FGSM_EPS: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
MNIST1D_PGD_EPS: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)
DIGITS_FGSM_EPS: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
DIGITS_PGD_EPS: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
PGD_STEPS = 20
#: AutoAttack's ``"fast"`` version (APGD-CE, APGD-T, Square with 1,000 queries; see lightning_mixup.evaluation.attacks):
#: the standard version's 5,000 Square queries cost minutes per model on a CPU.
AUTOATTACK_VERSION = "fast"
MNIST1D_AUTOATTACK_EPS: tuple[float, ...] = (0.02,)
DIGITS_AUTOATTACK_EPS: tuple[float, ...] = (0.1,)
#: Mixup inference's adaptive attack (EOT-PGD, :mod:`~experiments.classification.ood`): ε of the PGD grids' middle.
MNIST1D_MI_EPS: tuple[float, ...] = (0.0, 0.01, 0.02)
DIGITS_MI_EPS: tuple[float, ...] = (0.0, 0.05, 0.1)


def _tensors(seed: int = 42) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in make_mnist1d(seed).items()}


def _val_split(y: torch.Tensor, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(np.arange(len(y)), test_size=size, stratify=y.numpy(), random_state=seed)
    return torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(val))


def arm_specs(alphas: Sequence[float], methods: Sequence[str] = ()) -> list[tuple[float, str]]:
    """``(α, method)`` of every arm: ERM, mixup per α, then each method at its paper's α."""
    return [(a, "mixup") for a in (0.0, *alphas)] + [(PAPER_ALPHA[m], m) for m in methods]


def _nets(
    arch: str, seeds: Sequence[int], arms: Sequence[float | tuple[float, str]]
) -> tuple[list[nn.Module], list[RunSpec]]:
    modules, runs = [], []
    for s in seeds:
        torch.manual_seed(batch_seed(s, 2, 0))
        net = build_backbone(arch, (40,), 10)  # type: ignore[arg-type]
        for arm in arms:
            alpha, method = arm if isinstance(arm, tuple) else (arm, "mixup")
            modules.append(copy.deepcopy(net))
            runs.append(RunSpec(data=0, alpha=alpha, mix_seed=s, order_seed=s, method=method))
    return modules, runs


def run_anchor(archs: Sequence[str], seeds: Sequence[int], steps: int = RECIPE["steps"]) -> dict[str, Any]:
    """ERM with the repository's recipe on the standard 4,000/1,000 split: test accuracy per architecture and seed."""
    data = _tensors()
    out: dict[str, Any] = {"steps": steps, "seeds": list(seeds), "archs": {}}
    for arch in archs:
        start = time.perf_counter()
        modules, runs = _nets(arch, seeds, [0.0])
        epochs = max(1, math.ceil(steps / (len(data["y"]) // RECIPE["batch_size"])))
        result = fit_batched(modules, runs, [(data["x"], data["y"])], epochs=epochs, batch_size=RECIPE["batch_size"],
                             lr=RECIPE["lr"], max_steps=steps)  # fmt: skip
        logits = evaluate_logits(result, [data["x_test"]] * len(runs))
        acc = [float((lg.argmax(-1) == data["y_test"]).float().mean()) for lg in logits]
        out["archs"][arch] = {"accuracy": acc, "mean": float(np.mean(acc)), **ANCHORS.get(arch, {}),
                              "seconds": time.perf_counter() - start}  # fmt: skip
    return out


def _box(train_x: torch.Tensor) -> tuple[float, float]:
    return float(train_x.min()), float(train_x.max())


def _unit_loader(x: torch.Tensor, y: torch.Tensor, low: float, high: float) -> tuple[DataLoader, int]:
    unit = (x - low) / (high - low)
    clipped = int(((unit < 0) | (unit > 1)).sum())
    return DataLoader(TensorDataset(unit.clamp(0, 1), y), batch_size=500), clipped


def supported_attack_options() -> set[str]:
    """Which optional attack arguments the evaluator accepts (``autoattack_eps``, ``transfer_from``)."""
    names = set(inspect.signature(RobustnessEvaluator.__init__).parameters)
    names |= set(inspect.signature(evaluate_robustness).parameters)
    return {n for n in ("autoattack_eps", "transfer_from") if n in names}


def flag_cells(curves: dict[str, dict[float, float]], num_examples: int, tol: float = 0.01) -> list[str]:
    """Cells ``"attack@ε"`` whose sanity check fails: PGD above FGSM at the same ε, or accuracy rising with ε.

    Example:
        >>> flag_cells({"fgsm": {0.0: 0.9, 0.1: 0.5}, "pgd": {0.0: 0.9, 0.1: 0.6}}, num_examples=100)
        ['pgd@0.1']
    """
    slack = max(tol, 1.0 / max(num_examples, 1) + 1e-6)
    flagged = set()
    fgsm = curves.get("fgsm", {})
    for eps, acc in curves.get("pgd", {}).items():
        if eps > 0 and eps in fgsm and acc > fgsm[eps] + slack:
            flagged.add(f"pgd@{eps:g}")
    for attack, curve in curves.items():
        eps = sorted(curve)
        for a, b in itertools.pairwise(eps):
            if curve[b] > curve[a] + slack:
                flagged.add(f"{attack}@{b:g}")
    return sorted(flagged)


def robustness(
    models: Sequence[nn.Module],
    loader: DataLoader,
    *,
    num_classes: int,
    fgsm_eps: Sequence[float],
    pgd_eps: Sequence[float],
    normalize_mean: list[float] | None,
    normalize_std: list[float] | None,
    seed: int,
    transfer_source: nn.Module | None = None,
    autoattack_eps: Sequence[float] = (),
    pgd_steps: int = PGD_STEPS,
) -> list[dict[str, Any]]:
    """FGSM/PGD (and, when supported, AutoAttack and transfer) accuracy curves of each model, with flagged cells."""
    options = supported_attack_options()
    extra: dict[str, Any] = {}
    if "autoattack_eps" in options and autoattack_eps:
        extra["autoattack_eps"] = list(autoattack_eps)
        extra["autoattack_version"] = AUTOATTACK_VERSION
    if "transfer_from" in options and transfer_source is not None:
        extra["transfer_from"] = transfer_source
    rows = []
    names = ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric", "pytorch_lightning")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    for model in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = evaluate_robustness(
                model, loader, num_classes=num_classes, fgsm_eps=list(fgsm_eps), pgd_eps=list(pgd_eps), pgdl2_eps=[],
                pgd_steps=pgd_steps, normalize_mean=normalize_mean, normalize_std=normalize_std, seed=seed,
                trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False}, **extra,
            )  # fmt: skip
        curves = {a: {float(e): float(v) for e, v in c.items()} for a, c in result.robust_accuracy.items()}
        failed = getattr(result, "failed_cells", {})  # the evaluator's own per-cell verdicts, where it has them
        flagged = set(flag_cells(curves, result.num_examples))
        flagged |= {f"{attack}@{eps:g}" for attack, grid in failed.items() for eps in grid}
        rows.append({
            "clean_accuracy": float(result.clean_accuracy), "curves": curves,
            "flagged": sorted(flagged),
            "failed_checks": [c.name for c in result.failed_checks],
        })  # fmt: skip
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)
    return rows


def run_mnist1d(
    archs: Sequence[str],
    seeds: Sequence[int],
    *,
    alphas: Sequence[float] = ALPHAS,
    steps: int = RECIPE["steps"],
    val_size: int = 500,
    attack: bool = True,
    attack_archs: Sequence[str] | None = None,
    fgsm_eps: Sequence[float] = MNIST1D_FGSM_EPS,
    pgd_eps: Sequence[float] = MNIST1D_PGD_EPS,
    autoattack_eps: Sequence[float] = MNIST1D_AUTOATTACK_EPS,
    methods: Sequence[str] = (),
    mi_eps: Sequence[float] = MNIST1D_MI_EPS,
    attack_methods: bool = True,
) -> dict[str, Any]:
    """ERM, mixup per α and issue #25's methods on MNIST-1D (3,500/500/1,000), paired by seed.

    Every arm is scored, calibrated, OOD-tested (:mod:`~experiments.classification.ood`) and attacked (the methods'
    arms only with ``attack_methods``); mixup inference runs on the ERM and chosen-α models. With ``alphas=()`` only
    ERM and the methods are trained (no α is chosen, no mixup inference): the study runs the methods as a second
    job and merges it (:func:`merge_mnist1d`).
    """
    data = _tensors()
    train_i, val_i = _val_split(data["y"], val_size, 0)
    train, val = (data["x"][train_i], data["y"][train_i]), (data["x"][val_i], data["y"][val_i])
    test = (data["x_test"], data["y_test"])
    low, high = _box(train[0])
    loader, clipped = _unit_loader(*test, low, high)
    width = high - low
    norm_mean, norm_std = [-low / width] * 40, [1.0 / width] * 40
    arms = arm_specs(alphas, methods)
    names = [arm_name(a, m) for a, m in arms]
    ood_sets = ood.mnist1d_ood_sets(test[0], train[0])
    out: dict[str, Any] = {"steps": steps, "seeds": list(seeds), "alphas": list(alphas), "methods": list(methods),
                           "box": [low, high], "clipped_test_values": clipped, "archs": {},
                           "ood_sets": sorted(ood_sets)}  # fmt: skip
    for arch in archs:
        start = time.perf_counter()
        modules, runs = _nets(arch, seeds, arms)
        epochs = max(1, math.ceil(steps / (len(train[1]) // RECIPE["batch_size"])))
        result = fit_batched(modules, runs, [train], epochs=epochs, batch_size=RECIPE["batch_size"], lr=RECIPE["lr"],
                             max_steps=steps)  # fmt: skip
        test_logits = evaluate_logits(result, [test[0]] * len(runs))
        val_logits = evaluate_logits(result, [val[0]] * len(runs))
        ood_logits = {k: evaluate_logits(result, [x] * len(runs)) for k, x in ood_sets.items()}
        per_seed: list[dict[str, Any]] = []
        bins: dict[str, list[Any]] = {}
        trained = [result.module(i) for i in range(len(runs))]
        for k, s in enumerate(seeds):
            metrics = {}
            for j, name in enumerate(names):
                i = k * len(arms) + j
                metrics[name] = score(test_logits[i], test[1], val_logits[i], val[1], 10)
                metrics[name].update(ood.ood_metrics_from_logits(test_logits[i], {o: v[i] for o, v in
                                                                                  ood_logits.items()}))  # fmt: skip
                bins.setdefault(name, []).append(reliability(test_logits[i], test[1]))
            if alphas:
                chosen = select_alpha(metrics, alphas)
                metrics[SELECTED] = dict(metrics[arm_name(chosen)])
                per_seed.append({"seed": s, "arms": metrics, "selected_alpha": chosen})
            else:
                per_seed.append({"seed": s, "arms": metrics})
        entry: dict[str, Any] = {
            "per_seed": per_seed,
            "reliability": bins,
            "train_seconds": time.perf_counter() - start,
        }
        if attack and (attack_archs is None or arch in attack_archs):
            t0 = time.perf_counter()
            source = (
                _transfer_source(arch, train, epochs, steps) if "transfer_from" in supported_attack_options() else None
            )
            attacked = [i for i in range(len(runs)) if attack_methods or arms[i % len(arms)][1] == "mixup"]
            rows = robustness([trained[i] for i in attacked], loader, num_classes=10, fgsm_eps=fgsm_eps,
                              pgd_eps=pgd_eps, normalize_mean=norm_mean, normalize_std=norm_std, seed=0,
                              transfer_source=source, autoattack_eps=autoattack_eps)  # fmt: skip
            entry["robustness"] = [
                {"seed": seeds[i // len(arms)], "arm": names[i % len(arms)], **row}
                for i, row in zip(attacked, rows, strict=True)
            ]
            if mi_eps and alphas:
                unit_val = ((val[0] - low) / width).clamp(0, 1)
                unit_test = next(iter(DataLoader(loader.dataset, batch_size=len(loader.dataset))))
                mean_t, std_t = torch.tensor(norm_mean), torch.tensor(norm_std)
                entry["mixup_inference"] = []
                for k, s in enumerate(seeds):
                    for name in (ERM, arm_name(per_seed[k]["selected_alpha"])):
                        model = trained[k * len(arms) + names.index(name)]
                        found = ood.mi_robustness(model, *unit_test, (unit_val, val[1]), mi_eps, mean=mean_t,
                                                  std=std_t, seed=s)  # fmt: skip
                        entry["mixup_inference"].append({"seed": s, "arm": SELECTED if name != ERM else ERM,
                                                         **found})  # fmt: skip
            entry["attack_seconds"] = time.perf_counter() - t0
        out["archs"][arch] = entry
    return out


def _transfer_source(arch: str, train: tuple[torch.Tensor, torch.Tensor], epochs: int, steps: int) -> nn.Module:
    """A separately trained ERM model (its own seed) that crafts the transferred examples (the paper's black box)."""
    modules, runs = _nets(arch, [10_000], [0.0])
    result = fit_batched(modules, runs, [train], epochs=epochs, batch_size=RECIPE["batch_size"], lr=RECIPE["lr"],
                         max_steps=steps)  # fmt: skip
    return result.module(0)


def run_digits(
    folds: Sequence[int],
    *,
    alphas: Sequence[float] = ALPHAS,
    epochs: int = 30,
    attack: bool = True,
    fgsm_eps: Sequence[float] = DIGITS_FGSM_EPS,
    pgd_eps: Sequence[float] = DIGITS_PGD_EPS,
    autoattack_eps: Sequence[float] = DIGITS_AUTOATTACK_EPS,
    methods: Sequence[str] = (),
    mi_eps: Sequence[float] = DIGITS_MI_EPS,
    attack_methods: bool = True,
) -> dict[str, Any]:
    """ERM, mixup per α and issue #25's methods on scikit-learn digits (MLP, batch 16, Adam 1e-3), paired by fold.

    Every arm is scored, OOD-tested and attacked in pixel space [0, 1]; mixup inference runs on the ERM and chosen-α
    models.
    """
    start = time.perf_counter()
    table = load_table("digits", "sklearn")
    splits = [split_fold(table, k) for k in folds]
    arms = arm_specs(alphas, methods)
    names = [arm_name(a, m) for a, m in arms]
    modules, runs = [], []
    for i, fold in enumerate(folds):
        torch.manual_seed(batch_seed(0, 1, fold))
        net = build_backbone("mlp", (64,), 10)
        for alpha, method in arms:
            modules.append(copy.deepcopy(net))
            runs.append(RunSpec(data=i, alpha=alpha, mix_seed=fold, order_seed=fold, method=method))
    result = fit_batched(modules, runs, [s.train for s in splits], epochs=epochs, batch_size=16, lr=1e-3)
    test_logits = evaluate_logits(result, [splits[r.data].test[0] for r in runs])
    val_logits = evaluate_logits(result, [splits[r.data].val[0] for r in runs])
    ood_sets = [
        ood.digits_ood_sets(s.test[0], s.test[1], s.train[0], s.mean, s.std, seed=fold)
        for s, fold in zip(splits, folds, strict=True)
    ]
    ood_logits = {o: evaluate_logits(result, [ood_sets[r.data][o] for r in runs]) for o in ood_sets[0]}
    per_fold = []
    for i, fold in enumerate(folds):
        metrics = {}
        for j, name in enumerate(names):
            k = i * len(arms) + j
            s = splits[i]
            metrics[name] = score(test_logits[k], s.test[1], val_logits[k], s.val[1], 10)
            metrics[name].update(ood.ood_metrics_from_logits(test_logits[k], {o: v[k] for o, v in ood_logits.items()}))
        chosen = select_alpha(metrics, alphas)
        metrics[SELECTED] = dict(metrics[arm_name(chosen)])
        per_fold.append({"fold": fold, "arms": metrics, "selected_alpha": chosen})
    out: dict[str, Any] = {"folds": list(folds), "epochs": epochs, "per_fold": per_fold, "methods": list(methods),
                           "ood_sets": sorted(ood_sets[0]), "train_seconds": time.perf_counter() - start}  # fmt: skip
    if attack:
        t0 = time.perf_counter()
        rows = []
        mi_rows: list[dict[str, Any]] = []
        for i, fold in enumerate(folds):
            s = splits[i]
            pixels = s.test[0] * s.std + s.mean  # back to 0..16
            loader = DataLoader(TensorDataset((pixels / 16).clamp(0, 1), s.test[1]), batch_size=500)
            models = [result.module(i * len(arms) + j) for j in range(len(arms))]
            attacked = [j for j in range(len(arms)) if attack_methods or arms[j][1] == "mixup"]
            found = robustness([models[j] for j in attacked], loader, num_classes=10, fgsm_eps=fgsm_eps,
                               pgd_eps=pgd_eps, normalize_mean=(s.mean / 16).tolist(),
                               normalize_std=(s.std / 16).tolist(), seed=fold,
                               autoattack_eps=autoattack_eps)  # fmt: skip
            rows += [{"fold": fold, "arm": names[j], **row} for j, row in zip(attacked, found, strict=True)]
            if mi_eps:
                unit_val = ((s.val[0] * s.std + s.mean) / 16).clamp(0, 1)
                unit_test = ((s.test[0] * s.std + s.mean) / 16).clamp(0, 1)
                for name in (ERM, arm_name(per_fold[i]["selected_alpha"])):
                    found_mi = ood.mi_robustness(models[names.index(name)], unit_test, s.test[1], (unit_val, s.val[1]),
                                                 mi_eps, mean=s.mean / 16, std=s.std / 16, seed=fold)  # fmt: skip
                    mi_rows.append({"fold": fold, "arm": SELECTED if name != ERM else ERM, **found_mi})
        out["robustness"] = rows
        out["mixup_inference"] = mi_rows
        out["attack_seconds"] = time.perf_counter() - t0
    return out


def merge_mnist1d(mixup_part: dict[str, Any], methods_part: dict[str, Any]) -> dict[str, Any]:
    """Merge a methods-only :func:`run_mnist1d` result (``alphas=()``) into the mixup one, arch by arch.

    Seed by seed, the methods' metrics join the arms (ERM is trained identically in both), their robustness rows and
    reliability bins are appended, and the times add up.
    """
    merged = {**mixup_part, "methods": methods_part.get("methods", []), "archs": dict(mixup_part["archs"])}
    for arch, extra in methods_part["archs"].items():
        if arch not in merged["archs"]:
            continue
        entry = dict(merged["archs"][arch])
        by_seed = {r["seed"]: r for r in extra["per_seed"]}
        entry["per_seed"] = [
            {**r, "arms": {**r["arms"], **{k: v for k, v in by_seed[r["seed"]]["arms"].items() if k != ERM}}}
            for r in entry["per_seed"]
        ]
        entry["reliability"] = {**entry.get("reliability", {}),
                                **{k: v for k, v in extra.get("reliability", {}).items() if k != ERM}}  # fmt: skip
        if "robustness" in extra:
            entry["robustness"] = [*entry.get("robustness", []), *(r for r in extra["robustness"] if r["arm"] != ERM)]
        for key in ("train_seconds", "attack_seconds"):
            if key in extra:
                entry[key] = entry.get(key, 0.0) + extra[key]
        merged["archs"][arch] = entry
    return merged


def anchor_ok(anchor: dict[str, Any], arch: str, tolerance: float = 0.04) -> bool:
    """Whether our ERM lands within ``tolerance`` of the notebook's or the published accuracy (the lower one)."""
    entry = anchor["archs"][arch]
    reference = min(entry.get("notebook", math.inf), entry.get("published", math.inf))
    return bool(entry["mean"] >= reference - tolerance)


__all__ = ["ANCHORS", "ERM", "RECIPE", "anchor_ok", "run_anchor", "run_digits", "run_mnist1d"]
