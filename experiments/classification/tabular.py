r"""ERM against mixup on tabular data: 43 KEEL tables and scikit-learn's four, 10-fold cross-validation, two settings.

The claim (Zhang et al. 2018, §3.4, Table 4): on six UCI datasets, "mixup improves the average test error on four
out of the six considered datasets, and never underperforms ERM", with a fully connected network of two hidden
layers of 128 ReLU units, Adam with default hyperparameters, batch size 16, 10 epochs.

Protocol, per dataset (:class:`~experiments.data.tabular.TabularFoldsDataModule`'s folds and preprocessing):

- For every fold, one initialisation of the paper's network (``build_backbone("mlp")``, seeded per fold) is copied
  into the ERM arm and one arm per α ∈ {0.1, 0.2, 0.4, 1.0}; all arms share the data order (one order seed per fold)
  and train with the same optimiser and budget; only the mixing differs. The mixing draws come from the
  callback's per-batch stream (one mixing seed per fold). Training runs on the batched engine
  (:mod:`experiments.classification.engine`), which a test checks against ``Trainer`` + ``MixupCallback``.
- Two settings: ``paper`` (Adam lr 1e-3, batch 16, 10 epochs, as in the paper) and ``converged`` (the same, with
  early stopping on the inner validation split's cross-entropy, keeping each run's best check; see
  :data:`CONVERGED`).
- The headline mixup arm picks α per fold on the inner validation split (highest validation accuracy, ties to the
  lower validation NLL); the fixed-α arms are reported too.
- Metrics on the fold's test rows: accuracy, NLL, ECE (15 and 100 bins), and ECE/NLL after temperature scaling
  fitted on the inner validation split.

References:
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from experiments.classification.engine import PAPER_ALPHA, RunSpec, evaluate_logits, fit_batched
from experiments.classification.metrics import evaluate_logits as score
from experiments.classification.metrics import reliability
from experiments.data.tabular import KEEL_DATASETS, SKLEARN_DUPLICATES, SKLEARN_TABLES, load_table, split_fold
from experiments.stats import (
    TIE,
    PairedTest,
    corrected_resampled_ttest,
    count_verdicts,
    wilcoxon_signed_rank,
    win_tie_loss,
)
from lightning_mixup.engine import batch_seed
from lightning_mixup.models import build_backbone

ALPHAS: tuple[float, ...] = (0.1, 0.2, 0.4, 1.0)
ERM = "erm"
SELECTED = "selected"
#: Issue #25's methods, each one arm at its paper's defaults (:data:`~experiments.classification.engine.PAPER_ALPHA`:
#: RegMixup α = 20, kernel warping α = 1 with τ_max = 1, τ_std = 0.25, MIT α = 1); the arm is named after the method.
METHODS: tuple[str, ...] = ("regmixup", "kernel_warping", "mixup_inference_training")


@dataclass(frozen=True)
class Setting:
    """A training setting: optimiser budget and stopping rule."""

    name: str
    epochs: int
    batch_size: int = 16
    lr: float = 1e-3
    patience: int | None = None
    max_steps: int | None = None
    val_every: int | None = None
    hidden: int = 128


PAPER = Setting("paper", epochs=10)
#: Early stopping on the inner validation cross-entropy, checked at the end of every epoch and every 500 steps,
#: patience 5 checks, at most 100 epochs and 5,000 steps (the cap can end runs on the larger tables first: each
#: dataset reports ``capped_runs``).
CONVERGED = Setting("converged", epochs=100, patience=5, max_steps=5000, val_every=500)
SETTINGS = {s.name: s for s in (PAPER, CONVERGED)}


def arm_name(alpha: float, method: str = "mixup") -> str:
    """``"erm"`` for α = 0, the α as text (``"0.4"``) for mixup, else the method's name."""
    if method != "mixup":
        return method
    return ERM if alpha == 0 else f"{alpha:g}"


