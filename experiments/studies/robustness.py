r"""ERM vs mixup: robustness (FGSM/PGD) and calibration over several seeds, with paired confidence intervals.

The claims measured:

- mixup models are more robust to white-box FGSM (Zhang et al. 2018, §3.5, ImageNet); Manifold Mixup's Table 7
  (Verma et al. 2019) reports CIFAR-10 PreAct ResNet-18 FGSM accuracy 36.3 % (ERM) → 71.5 % (input mixup), and no
  significant gain under multi-step PGD;
- mixup models are better calibrated: lower expected calibration error (Thulasidasan et al. 2019).

Design. For every seed, an ERM model and a mixup model (``MixupCallback(alpha)``) are trained from the *same*
initialisation, data order and budget (``seed_everything(seed)`` before each; the mixing draws come from the
callback's own generator), then evaluated on the fixed test split with
:func:`~lightning_mixup.evaluation.evaluate_robustness`. Every metric is reported as mean ± 95 % t-interval over
seeds, and the paired difference mixup − ERM (per seed) with its own t-interval: a difference is significant at 5 %
when its interval excludes 0.

Data and ε:

- ``digits`` (CNN): pixels in [0, 1]; ε in pixel units (L∞; L2 over the 64 pixels).
- UCI tables ``iris``, ``wine``, ``breast_cancer`` (MLP): :class:`~lightning_mixup.data.SklearnDataModule`
  standardises the features, which have no natural [0, 1] box, while torchattacks clamps to [0, 1]. The study
  rescales the features with the *training split's* per-feature min and max to [0, 1] (test values outside that
  range are clipped to it; the count is reported) and evaluates the unchanged model through an affine input layer
  that maps the box back to standardised units. ε is then a fraction of each feature's training range: ε = 0.1
  lets every feature move by 10 % of its range, in L∞. This is a box constraint chosen for the study, not a
  physical pixel range: treat tabular robustness numbers as a stress test, the calibration and accuracy numbers
  as the main tabular result.

References:
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
    - Verma et al., "Manifold Mixup", ICML 2019, https://arxiv.org/abs/1806.05236
    - Thulasidasan et al., "On Mixup Training", NeurIPS 2019, https://arxiv.org/abs/1905.11001
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

from experiments.paths import repo_relative_files
from experiments.plots import plot_accuracy_curves, plot_reliability_diagrams, pool_bins
from lightning_mixup.callback import MixupCallback
from lightning_mixup.data.sklearn import SKLEARN_DATASETS, SklearnDataModule
from lightning_mixup.evaluation import RobustnessResult, evaluate_robustness, format_eps
from lightning_mixup.models import Classifier

METHODS: tuple[str, ...] = ("erm", "mixup")
DEFAULT_OUTPUT_DIR = "experiments/results/robustness"
#: FGSM grid: 8 values, one input gradient per batch for all of them.
DIGITS_FGSM_EPS: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
DIGITS_PGD_EPS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.5)
DIGITS_PGDL2_EPS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
_DEFAULTS = {  # (arch, max_epochs, batch_size): digits CNN; UCI MLP with the paper's batch 16 (§3.4)
    "digits": ("cnn", 20, 64),
    "iris": ("mlp", 60, 16),
    "wine": ("mlp", 60, 16),
    "breast_cancer": ("mlp", 30, 16),
}
_QUICK = {"seeds": (0, 1), "max_epochs": 3, "pgd_steps": 5}


def t_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean and two-sided Student-t confidence interval of ``values`` (``nan`` bounds for fewer than 2 values).

    Example:
        >>> ci = t_interval([1.0, 2.0, 3.0])
        >>> round(ci["mean"], 3), round(ci["low"], 3), round(ci["high"], 3), ci["n"]
        (2.0, -0.484, 4.484, 3)
    """
    from scipy import stats

    n = len(values)
    if n == 0:
        raise ValueError("Expected at least one value for a confidence interval, but got none.")
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "half_width": math.nan, "sd": math.nan, "n": n}
    sd = statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "half_width": half, "sd": sd, "n": n}


