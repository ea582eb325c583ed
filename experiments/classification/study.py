r"""The classification study end to end: run every part, judge every claim, write JSON, Markdown and plots.

``run(config, out)`` runs the tabular cross-validation (in ``config.workers`` processes), MNIST-1D (anchor check,
study, calibration, robustness) and digits (robustness), and writes to ``out``:

- ``classification.json``: the configuration, machine, wall times and every per-fold / per-seed number;
- ``CLASSIFICATION.md``: the claims table, the headline tables and the notes on how our setting differs;
- plots: per-dataset differences with their intervals, win/tie/loss, reliability diagrams, accuracy against ε.

Verdict rules (one line each in the report):

- *Tabular error* (paper: "improves on 4 of 6 datasets, never underperforms"): *agrees* when the Wilcoxon test over
  datasets favours mixup (p < 0.05) and no dataset is significantly worse; *disagrees* when the Wilcoxon test favours
  ERM, or more datasets are significantly worse than better; otherwise *inconclusive*.
- *Calibration*: the same rule on ECE (15 bins), where lower is better.
- *Robustness* (paired over seeds or folds, 95 % t-interval per ε, flagged cells left out): FGSM *agrees* when most
  ε > 0 favour mixup, *disagrees* when most favour ERM; PGD ("little or no gain") *agrees* when no ε shows a
  significant difference.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from experiments.classification import mnist1d as m1d
from experiments.classification import tabular as tab
from experiments.paths import repo_relative_files
from experiments.stats import BETTER, TIE, WORSE

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"
DEMO_KEEL = ("iris", "wine", "wdbc", "sonar", "ionosphere", "pima", "heart", "bupa", "tae", "hayes-roth")


@dataclass
class Config:
    """What to run. :data:`DEMO` and :data:`FULL` are the two used by ``make demo`` and ``make study``."""

    keel: tuple[str, ...] = tab.KEEL_DATASETS
    sklearn: tuple[str, ...] = tab.SKLEARN_TABLES
    settings: tuple[str, ...] = ("paper", "converged")
    folds: tuple[int, ...] = tuple(range(10))
    alphas: tuple[float, ...] = tab.ALPHAS
    methods: tuple[str, ...] = tab.METHODS
    method_attacks: bool = True  # FGSM/PGD/AutoAttack on the methods' arms too (the demo leaves them out)
    mnist1d_archs: tuple[str, ...] = ("mnist1d_cnn", "mnist1d_mlp")
    mnist1d_seeds: tuple[int, ...] = (0, 1, 2)
    mnist1d_steps: int = 6000
    anchor_archs: tuple[str, ...] = ("mnist1d_cnn", "mnist1d_mlp")
    anchor_seeds: tuple[int, ...] = (0, 1, 2)
    attack_archs: tuple[str, ...] = ("mnist1d_cnn", "mnist1d_mlp")
    digits_folds: tuple[int, ...] = (0, 1, 2)
    digits_epochs: int = 30
    digits_attack: bool = True
    autoattack: bool = True
    workers: int = 2
    regression_tables: tuple[str, ...] | None = None  # None: every table of experiments.regression.data
    regression_folds: tuple[int, ...] | None = None  # None: all 10 folds
    regression_steps: int = 600
    name: str = "full"
    notes: list[str] = field(default_factory=list)


FULL = Config()
DEMO = Config(
    keel=DEMO_KEEL, sklearn=(), settings=("paper",), mnist1d_archs=("mnist1d_cnn",), mnist1d_seeds=(0, 1, 2),
    mnist1d_steps=1000, anchor_archs=(), anchor_seeds=(), attack_archs=("mnist1d_cnn",), digits_folds=(0, 1, 2),
    digits_epochs=10, regression_folds=(0, 1), method_attacks=False, name="demo",
    notes=["`make demo` runs a subset: 10 small KEEL tables in the paper's setting only, MNIST-1D's CNN with 3 seeds "
           "and 1,000 steps (a sixth of the recipe, so its accuracy is below the anchor), digits with 3 folds and 10 "
           "epochs; issue #25's methods are trained and scored everywhere but attacked only in the study (mixup "
           "inference is); regression on folds 0 and 1 of every table; `make study` runs everything."],
)  # fmt: skip


def machine() -> str:
    """The machine, in words."""
    cpu = platform.processor() or platform.machine()
    python = platform.python_version()
    return f"{os.cpu_count()} CPU cores ({cpu}), {platform.system()}, Python {python}, torch {torch.__version__}"


def _job(job: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any], float, float]:
    """One unit of work, run in a worker process with one torch thread: ``(job, result, seconds, CPU seconds)``."""
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    kind, args = job[0], job[1:]
    if kind == "tabular":
        source, name, setting, folds, alphas, methods = args
        result = tab.run_dataset(source, name, tab.SETTINGS[setting], folds=folds, alphas=alphas, methods=methods,
                                 keep_logits=True)  # fmt: skip
    elif kind == "anchor":
        arch, seeds = args
        result = m1d.run_anchor([arch], seeds)
    elif kind == "mnist1d":
        arch, seeds, alphas, steps, attack, autoattack, methods = args
        aa = m1d.MNIST1D_AUTOATTACK_EPS if autoattack else ()
        result = m1d.run_mnist1d([arch], seeds, alphas=alphas, steps=steps, attack=attack, autoattack_eps=aa,
                                 methods=methods, mi_eps=m1d.MNIST1D_MI_EPS if alphas else ())  # fmt: skip
    elif kind == "digits":
        folds, alphas, epochs, attack, autoattack, methods, attack_methods = args
        aa = m1d.DIGITS_AUTOATTACK_EPS if autoattack else ()
        result = m1d.run_digits(folds, alphas=alphas, epochs=epochs, attack=attack, autoattack_eps=aa, methods=methods,
                                attack_methods=attack_methods)  # fmt: skip
    else:  # pragma: no cover - a programming error
        raise ValueError(f"Unknown job kind {kind!r}.")
    return job, result, time.perf_counter() - start, time.process_time() - cpu


def jobs(config: Config) -> list[tuple[Any, ...]]:
    """Every unit of work of the configuration, the longest first (an estimate), for the worker pool."""
    ids = tab.dataset_ids(config.keel, config.sklearn) if config.settings else []
    sizes = {i: len(tab.load_table(i[1], i[0]).y) for i in ids}  # type: ignore[arg-type]
    work: list[tuple[float, tuple[Any, ...]]] = []
    for source, name in ids:
        for setting in config.settings:
            steps = sizes[(source, name)] * 0.81 / 16 * (10 if setting == "paper" else 25)
            cost = min(steps, 3000.0 if setting == "converged" else steps) * len(config.folds) * 0.12
            work.append((cost, ("tabular", source, name, setting, config.folds, config.alphas, config.methods)))
    for arch in config.anchor_archs:
        work.append((6000 * len(config.anchor_seeds) * (2.0 if "cnn" in arch else 0.5), ("anchor", arch,
                     config.anchor_seeds)))  # fmt: skip
    for arch in config.mnist1d_archs:  # the methods run as a second job (merged in run_jobs): two workers share it
        attacked = arch in config.attack_archs
        for alphas, methods in ((config.alphas, ()), ((), config.methods)):
            if alphas == () and not methods:
                continue
            models = len(config.mnist1d_seeds) * (1 + len(alphas) + 1.5 * len(methods))
            cost = config.mnist1d_steps * models * (2.0 if "cnn" in arch else 0.5) + 3000 * models * attacked * (
                bool(alphas) or config.method_attacks
            )
            work.append((cost, ("mnist1d", arch, config.mnist1d_seeds, alphas, config.mnist1d_steps,
                                attacked and (bool(alphas) or config.method_attacks), config.autoattack,
                                methods)))  # fmt: skip
    if config.digits_folds:
        work.append((2000.0 * len(config.digits_folds) * config.digits_epochs / 10, ("digits", config.digits_folds,
                     config.alphas, config.digits_epochs, config.digits_attack, config.autoattack,
                     config.methods, config.method_attacks)))  # fmt: skip
    return [job for _, job in sorted(work, key=lambda w: -w[0])]


def run_jobs(config: Config, progress: bool = True) -> dict[str, Any]:
    """All jobs in ``config.workers`` spawned processes (or in this one with ``workers=1``), merged by kind."""
    todo = jobs(config)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="classification jobs", unit="job")
    done: list[tuple[tuple[Any, ...], dict[str, Any], float, float]] = []
    if config.workers > 1:
        with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
            for item in pool.map(_job, todo):
                done.append(item)
                if bar is not None:
                    bar.update()
    else:
        for job in todo:
            done.append(_job(job))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    tabular: dict[str, list[dict[str, Any]]] = {s: [] for s in config.settings}
    anchor: dict[str, Any] | None = None
    mnist: dict[str, Any] | None = None
    mnist_methods: list[dict[str, Any]] = []
    digits: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for job, result, took, cpu_took in done:
        kind = job[0]
        seconds[kind] = seconds.get(kind, 0.0) + took
        cpu[kind] = cpu.get(kind, 0.0) + cpu_took
        if kind == "tabular":
            tabular[job[3]].append(result)
        elif kind == "anchor":
            anchor = result if anchor is None else {**anchor, "archs": {**anchor["archs"], **result["archs"]}}
        elif kind == "mnist1d" and not job[3]:  # the methods-only job (no α): merged below
            mnist_methods.append(result)
        elif kind == "mnist1d":
            mnist = result if mnist is None else {**mnist, "archs": {**mnist["archs"], **result["archs"]}}
        else:
            digits = result
    for extra in mnist_methods:
        if mnist is not None:
            mnist = m1d.merge_mnist1d(mnist, extra)
    order = {f"{s}/{n}": k for k, (s, n) in enumerate(tab.dataset_ids(config.keel, config.sklearn))}
    for rows in tabular.values():
        rows.sort(key=lambda r: order[r["dataset"]])
    if mnist is not None:  # archs in the configured order
        mnist["archs"] = {a: mnist["archs"][a] for a in config.mnist1d_archs}
    if anchor is not None:
        anchor["archs"] = {a: anchor["archs"][a] for a in config.anchor_archs}
    return {"tabular": tabular if any(tabular.values()) else {}, "anchor": anchor,
            "mnist1d": mnist or {"archs": {}, "steps": config.mnist1d_steps}, "digits": digits,
            "job_seconds": seconds, "job_cpu_seconds": cpu}  # fmt: skip


def _arms(alphas: Sequence[float], methods: Sequence[str] = ()) -> list[str]:
    return [tab.SELECTED, *(tab.arm_name(a) for a in alphas), *methods]


#: One claim per issue #25 method, from its paper: (label, [(metric, rule)]), rule "better" (the ERM-vs-mixup rule
#: of :func:`_tabular_claim` on that metric) or "not_worse" (only a disagreement counts: "without loss").
METHOD_CLAIMS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "regmixup": ("RegMixup (Pinto et al. 2022): higher accuracy and better calibration than ERM",
                 [("accuracy", "better"), ("ece15", "better")]),
    "kernel_warping": ("Kernel warping (Bouniot et al. 2025): better calibration (ECE) than ERM without accuracy loss",
                       [("ece15", "better"), ("accuracy", "not_worse")]),
    "mixup_inference_training": ("MIT (Wang et al. 2023): better calibration than ERM after temperature scaling",
                                 [("ts_ece15", "better")]),
}  # fmt: skip


def combine_verdicts(parts: Sequence[tuple[str, str]]) -> str:
    """One verdict from per-metric verdicts ``(verdict, rule)``.

    *disagrees* if any part disagrees; *agrees* if every "better" part agrees (a "not_worse" part only has to not
    disagree); else *inconclusive*.

    Example:
        >>> combine_verdicts([("agrees", "better"), ("inconclusive", "not_worse")])
        'agrees'
        >>> combine_verdicts([("agrees", "better"), ("disagrees", "not_worse")])
        'disagrees'
    """
    if any(v == DISAGREES for v, _ in parts):
        return DISAGREES
    if all(v == AGREES for v, rule in parts if rule == "better"):
        return AGREES
    return INCONCLUSIVE


def method_claims(summaries: dict[str, Any], n: int, setting: str, methods: Sequence[str]) -> list[dict[str, Any]]:
    """The claims table's rows for issue #25's methods on the tabular benchmark (one per method)."""
    claims = []
    for method in methods:
        label, parts = METHOD_CLAIMS[method]
        verdicts, measured = [], []
        for metric, rule in parts:
            summary = summaries[metric][method]
            verdicts.append((_tabular_claim(summary, n, metric), rule))
            v = summary["verdicts"]
            measured.append(f"{metric}: better on {v[BETTER]}, worse on {v[WORSE]}, tied on {v[TIE]}, mean change "
                            f"{summary['mean_difference'] * 100:+.2f} pp")  # fmt: skip
        claims.append({"claim": label, "setting": f"{n} tables, {setting} setting, paper's α",
                       "measured": "; ".join(measured), "verdict": combine_verdicts(verdicts),
                       "method": method,
                       "parts": {m: v for (m, _), (v, _) in zip(parts, verdicts, strict=True)}})  # fmt: skip
    return claims


def _tabular_claim(summary: dict[str, Any], n: int, metric: str) -> str:
    v, w = summary["verdicts"], summary.get("wilcoxon") or {}
    favours_mixup = w.get("p", 1.0) < 0.05 and w.get("r_plus", 0) > w.get("r_minus", 0)
    favours_erm = w.get("p", 1.0) < 0.05 and w.get("r_minus", 0) > w.get("r_plus", 0)
    if favours_mixup and v[WORSE] == 0:
        return AGREES
    if favours_erm or v[WORSE] > v[BETTER]:
        return DISAGREES
    return INCONCLUSIVE


def tabular_claims(
    tabular: dict[str, list[dict[str, Any]]], alphas: Sequence[float], methods: Sequence[str] = ()
) -> tuple[list[dict], dict]:
    """Claim rows and the per-setting summaries (error, ECE before and after temperature scaling, NLL, AURC)."""
    claims: list[dict[str, Any]] = []
    summaries: dict[str, Any] = {}
    for setting, datasets in tabular.items():
        pool = tab.counted(datasets)
        n = len(pool)
        present = [m for m in methods if pool and all(m in f["arms"] for d in pool for f in d["folds"])]
        metrics = ["accuracy", "ece15", "ts_ece15", "nll"]
        if pool and all("aurc" in f["arms"][tab.ERM] for d in pool for f in d["folds"]):
            metrics.append("aurc")
        summaries[setting] = {m: tab.summarise(pool, _arms(alphas, present), m) for m in metrics}
        acc = summaries[setting]["accuracy"][tab.SELECTED]
        claims.append({
            "claim": "1. lower test error than ERM on most tables, never worse",
            "setting": f"{n} tables, {setting} setting, α chosen on validation",
            "measured": tab.verdict_sentence(acc, n) + f"; mean accuracy change {acc['mean_difference'] * 100:+.2f} pp",
            "verdict": _tabular_claim(acc, n, "accuracy"),
        })  # fmt: skip
        for key, label in (("ece15", "ECE"), ("ts_ece15", "ECE after temperature scaling")):
            ece = summaries[setting][key][tab.SELECTED]
            v = ece["verdicts"]
            claims.append({
                "claim": "4. better calibrated (lower ECE)" + (" after temperature scaling" if key != "ece15" else ""),
                "setting": f"{n} tables, {setting} setting, α chosen on validation",
                "measured": f"{label} (15 bins) significantly lower on {v[BETTER]}, higher on {v[WORSE]}, "
                f"indistinguishable on {v[TIE]}; mean change {ece['mean_difference'] * 100:+.2f} pp",
                "verdict": _tabular_claim(ece, n, key),
            })  # fmt: skip
        claims += method_claims(summaries[setting], n, setting, present)
    return claims, summaries


def _t_interval(values: Sequence[float]) -> dict[str, float]:
    from experiments.stats import corrected_resampled_ttest

    if len(values) < 3:  # two replicates that happen to agree would give a zero-width interval: no verdict
        mean = float(np.mean(values)) if len(values) else math.nan
        return {"mean": mean, "low": math.nan, "high": math.nan}
    test = corrected_resampled_ttest(values, 0.0)
    return {"mean": test.mean, "low": test.low, "high": test.high}


def robustness_table(rows: list[dict[str, Any]], key: str, arms: Sequence[str]) -> dict[str, Any]:
    """Per arm and cell ``attack@ε``: ERM and arm mean, paired difference interval, whether flagged anywhere."""
    by_rep: dict[Any, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_rep.setdefault(row[key], {})[row["arm"]] = row
    reps = sorted(by_rep)
    table: dict[str, Any] = {}
    for arm in arms:
        if any(arm not in by_rep[r] for r in reps):
            continue
        cells: dict[str, Any] = {}
        for attack, curve in by_rep[reps[0]][tab.ERM]["curves"].items():
            for eps in sorted(curve):
                cell = f"{attack}@{eps:g}"
                erm = [by_rep[r][tab.ERM]["curves"][attack][eps] for r in reps]
                mix = [by_rep[r][arm]["curves"][attack][eps] for r in reps]
                flagged = any(cell in by_rep[r][a]["flagged"] for r in reps for a in (tab.ERM, arm))
                cells[cell] = {
                    "erm": float(np.mean(erm)),
                    "mixup": float(np.mean(mix)),
                    "diff": _t_interval([m - e for m, e in zip(mix, erm, strict=True)]),
                    "flagged": flagged,
                }
        table[arm] = cells
    return table


def _robust_claims(name: str, table: dict[str, Any], arm: str) -> list[dict[str, Any]]:
    cells = table.get(arm, {})
    claims = []
    for attack, claim in (("fgsm", "2. more robust to FGSM"), ("pgd", "3. little or no gain under PGD"),
                          ("autoattack", "3b. little or no gain under AutoAttack"),
                          ("transfer_fgsm", "2b. more robust to transferred (black-box) FGSM"),
                          ("transfer_pgd", "2c. more robust to transferred (black-box) PGD")):  # fmt: skip
        keys = [k for k in cells if k.split("@")[0] == attack and float(k.split("@")[1]) > 0]
        if not keys:
            continue
        usable = [k for k in keys if not cells[k]["flagged"] and math.isfinite(cells[k]["diff"]["low"])]
        sides = []
        for k in usable:
            d = cells[k]["diff"]
            sides.append(1 if d["low"] > 0 else -1 if d["high"] < 0 else 0)
        measured = "; ".join(
            f"ε={k.split('@')[1]}: {cells[k]['diff']['mean'] * 100:+.1f} pp"
            + (" (flagged)" if cells[k]["flagged"] else "")
            for k in keys
        )
        if attack in ("pgd", "autoattack"):
            verdict = AGREES if usable and all(s == 0 for s in sides) else DISAGREES if usable else INCONCLUSIVE
        else:
            verdict = (AGREES if sum(s > 0 for s in sides) * 2 > len(sides)
                       else DISAGREES if sum(s < 0 for s in sides) * 2 > len(sides) else INCONCLUSIVE)  # fmt: skip
        claims.append({"claim": claim, "setting": name, "measured": measured, "verdict": verdict})
    return claims


def _paired_claims(name: str, reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    claims = []
    for metric, claim, better in (
        ("accuracy", "1. lower test error than ERM", 1),
        ("ece15", "4. better calibrated (lower ECE)", -1),
        ("ts_ece15", "4. better calibrated (lower ECE) after temperature scaling", -1),
    ):
        diffs = [r["arms"][tab.SELECTED][metric] - r["arms"][tab.ERM][metric] for r in reps]
        ci = _t_interval(diffs)
        side = 1 if ci["low"] > 0 else -1 if ci["high"] < 0 else 0
        verdict = INCONCLUSIVE if side == 0 else AGREES if side == better else DISAGREES
        unit = "accuracy" if metric == "accuracy" else "ECE"
        claims.append({"claim": claim, "setting": name,
                       "measured": f"{unit} {ci['mean'] * 100:+.2f} pp " + (
                           f"[{ci['low'] * 100:+.2f}, {ci['high'] * 100:+.2f}]" if math.isfinite(ci["low"])
                           else "(no interval: fewer than 3 replicates)"),
                       "verdict": verdict})  # fmt: skip
    return claims


#: The OOD set each replicated benchmark's OOD claims use (the near one; :mod:`~experiments.classification.ood`).
NEAR_OOD = {"mnist1d": "reversed", "digits": "mirrored"}
_PAIRED_METRICS = {"accuracy": 1, "ece15": -1, "ts_ece15": -1}  # +1: higher is better


def _paired_verdict(reps: list[dict[str, Any]], arm: str, metric: str, better: int) -> tuple[str, str]:
    diffs = [r["arms"][arm][metric] - r["arms"][tab.ERM][metric] for r in reps]
    ci = _t_interval(diffs)
    side = 1 if ci["low"] > 0 else -1 if ci["high"] < 0 else 0
    verdict = INCONCLUSIVE if side == 0 else AGREES if side == better else DISAGREES
    interval = (f"[{ci['low'] * 100:+.2f}, {ci['high'] * 100:+.2f}]" if math.isfinite(ci["low"])
                else "(no interval: fewer than 3 replicates)")  # fmt: skip
    return verdict, f"{metric} {ci['mean'] * 100:+.2f} pp {interval}"


def paired_method_claims(
    name: str, reps: list[dict[str, Any]], methods: Sequence[str], near_ood: str
) -> list[dict[str, Any]]:
    """Issue #25's methods against ERM on a replicated benchmark (seeds or folds): one claim per method.

    The tabular rules' parts (:data:`METHOD_CLAIMS`), each judged by the paired 95 % t-interval over replicates; for
    RegMixup the paper's OOD claim adds the AUROC (maximum softmax probability) on the near OOD set.
    """
    claims = []
    for method in methods:
        if not reps or method not in reps[0]["arms"]:
            continue
        label, parts = METHOD_CLAIMS[method]
        parts = list(parts)
        if method == "regmixup":
            label = "RegMixup (Pinto et al. 2022): higher accuracy, better calibration and OOD detection than ERM"
            parts.append((f"auroc_{near_ood}_msp", "better"))
        verdicts, measured = [], []
        for metric, rule in parts:
            verdict, text = _paired_verdict(reps, method, metric, _PAIRED_METRICS.get(metric, 1))
            verdicts.append((verdict, rule))
            measured.append(text)
        claims.append({"claim": label, "setting": name, "measured": "; ".join(measured),
                       "verdict": combine_verdicts(verdicts), "method": method,
                       "parts": {m: v for (m, _), (v, _) in zip(parts, verdicts, strict=True)}})  # fmt: skip
    return claims


def mixup_inference_claim(name: str, rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Mixup inference (Pang et al. 2020): more robust than the undefended mixup model under an adaptive attack.

    The attack is EOT-PGD. Paired over replicates per ε > 0: *agrees* when most ε show a significant gain,
    *disagrees* when most show a significant loss, else *inconclusive*.
    """
    chosen = [r for r in rows if r["arm"] == tab.SELECTED]
    if not chosen:
        return []
    sides, measured = [], []
    for eps in sorted(chosen[0]["mi"], key=float):
        if float(eps) == 0:
            continue
        ci = _t_interval([r["mi"][eps] - r["undefended"][eps] for r in chosen])
        sides.append(1 if ci["low"] > 0 else -1 if ci["high"] < 0 else 0)
        measured.append(f"ε={eps}: {ci['mean'] * 100:+.1f} pp")
    clean = float(np.mean([r["mi"]["0"] - r["undefended"]["0"] for r in chosen])) if "0" in chosen[0]["mi"] else None
    verdict = (AGREES if sum(s > 0 for s in sides) * 2 > len(sides)
               else DISAGREES if sum(s < 0 for s in sides) * 2 > len(sides) else INCONCLUSIVE)  # fmt: skip
    text = "; ".join(measured) + (f"; clean accuracy {clean * 100:+.1f} pp" if clean is not None else "")
    return [{"claim": "Mixup inference (Pang et al. 2020): more robust under an adaptive (EOT-PGD) attack",
             "setting": f"{name}, mixup model with α chosen on validation, {len(chosen)} {key}s",
             "measured": text, "verdict": verdict, "method": "mixup_inference"}]  # fmt: skip