def dataset_ids(keel: Sequence[str] | None = None, sklearn: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """``(source, name)`` pairs: every KEEL table and every sklearn table by default."""
    keel = KEEL_DATASETS if keel is None else keel
    sklearn = SKLEARN_TABLES if sklearn is None else sklearn
    return [("keel", n) for n in keel] + [("sklearn", n) for n in sklearn]


def run_dataset(
    source: str,
    name: str,
    setting: Setting,
    *,
    folds: Sequence[int] = tuple(range(10)),
    alphas: Sequence[float] = ALPHAS,
    methods: Sequence[str] = (),
    seed: int = 0,
    val_fraction: float = 0.1,
    keep_logits: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train and score ERM, every α and every method of :data:`METHODS` asked for on every fold, in one batched fit.

    Every arm of a fold starts from the same initialisation and sees the same data order; the methods run at their
    papers' α (:data:`~experiments.classification.engine.PAPER_ALPHA`).

    Returns:
        ``{"dataset", "source", "name", "setting", "folds": [{"fold", "n_train", "n_val", "n_test", "best_step",
        "arms": {arm: metrics}, "selected_alpha"}], "seconds", "steps_run", "steps_per_epoch", "capped_runs"}``; with
        ``keep_logits`` also ``"reliability"``: pooled reliability bins per arm.
    """
    start = time.perf_counter()
    table = load_table(name, source)  # type: ignore[arg-type]
    splits = [split_fold(table, k, val_fraction=val_fraction, split_seed=seed) for k in folds]
    arm_specs = [(a, "mixup") for a in (0.0, *alphas)] + [(PAPER_ALPHA[m], m) for m in methods]
    modules, runs = [], []
    for i, fold in enumerate(folds):
        torch.manual_seed(batch_seed(seed, 1, fold))
        net = build_backbone("mlp", (table.num_features,), table.num_classes, hidden=setting.hidden)
        for alpha, method in arm_specs:
            modules.append(copy.deepcopy(net))
            runs.append(RunSpec(data=i, alpha=alpha, mix_seed=1000 * seed + fold, order_seed=1000 * seed + fold,
                                method=method))  # fmt: skip
    result = fit_batched(
        modules,
        runs,
        [s.train for s in splits],
        epochs=setting.epochs,
        batch_size=min(setting.batch_size, min(len(s.train[1]) for s in splits)),
        lr=setting.lr,
        val_sets=[s.val for s in splits] if setting.patience is not None else None,
        patience=setting.patience,
        max_steps=setting.max_steps,
        val_every=setting.val_every,
        device=device,
    )
    test_logits = evaluate_logits(result, [splits[r.data].test[0] for r in runs])
    val_logits = evaluate_logits(result, [splits[r.data].val[0] for r in runs])
    fold_rows: list[dict[str, Any]] = []
    bins: dict[str, list[Any]] = {}
    for i, fold in enumerate(folds):
        split = splits[i]
        arms: dict[str, dict[str, float]] = {}
        best_step: dict[str, int] = {}
        for j, run in enumerate(runs):
            if run.data != i:
                continue
            arm = arm_name(run.alpha, run.method)
            arms[arm] = score(test_logits[j], split.test[1], val_logits[j], split.val[1], table.num_classes)
            best_step[arm] = result.best_step[j]
            if keep_logits:
                bins.setdefault(arm, []).append(reliability(test_logits[j], split.test[1]))
        selected = select_alpha(arms, alphas)
        arms[SELECTED] = dict(arms[arm_name(selected)])
        fold_rows.append({
            "fold": fold, "n_train": len(split.train[1]), "n_val": len(split.val[1]), "n_test": len(split.test[1]),
            "best_step": best_step, "arms": arms, "selected_alpha": selected,
        })  # fmt: skip
    out: dict[str, Any] = {
        "dataset": f"{source}/{name}", "source": source, "name": name, "setting": asdict(setting),
        "num_features": table.num_features, "num_classes": table.num_classes, "num_examples": len(table.y),
        "folds": fold_rows, "steps_run": result.steps_run, "steps_per_epoch": result.steps_per_epoch,
        "capped_runs": int(setting.patience is not None) * sum(not s for s in result.stopped),
        "seconds": time.perf_counter() - start,
    }  # fmt: skip
    if keep_logits:
        out["reliability"] = bins
    return out


def select_alpha(arms: dict[str, dict[str, float]], alphas: Sequence[float]) -> float:
    """The α with the highest validation accuracy, ties broken by the lower validation NLL, then the smaller α.

    Example:
        >>> select_alpha({"0.1": {"val_accuracy": 0.9, "val_nll": 0.3}, "1": {"val_accuracy": 0.9, "val_nll": 0.2}},
        ...              [0.1, 1.0])
        1.0
    """

    def key(alpha: float) -> tuple[float, float, float]:
        m = arms[arm_name(alpha)]
        acc, nll = m.get("val_accuracy", math.nan), m.get("val_nll", math.nan)
        return (-(acc if math.isfinite(acc) else -1.0), nll if math.isfinite(nll) else math.inf, alpha)

    return min(alphas, key=key)


METRICS = {  # metric: higher is better?
    "accuracy": True,
    "nll": False,
    "ece15": False,
    "ece100": False,
    "ts_ece15": False,
    "ts_nll": False,
    "aurc": False,
}


def compare(dataset: dict[str, Any], arm: str, metric: str = "accuracy") -> dict[str, Any]:
    """Per-fold differences ``arm − ERM`` of one metric on one dataset, with the corrected resampled t-test."""
    diffs = [f["arms"][arm][metric] - f["arms"][ERM][metric] for f in dataset["folds"]]
    ratio = float(np.mean([f["n_test"] / f["n_train"] for f in dataset["folds"]]))
    test = corrected_resampled_ttest(diffs, ratio)
    return {
        "differences": diffs,
        "erm_mean": float(np.mean([f["arms"][ERM][metric] for f in dataset["folds"]])),
        "arm_mean": float(np.mean([f["arms"][arm][metric] for f in dataset["folds"]])),
        "test": test.to_dict(),
        "verdict": test.verdict(higher_is_better=METRICS.get(metric, True)),
    }


def summarise(datasets: Sequence[dict[str, Any]], arms: Sequence[str], metric: str = "accuracy") -> dict[str, Any]:
    """Across datasets, per arm: per-dataset comparisons, verdict counts, win/tie/loss, sign and Wilcoxon tests."""
    higher = METRICS.get(metric, True)
    out: dict[str, Any] = {}
    for arm in arms:
        rows = {d["dataset"]: compare(d, arm, metric) for d in datasets}
        means = [r["test"]["mean"] for r in rows.values()]
        oriented = [m if higher else -m for m in means]
        tests = [PairedTest(**{k: (v if v is not None else math.nan) for k, v in r["test"].items()})
                 for r in rows.values()]  # fmt: skip
        out[arm] = {
            "per_dataset": rows,
            "verdicts": count_verdicts(tests, higher_is_better=higher),
            "win_tie_loss": win_tie_loss(oriented).to_dict(),
            "wilcoxon": wilcoxon_signed_rank(oriented).to_dict() if means else None,
            "mean_difference": float(np.mean(means)) if means else math.nan,
        }
    return out


def counted(datasets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The datasets that count in across-dataset tests: every KEEL table, and sklearn tables that are not duplicates."""
    keel = {d["name"] for d in datasets if d["source"] == "keel"}
    return [d for d in datasets if d["source"] == "keel" or SKLEARN_DUPLICATES.get(d["name"]) not in keel]


def verdict_sentence(summary: dict[str, Any], n: int) -> str:
    """The paper's claim restated as counts: significantly better / worse / indistinguishable."""
    v = summary["verdicts"]
    wtl = summary["win_tie_loss"]
    return (
        f"mixup is significantly better on {v['better']}, significantly worse on {v['worse']} and indistinguishable "
        f"on {v[TIE]} of {n} datasets (corrected resampled t-test, p < 0.05); lower mean test error on "
        f"{wtl['wins']}, equal on {wtl['ties']}, higher on {wtl['losses']} (sign test p = {wtl['sign_test_p']:.3g}"
        + (f", Wilcoxon p = {summary['wilcoxon']['p']:.3g}" if summary.get("wilcoxon") else "")
        + ")"
    )