def metric_values(result: RobustnessResult) -> dict[str, float]:
    """The scalar metrics of one evaluation: ``clean_accuracy``, ``ece``, ``nll``, ``{attack}@{ε}``.

    Example:
        >>> from lightning_mixup.evaluation import ReliabilityBins
        >>> r = RobustnessResult(10, 0.9, 0.05, 0.3, {"fgsm": {0.1: 0.5}}, ReliabilityBins([0.0, 1.0], [10], [0.9],
        ...                      [0.9]))
        >>> metric_values(r)
        {'clean_accuracy': 0.9, 'ece': 0.05, 'nll': 0.3, 'fgsm@0.1': 0.5}
    """
    values = {"clean_accuracy": result.clean_accuracy, "ece": result.ece, "nll": result.nll}
    for attack, curve in result.robust_accuracy.items():
        for eps, acc in sorted(curve.items()):
            values[f"{attack}@{format_eps(eps)}"] = acc
    return values


def summarise(runs: Sequence[dict[str, Any]], confidence: float = 0.95) -> dict[str, dict[str, Any]]:
    """Per metric: mean and t-interval per method and of the paired difference mixup − ERM (paired by seed).

    Args:
        runs: ``{"seed": int, "method": "erm" | "mixup", "metrics": {name: value}}`` per trained model.
        confidence: the interval's confidence level.

    Returns:
        ``{metric: {"erm": ci, "mixup": ci, "diff": ci}}``, each ``ci`` from :func:`t_interval`.

    Raises:
        ValueError: if a seed lacks one of the two methods.

    Example:
        >>> runs = [{"seed": s, "method": m, "metrics": {"acc": 0.5 + s / 10 + (m == "mixup") / 10}}
        ...         for s in range(3) for m in ("erm", "mixup")]
        >>> round(summarise(runs)["acc"]["diff"]["mean"], 6), round(summarise(runs)["acc"]["diff"]["half_width"], 6)
        (0.1, 0.0)
    """
    by_seed: dict[int, dict[str, dict[str, float]]] = {}
    for run in runs:
        by_seed.setdefault(int(run["seed"]), {})[run["method"]] = run["metrics"]
    incomplete = [seed for seed, methods in by_seed.items() if set(methods) != set(METHODS)]
    if incomplete:
        raise ValueError(f"Expected an ERM and a mixup run for every seed, but seeds {incomplete} lack one.")
    seeds = sorted(by_seed)
    names = list(dict.fromkeys(name for seed in seeds for name in by_seed[seed]["erm"]))
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        erm = [by_seed[s]["erm"][name] for s in seeds]
        mix = [by_seed[s]["mixup"][name] for s in seeds]
        summary[name] = {
            "erm": t_interval(erm, confidence),
            "mixup": t_interval(mix, confidence),
            "diff": t_interval([m - e for m, e in zip(mix, erm, strict=True)], confidence),
        }
    return summary


def markdown_table(summary: dict[str, dict[str, Any]], title: str = "") -> str:
    """A Markdown table: metric | ERM | mixup | mixup − ERM, each ``mean ± half-width`` of the 95 % t-interval.

    Example:
        >>> ci = {"mean": 0.5, "half_width": 0.1, "low": 0.4, "high": 0.6, "n": 5}
        >>> print(markdown_table({"ece": {"erm": ci, "mixup": ci, "diff": ci}}).splitlines()[2])
        | ece | 0.5000 ± 0.1000 | 0.5000 ± 0.1000 | +0.5000 ± 0.1000 [+0.4000, +0.6000] * |
    """

    def cell(ci: dict[str, Any], signed: bool = False) -> str:
        sign = "+" if signed else ""
        text = f"{ci['mean']:{sign}.4f}"
        if math.isfinite(ci["half_width"]):
            text += f" ± {ci['half_width']:.4f}"
        if signed and math.isfinite(ci["low"]):
            text += f" [{ci['low']:+.4f}, {ci['high']:+.4f}]"
            if ci["low"] > 0 or ci["high"] < 0:
                text += " *"
        return text

    lines = [f"### {title}", ""] if title else []
    lines += ["| metric | ERM | mixup | mixup − ERM (95 % CI) |", "|---|---|---|---|"]
    for name, row in summary.items():
        lines.append(f"| {name} | {cell(row['erm'])} | {cell(row['mixup'])} | {cell(row['diff'], signed=True)} |")
    return "\n".join(lines)