def run(config: Config, out: Path, progress: bool = True) -> dict[str, Any]:
    """Run the configured study and write its outputs to ``out``; returns the ``run_all``/``study`` section."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    parts = run_jobs(config, progress)
    tabular, anchor, mnist, digits = parts["tabular"], parts["anchor"], parts["mnist1d"], parts["digits"]
    timings = parts["job_seconds"]
    cpu_seconds = parts["job_cpu_seconds"]
    claims, summaries = tabular_claims(tabular, config.alphas, config.methods)
    arms = _arms(config.alphas)
    robust: dict[str, Any] = {}
    for arch, entry in mnist["archs"].items():
        claims += _paired_claims(f"MNIST-1D {arch}, {len(config.mnist1d_seeds)} seeds", entry["per_seed"])
        claims += paired_method_claims(f"MNIST-1D {arch}, {len(config.mnist1d_seeds)} seeds", entry["per_seed"],
                                       config.methods, NEAR_OOD["mnist1d"])  # fmt: skip
        claims += mixup_inference_claim(f"MNIST-1D {arch}", entry.get("mixup_inference", []), "seed")
        if "robustness" in entry:
            robust[arch] = robustness_table(_with_selected(entry["robustness"], entry["per_seed"], "seed"),
                                                         "seed", arms)  # fmt: skip
            claims += _robust_claims(f"MNIST-1D {arch}, α chosen on validation", robust[arch],
                                     tab.SELECTED)  # fmt: skip
    if digits:
        claims += _paired_claims(f"digits (MLP), {len(config.digits_folds)} folds", digits["per_fold"])
        claims += paired_method_claims(f"digits (MLP), {len(config.digits_folds)} folds", digits["per_fold"],
                                       config.methods, NEAR_OOD["digits"])  # fmt: skip
        claims += mixup_inference_claim("digits (MLP)", digits.get("mixup_inference", []), "fold")
    if "robustness" in digits:
        robust["digits"] = robustness_table(_with_selected(digits["robustness"], digits["per_fold"], "fold"), "fold",
                                            arms)  # fmt: skip
        claims += _robust_claims("digits (MLP), α chosen on validation", robust["digits"], tab.SELECTED)
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {
        "config": asdict(config), "machine": machine(), "seconds": seconds, "timings": timings,
        "cpu_seconds": cpu_seconds,
        "tabular": tabular, "tabular_summary": summaries, "anchor": anchor, "mnist1d": mnist, "digits": digits,
        "robustness": robust, "claims": claims,
    }  # fmt: skip
    from experiments.classification import report

    files = report.write(result, out)
    result["files"] = files
    result["markdown"] = report.markdown(result, out, out)
    (out / "classification.json").write_text(json.dumps(_jsonable(_strip(result)), indent=1) + "\n")
    (out / "CLASSIFICATION.md").write_text("# ERM vs mixup: classification\n\n" + result["markdown"] + "\n")
    result["files"] = [*files, str(out / "classification.json"), str(out / "CLASSIFICATION.md")]
    return result


def report_module() -> Any:
    """The report module (imported lazily: it needs matplotlib)."""
    from experiments.classification import report

    return report


def _with_selected(rows: list[dict[str, Any]], reps: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Add, per replicate, a copy of the chosen α's robustness row under the arm name ``"selected"``."""
    chosen = {r[key]: tab.arm_name(r["selected_alpha"]) for r in reps}
    extra = [{**row, "arm": tab.SELECTED} for row in rows if row["arm"] == chosen.get(row[key])]
    return [*rows, *extra]


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    """What goes into the JSON: no Markdown, files relative to the repository, reliability bins pooled per setting."""
    from experiments.plots import pool_bins

    out = {k: v for k, v in result.items() if k != "markdown"}
    if "files" in out:
        out["files"] = repo_relative_files(out["files"])
    pooled: dict[str, dict[str, Any]] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    for setting, datasets in result["tabular"].items():
        bins: dict[str, list[Any]] = {}
        for d in tab.counted(datasets):
            for arm, b in d.get("reliability", {}).items():
                bins.setdefault(arm, []).extend(b)
        pooled[setting] = {arm: pool_bins(b).to_dict() for arm, b in bins.items()}
        tables[setting] = [{k: v for k, v in d.items() if k != "reliability"} for d in datasets]
    out["tabular"] = tables
    out["tabular_reliability_pooled"] = pooled
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    if isinstance(value, (np.floating, np.integer)):
        return _jsonable(value.item())
    return value