def _dataset_name(dm: SklearnDataModule) -> str:
    name = getattr(dm, "dataset", None) or getattr(dm, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"Expected a SklearnDataModule with a dataset name, but got {type(dm).__name__}.")
    return name


def _feature_box(dm: SklearnDataModule) -> tuple[torch.Tensor, torch.Tensor]:
    if dm.train_set is None:
        raise RuntimeError("The data module is not set up.")
    train_x = dm.train_set.tensors[0].flatten(1)
    low, high = train_x.min(dim=0).values, train_x.max(dim=0).values
    return low, (high - low).clamp_min(1e-6)


def robustness_test_data(dm: SklearnDataModule) -> tuple[DataLoader, dict[str, Any]]:
    """The test split in [0, 1] and the evaluator arguments that feed the model what it was trained on.

    Digits are already in [0, 1]. Tabular features are min-max rescaled with the training split's range (and
    clipped to it); ``normalize_mean = -low / range`` and ``normalize_std = 1 / range`` map them back.

    Returns:
        ``(dataloader, {"normalize_mean": ..., "normalize_std": ..., "clipped_values": int, "space": str})``.

    Example:
        >>> dm = SklearnDataModule("iris", batch_size=16)
        >>> dm.setup("test")
        >>> loader, info = robustness_test_data(dm)
        >>> x = loader.dataset.tensors[0]
        >>> bool(x.min() >= 0 and x.max() <= 1), len(info["normalize_mean"])
        (True, 4)
    """
    if dm.test_set is None:
        raise RuntimeError("The data module is not set up.")
    x, y = dm.test_set.tensors
    if _dataset_name(dm) == "digits":
        info: dict[str, Any] = {"normalize_mean": None, "normalize_std": None, "clipped_values": 0,
                                "space": "pixels in [0, 1]"}
        return DataLoader(TensorDataset(x, y), batch_size=512), info
    low, width = _feature_box(dm)
    unit = (x - low) / width
    clipped = int(((unit < 0) | (unit > 1)).sum())
    unit = unit.clamp(0, 1)
    info = {
        "normalize_mean": (-low / width).tolist(),
        "normalize_std": (1 / width).tolist(),
        "clipped_values": clipped,
        "space": "features min-max rescaled to [0, 1] with the training split's range; ε is a fraction of it",
    }
    return DataLoader(TensorDataset(unit, y), batch_size=512), info


@contextmanager
def _quiet_lightning(num_threads: int | None) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    threads = torch.get_num_threads()
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*litlogger.*")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        torch.set_num_threads(threads)


def train_model(
    dm: SklearnDataModule,
    *,
    method: str,
    seed: int,
    arch: str,
    max_epochs: int,
    alpha: float,
    lr: float,
    accelerator: str = "auto",
    root_dir: str | None = None,
) -> Classifier:
    """Train one :class:`~lightning_mixup.models.Classifier`: ERM, or mixup through ``MixupCallback(alpha)``.

    ``seed_everything(seed)`` runs first, so ERM and mixup at one seed share initialisation and data order.
    """
    if method not in METHODS:
        raise ValueError(f"Expected argument `method` to be one of {METHODS}, but got {method!r}.")
    pl.seed_everything(seed, verbose=False)
    model = Classifier(arch, input_shape=list(dm.input_shape), num_classes=dm.num_classes, lr=lr)  # type: ignore[arg-type]
    callbacks: list[Callback] = [MixupCallback(alpha=alpha, seed=seed, log=False)] if method == "mixup" else []
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator=accelerator,
        devices=1,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=root_dir,
    )
    trainer.fit(model, datamodule=dm)
    return model


def run_robustness_study(
    dataset: str = "digits",
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    alpha: float = 1.0,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    arch: str | None = None,
    lr: float = 1e-3,
    fgsm_eps: Sequence[float] = DIGITS_FGSM_EPS,
    pgd_eps: Sequence[float] = DIGITS_PGD_EPS,
    pgdl2_eps: Sequence[float] = DIGITS_PGDL2_EPS,
    pgd_steps: int = 10,
    accelerator: str = "auto",
    output_dir: str | Path | None = DEFAULT_OUTPUT_DIR,
    plots: bool = True,
    progress: bool = True,
    num_threads: int | None = 1,
    quick: bool = False,
) -> dict[str, Any]:
    """Train ERM and mixup models over ``seeds``, evaluate each, and compare them with paired t-intervals.

    Args:
        dataset: ``"digits"`` (CNN) or a UCI table ``"iris"``, ``"wine"``, ``"breast_cancer"`` (MLP).
        seeds: training seeds (≥ 2 for intervals; ≥ 5 recommended).
        alpha: mixup's Beta(α, α) concentration (1.0, as Verma et al.'s input-mixup baseline on CIFAR-10).
        max_epochs: epochs per model (``None``: 20 for digits, 30-60 for the tables).
        batch_size: training batch size (``None``: 64 for digits, the paper's 16 for the tables).
        arch: ``"cnn"``/``"mlp"`` (``None``: CNN for digits, MLP for tables).
        lr: Adam learning rate.
        fgsm_eps: FGSM L∞ grid, in [0, 1] input units (for tables: fractions of the feature range).
        pgd_eps: PGD L∞ grid.
        pgdl2_eps: PGD L2 grid.
        pgd_steps: PGD iterations.
        accelerator: Lightning accelerator for training and evaluation.
        output_dir: where ``{dataset}.json``, ``{dataset}.md`` and the plots go; ``None``: write nothing.
        plots: write accuracy-vs-ε and reliability plots (needs matplotlib).
        progress: a tqdm progress bar over the runs.
        num_threads: torch CPU threads during the study (restored afterwards); ``None``: leave as is.
        quick: a smoke run: 2 seeds, 3 epochs, 5 PGD steps.

    Returns:
        ``{"dataset", "config", "runs", "summary", "markdown", "files", "wall_time_s", "sanity_failures"}``; ``runs``
        holds per-model metrics, training time and failed sanity checks, ``summary`` the output of
        :func:`summarise`.

    Raises:
        ValueError: on an unknown dataset, fewer than one seed, or repeated seeds.
    """
    if dataset not in SKLEARN_DATASETS:
        raise ValueError(f"Expected argument `dataset` to be one of {SKLEARN_DATASETS}, but got {dataset!r}.")
    if quick:
        seeds = _QUICK["seeds"]  # type: ignore[assignment]
        pgd_steps = int(_QUICK["pgd_steps"])  # type: ignore[call-overload]
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"Expected argument `seeds` to be distinct ints (at least one), but got {seeds!r}.")
    default_arch, default_epochs, default_batch = _DEFAULTS[dataset]
    arch = arch or default_arch
    max_epochs = int(_QUICK["max_epochs"]) if quick else (max_epochs or default_epochs)  # type: ignore[call-overload]
    batch_size = batch_size or default_batch
    start = time.perf_counter()
    dm = SklearnDataModule(dataset, batch_size=batch_size)  # type: ignore[arg-type]
    dm.setup("fit")
    test_loader, space = robustness_test_data(dm)
    config: dict[str, Any] = {
        "dataset": dataset, "arch": arch, "seeds": seeds, "alpha": alpha, "max_epochs": max_epochs,
        "batch_size": batch_size, "lr": lr, "optimizer": "adam", "fgsm_eps": list(fgsm_eps), "pgd_eps": list(pgd_eps),
        "pgdl2_eps": list(pgdl2_eps), "pgd_steps": pgd_steps, "pgd_rel_step": 2.5, "quick": quick,
        "test_examples": len(test_loader.dataset), "input_space": space["space"],  # type: ignore[arg-type]
        "clipped_test_values": space["clipped_values"],
    }
    runs: list[dict[str, Any]] = []
    results: dict[str, list[RobustnessResult]] = {m: [] for m in METHODS}
    jobs = [(seed, method) for seed in seeds for method in METHODS]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"robustness study ({dataset})", unit="model")
    with _quiet_lightning(num_threads), tempfile.TemporaryDirectory() as root:
        for seed, method in jobs:
            t0 = time.perf_counter()
            model = train_model(dm, method=method, seed=seed, arch=arch, max_epochs=max_epochs, alpha=alpha, lr=lr,
                                accelerator=accelerator, root_dir=root)
            t1 = time.perf_counter()
            result = evaluate_robustness(
                model, test_loader, num_classes=dm.num_classes, fgsm_eps=fgsm_eps, pgd_eps=pgd_eps,
                pgdl2_eps=pgdl2_eps, pgd_steps=pgd_steps, normalize_mean=space["normalize_mean"],
                normalize_std=space["normalize_std"], seed=seed,
                trainer_kwargs={"accelerator": accelerator, "default_root_dir": root},
            )
            t2 = time.perf_counter()
            results[method].append(result)
            runs.append({
                "seed": seed, "method": method, "metrics": metric_values(result),
                "train_time_s": t1 - t0, "eval_time_s": t2 - t1,
                "failed_checks": [c.to_dict() for c in result.failed_checks],
            })
            if bar is not None:
                bar.set_postfix(seed=seed, method=method, acc=f"{result.clean_accuracy:.3f}")
                bar.update()
    if bar is not None:
        bar.close()
    summary = summarise(runs)
    title = f"{dataset}: ERM vs mixup (α={alpha}), {len(seeds)} seeds, {arch}, {max_epochs} epochs"
    markdown = markdown_table(summary, title)
    out: dict[str, Any] = {
        "dataset": dataset,
        "config": config,
        "runs": runs,
        "summary": summary,
        "reliability": {m: pool_bins([r.reliability for r in results[m]]).to_dict() for m in METHODS},
        "sanity_failures": sorted({c["name"] for run in runs for c in run["failed_checks"]}),
        "markdown": markdown,
        "files": {},
    }
    out["wall_time_s"] = time.perf_counter() - start
    if output_dir is not None:
        out["files"] = _write_outputs(out, results, summary, Path(output_dir), dataset, title, plots)
        out["wall_time_s"] = time.perf_counter() - start
        stored = {**out, "files": repo_relative_files(out["files"])}
        Path(out["files"]["json"]).write_text(json.dumps(_jsonable(stored), indent=2))
    return out


def accuracy_curves(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{label: {attack: {"eps", "mean", "low", "high"}}}`` from a :func:`summarise` output, for plotting."""
    curves: dict[str, dict[str, dict[str, list[float]]]] = {"ERM": {}, "mixup": {}}
    for name, row in summary.items():
        if "@" not in name:
            continue
        attack, eps = name.split("@")
        for label, key in (("ERM", "erm"), ("mixup", "mixup")):
            curve = curves[label].setdefault(attack, {"eps": [], "mean": [], "low": [], "high": []})
            curve["eps"].append(float(eps))
            for field in ("mean", "low", "high"):
                curve[field].append(row[key][field])
    return curves


def _write_outputs(
    out: dict[str, Any],
    results: dict[str, list[RobustnessResult]],
    summary: dict[str, dict[str, Any]],
    directory: Path,
    dataset: str,
    title: str,
    plots: bool,
) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {"json": str(directory / f"{dataset}.json"), "markdown": str(directory / f"{dataset}.md")}
    config = out["config"]
    notes = [
        "",
        f"Test examples: {config['test_examples']}; input space: {config['input_space']}.",
        f"Attacks: torchattacks FGSM, PGD-{config['pgd_steps']} (L∞), PGD-{config['pgd_steps']} (L2), step "
        "2.5·ε/steps, random start. `*`: the paired 95 % t-interval of mixup − ERM excludes 0.",
        f"Sanity-check failures: {out['sanity_failures'] or 'none'}.",
    ]
    Path(files["markdown"]).write_text(out["markdown"] + "\n" + "\n".join(notes) + "\n")
    if plots:
        files["accuracy_plot"] = str(
            plot_accuracy_curves(accuracy_curves(summary), directory / f"{dataset}_accuracy_vs_eps.png", title)
        )
        pooled = {label: pool_bins([r.reliability for r in results[m]]) for label, m in (("ERM", "erm"),
                                                                                         ("mixup", "mixup"))}
        files["reliability_plot"] = str(
            plot_reliability_diagrams(pooled, directory / f"{dataset}_reliability.png", f"{dataset}: pooled seeds")
        )
    return files


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
