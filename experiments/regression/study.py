r"""ERM against mixup (and, once it exists, C-Mixup) on regression tables: 10-fold CV, RMSE, Wilcoxon across tables.

Issue #25. C-Mixup (Yao et al., "C-Mixup: Improving Generalization in Regression", NeurIPS 2022,
https://arxiv.org/abs/2210.05775, code https://github.com/huaxiuyao/C-Mixup) reports that plain mixup can hurt
regression (Airfoil RMSE 2.901 for ERM, 3.730 for mixup), because interpolating two samples with distant targets
makes the mixed label wrong for the mixed input. This study asks whether that holds on the offline tables of
:mod:`experiments.regression.data`.

Protocol, per table and fold (:func:`run_fold`):

- 10-fold cross-validation (:func:`~experiments.regression.data.fold_indices`, shuffled with a fixed seed);
  features and target standardised on the training fold only; RMSE on the test fold in the target's units.
- One network per fold: an MLP with two hidden layers of 64 ReLU units, Adam (lr 1e-3), batch 64, 600 optimiser
  steps whatever the table's size (:class:`StudyConfig`); every arm of a fold starts from the same initialisation
  and sees the same data order (one seed per fold), only the mixing differs.
- Arms: ``"erm"``; ``"mixup"``: the same ``Trainer`` with :class:`lightning_mixup.MixupCallback` ``(alpha=α)``
  (α = 0.2 by default, the callback's own default, not a value from the C-Mixup paper; ``--alpha``),
  which interpolates float targets (``(B,)`` or ``(B, 1)``) like the inputs, so the unchanged ``F.mse_loss`` step
  trains on ``(λx_i + (1-λ)x_j, λy_i + (1-λ)y_j)``; ``"cmixup"``: the same ``Trainer`` with
  ``MixupCallback(method="cmixup", alpha=None, cmixup_bandwidth=σ)`` (α = 2, the paper's), which draws each
  sample's partner within the batch with probability ``∝ exp(-(y_i - y_j)² / (2σ²))``.
- C-Mixup's bandwidth σ: the paper tunes it per data set (Airfoil 1.75, NO2 1.2, Exchange-Rate 0.05 on their
  label scales). We use one documented rule instead of a per-table search: the targets are standardised, and σ is
  Silverman's rule of thumb for a Gaussian kernel density estimate over the ``B`` labels of a batch,
  ``σ = 1.06 · B^(-1/5)`` (0.46 for ``B = 64``; :func:`silverman_bandwidth`): C-Mixup's sampling rates are such
  a kernel density (the official code fits ``sklearn``'s ``KernelDensity``), and the rule is the usual
  data-independent choice for it. ``--bandwidth`` overrides it.
- Across tables (:func:`wilcoxon_vs_erm`): ``scipy.stats.wilcoxon`` on the per-table relative differences of the
  mean RMSE, ``mean_rmse(arm) / mean_rmse(erm) - 1`` (the tables' RMSEs are in different units, so their raw
  differences cannot be ranked together; the sign is that of the raw difference).

Usage::

    python -m experiments.regression.study --quick          # 3 tables, 2 folds: 12 fits
    python -m experiments.regression.study --jobs 2         # every table, 10 folds, ERM and mixup: 260 fits
    python -m experiments.regression.study --arms erm mixup cmixup --jobs 2   # and C-Mixup: 390 fits

Cost: a fit (600 steps through ``Trainer``, one torch thread) takes about 1.0-1.3 s of CPU for ERM and 1.3-1.7 s
for mixup, whatever the table. Measured: the whole study (13 tables, 10 folds, ERM and mixup, ``--jobs 1``) took
304 s of CPU and 582 s of wall time on a shared two-core machine; ``--jobs 2`` halves the wall time on two free
cores (each fit's ``cpu_seconds`` is in the JSON).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from experiments.regression.data import REGRESSION_TABLES, Standardizer, fold_indices, load_regression_table
from lightning_mixup import MixupCallback

__all__ = [
    "ARMS",
    "QUICK_TABLES",
    "RegressionMLP",
    "StudyConfig",
    "markdown_table",
    "run_fold",
    "run_study",
    "run_table",
    "silverman_bandwidth",
    "wilcoxon_vs_erm",
]

ERM = "erm"
AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"
ARMS: tuple[str, ...] = (ERM, "mixup", "cmixup")
#: ``--quick``: three small tables, two folds.
QUICK_TABLES: tuple[str, ...] = ("islp_hitters", "sklearn_diabetes", "islp_boston")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results" / "regression"
#: Airfoil's test RMSE in the C-Mixup paper (Yao et al. 2022, Table 2; means over three seeds). Airfoil is not one
#: of our tables: no installed package ships it offline, so these stand beside our tables, not beside our Airfoil.
PAPER_AIRFOIL_RMSE: dict[str, float] = {ERM: 2.901, "mixup": 3.730, "cmixup": 2.717}


@dataclass(frozen=True)
class StudyConfig:
    """The training budget and the network, the same for every arm and table.

    Attributes:
        hidden: units of each hidden layer.
        depth: hidden layers.
        lr: Adam's learning rate.
        batch_size: training batch size (capped at the training fold's size).
        max_steps: optimiser steps per run, whatever the table's size (the data are reshuffled every epoch).
        alpha: mixup's Beta(α, α) concentration.
        num_folds: cross-validation folds.
        seed: the seed of the folds, the initialisations, the data order and the mixing draws.
        cmixup_bandwidth: C-Mixup's σ on the standardised targets; ``None``: :func:`silverman_bandwidth` of the
            batch size.
    """

    hidden: int = 64
    depth: int = 2
    lr: float = 1e-3
    batch_size: int = 64
    max_steps: int = 600
    alpha: float = 0.2
    num_folds: int = 10
    seed: int = 0
    cmixup_bandwidth: float | None = None


def silverman_bandwidth(batch_size: int) -> float:
    """Silverman's rule of thumb ``1.06 · s · n^(-1/5)`` for ``n = batch_size`` labels of standard deviation ``s = 1``.

    Example:
        >>> round(silverman_bandwidth(64), 3)
        0.461
    """
    if batch_size < 1:
        raise ValueError(f"Expected argument `batch_size` to be a positive integer, but got {batch_size}.")
    return 1.06 * batch_size ** (-0.2)


def cmixup_bandwidth(config: StudyConfig, n_train: int | None = None) -> float:
    """The σ the ``cmixup`` arm uses: ``config.cmixup_bandwidth``, else Silverman's rule at the batch size."""
    if config.cmixup_bandwidth is not None:
        return config.cmixup_bandwidth
    batch = config.batch_size if n_train is None else min(config.batch_size, n_train)
    return silverman_bandwidth(batch)


class RegressionMLP(pl.LightningModule):
    """A ReLU MLP regressor trained with ``F.mse_loss`` on ``(inputs, targets)`` batches, targets ``(B,)``.

    It keeps every training step's loss in :attr:`train_losses` (for the study's JSON).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> RegressionMLP(3)(torch.zeros(2, 3)).shape
        torch.Size([2])
    """

    def __init__(self, in_features: int, hidden: int = 64, depth: int = 2, lr: float = 1e-3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.lr = lr
        self.train_losses: list[float] = []

    def forward(self, x: Tensor) -> Tensor:
        """Predictions of shape ``(B,)``."""
        return self.net(x).squeeze(-1)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """``F.mse_loss`` of the predictions on the (possibly mixed) targets."""
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.train_losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam."""
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def _callbacks(arm: str, config: StudyConfig, fold: int, n_train: int | None = None) -> list[Any]:
    """The arm's callbacks: the only place the arms differ."""
    seed = 1000 * config.seed + fold
    if arm == ERM:
        return []
    if arm == "mixup":
        return [MixupCallback(alpha=config.alpha, seed=seed, log=False)]
    if arm == "cmixup":  # alpha=None: the paper's α = 2
        bandwidth = cmixup_bandwidth(config, n_train)
        return [MixupCallback(method="cmixup", alpha=None, cmixup_bandwidth=bandwidth, seed=seed, log=False)]
    raise ValueError(f"Expected argument `arm` to be one of {ARMS}, but got {arm!r}.")


def run_fold(x: np.ndarray, y: np.ndarray, fold: int, arm: str, config: StudyConfig) -> dict[str, Any]:
    """Train one arm on one fold through ``Trainer`` and score it on the fold's test rows.

    Returns:
        ``{"rmse": test RMSE in y's units, "train_loss": mean training loss over the run (standardised units, on
        the mixed targets for mixup), "steps": optimiser steps, "seconds": wall time, "cpu_seconds": this process's
        CPU time (the cost on a shared machine)}``.

    Raises:
        ValueError: for an unknown arm.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    idx = fold_indices(len(y), fold, config.num_folds, seed=config.seed)
    callbacks = _callbacks(arm, config, fold, len(idx.train))
    scaler = Standardizer(x[idx.train], y[idx.train])
    train = TensorDataset(torch.from_numpy(scaler.x(x[idx.train])), torch.from_numpy(scaler.y(y[idx.train])))
    seed = 1000 * config.seed + fold
    loader = DataLoader(
        train,
        batch_size=min(config.batch_size, len(idx.train)),
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    torch.manual_seed(seed)
    model = RegressionMLP(x.shape[1], hidden=config.hidden, depth=config.depth, lr=config.lr)
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_steps=config.max_steps,
            max_epochs=-1,
            callbacks=callbacks,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            default_root_dir=root,
        )
        trainer.fit(model, loader)
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(scaler.x(x[idx.test]))).numpy()
    rmse = float(np.sqrt(np.mean((scaler.y_inverse(pred).astype(np.float64) - y[idx.test]) ** 2)))
    return {
        "rmse": rmse,
        "train_loss": float(np.mean(model.train_losses)),
        "steps": int(trainer.global_step),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }


def run_table(
    name: str, config: StudyConfig, folds: Sequence[int] | None = None, arms: Sequence[str] = ARMS
) -> dict[str, Any]:
    """Every arm on the given folds (default: all) of one table.

    Returns:
        ``{"name", "n", "d", "source", "folds": [{"fold", "n_train", "n_test", "arms": {arm: run_fold's dict}}],
        "mean_rmse": {arm: mean over folds}, "seconds"}``.
    """
    start = time.perf_counter()
    x, y, source = load_regression_table(name)
    folds = list(range(config.num_folds)) if folds is None else list(folds)
    rows: list[dict[str, Any]] = []
    for fold in folds:
        idx = fold_indices(len(y), fold, config.num_folds, seed=config.seed)
        arms_out = {arm: run_fold(x, y, fold, arm, config) for arm in arms}
        rows.append({"fold": fold, "n_train": len(idx.train), "n_test": len(idx.test), "arms": arms_out})
    mean_rmse = {arm: float(np.mean([r["arms"][arm]["rmse"] for r in rows])) for arm in arms}
    return {
        "name": name, "n": int(x.shape[0]), "d": int(x.shape[1]), "source": source, "folds": rows,
        "mean_rmse": mean_rmse, "seconds": time.perf_counter() - start,
    }  # fmt: skip


def wilcoxon_vs_erm(tables: Sequence[dict[str, Any]], arm: str, baseline: str = ERM) -> dict[str, Any]:
    """``scipy.stats.wilcoxon`` over tables of ``mean_rmse[arm] / mean_rmse[baseline] - 1`` (negative: arm better).

    Returns:
        ``{"arm", "baseline", "n_tables", "wins", "losses", "ties" (wins: lower RMSE than the baseline, ERM by
        default), "median_relative_difference", "statistic", "pvalue"}``; the p-value is two-sided
        (``zero_method="zsplit"``), 1.0 when every difference is 0.

    Example:
        >>> t = [{"mean_rmse": {"erm": 1.0, "mixup": m}} for m in (0.9, 0.8, 1.1, 0.7, 0.95)]
        >>> r = wilcoxon_vs_erm(t, "mixup")
        >>> r["wins"], r["losses"], round(r["pvalue"], 4)
        (4, 1, 0.3125)
    """
    d = np.asarray([t["mean_rmse"][arm] / t["mean_rmse"][baseline] - 1.0 for t in tables], dtype=np.float64)
    if d.size == 0 or not np.isfinite(d).all():
        raise ValueError(
            f"Expected at least one table with finite RMSEs for `{arm}` and `{baseline}`, but got {d.tolist()}."
        )
    if np.all(d == 0):
        statistic, pvalue = math.nan, 1.0
    else:
        res = stats.wilcoxon(d, zero_method="zsplit", alternative="two-sided")
        statistic, pvalue = float(res.statistic), float(res.pvalue)
    return {
        "arm": arm, "baseline": baseline, "n_tables": int(d.size), "wins": int((d < 0).sum()),
        "losses": int((d > 0).sum()),
        "ties": int((d == 0).sum()), "median_relative_difference": float(np.median(d)),
        "statistic": statistic, "pvalue": pvalue,
    }  # fmt: skip


def run_study(
    tables: Sequence[str] = REGRESSION_TABLES,
    config: StudyConfig | None = None,
    folds: Sequence[int] | None = None,
    arms: Sequence[str] = ARMS,
    out: str | Path | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run every table, test every arm against ERM, and write ``regression_study.json`` and ``.md`` under ``out``.

    With ``jobs > 1`` the tables run in that many processes of one torch thread each (every table costs about the
    same: the step budget does not depend on its size); the results do not depend on ``jobs``.

    Returns:
        ``{"config", "folds", "arms", "tables": [run_table's dicts], "wilcoxon": {arm: wilcoxon_vs_erm's dict},
        "seconds"}``.
    """
    config = config or StudyConfig()
    for arm in arms:
        if arm not in ARMS:
            raise ValueError(f"Expected every arm to be one of {ARMS}, but got {arm!r}.")
    if ERM not in arms:
        raise ValueError(f"Expected the arms to include {ERM!r} (each arm is tested against it), but got {list(arms)}.")
    start = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            results = list(pool.map(run_table, tables, repeat(config), repeat(folds), repeat(arms)))
    else:
        results = [run_table(name, config, folds, arms) for name in tables]
    study = {
        "config": asdict(config), "folds": list(range(config.num_folds)) if folds is None else list(folds),
        "arms": list(arms), "tables": results,
        "wilcoxon": {arm: wilcoxon_vs_erm(results, arm) for arm in arms if arm != ERM},
        "wilcoxon_vs_mixup": ({"cmixup": wilcoxon_vs_erm(results, "cmixup", "mixup")}
                              if "cmixup" in arms and "mixup" in arms else {}),
        "cmixup_bandwidth": cmixup_bandwidth(config), "paper_airfoil_rmse": PAPER_AIRFOIL_RMSE,
        "seconds": time.perf_counter() - start,
    }  # fmt: skip
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "regression_study.json").write_text(json.dumps(study, indent=1) + "\n")
        (folder / "regression_study.md").write_text(markdown_table(study))
    return study


def _side(test: dict[str, Any], level: float = 0.05) -> int:
    """+1 when the arm's RMSE is significantly lower than the baseline's across tables, -1 when higher, else 0."""
    if test["pvalue"] >= level or test["wins"] == test["losses"]:
        return 0
    return 1 if test["wins"] > test["losses"] else -1


def regression_claims(study: dict[str, Any]) -> list[dict[str, Any]]:
    """The claims table's regression rows (Wilcoxon signed-rank across tables, p < 0.05, on relative RMSE).

    - C-Mixup (Yao et al. 2022): lower RMSE than ERM *and* than mixup: *agrees* when both tests favour C-Mixup,
      *disagrees* when either favours the other arm, else *inconclusive*.
    - mixup (the C-Mixup paper's observation, Airfoil 3.730 against ERM's 2.901): mixup can raise regression RMSE:
      *agrees* when the test finds mixup's RMSE higher than ERM's, *disagrees* when lower, else *inconclusive*.

    Example:
        >>> w = {"n_tables": 13, "wins": 11, "losses": 2, "ties": 0, "median_relative_difference": -0.05,
        ...      "pvalue": 0.01}
        >>> s = {"tables": [{}] * 13, "wilcoxon": {"mixup": {**w, "wins": 2, "losses": 11}, "cmixup": w},
        ...      "wilcoxon_vs_mixup": {"cmixup": w}}
        >>> [c["verdict"] for c in regression_claims(s)]
        ['agrees', 'agrees']
    """
    claims: list[dict[str, Any]] = []
    n = len(study["tables"])
    folds = study.get("folds")
    num_folds = study.get("config", {}).get("num_folds", 10)
    cv = f"{num_folds}-fold CV" if folds is None or len(folds) == num_folds else f"{len(folds)} of {num_folds} CV folds"
    setting = f"{n} regression tables, {cv}"

    def text(test: dict[str, Any], against: str) -> str:
        return (f"vs {against}: lower RMSE on {test['wins']} of {test['n_tables']}, median "
                f"{100 * test['median_relative_difference']:+.1f} %, Wilcoxon p = {test['pvalue']:.3g}")  # fmt: skip

    if "cmixup" in study["wilcoxon"]:
        tests = [(study["wilcoxon"]["cmixup"], "ERM")]
        if "cmixup" in study.get("wilcoxon_vs_mixup", {}):
            tests.append((study["wilcoxon_vs_mixup"]["cmixup"], "mixup"))
        sides = [_side(t) for t, _ in tests]
        verdict = (DISAGREES if any(s < 0 for s in sides)
                   else AGREES if len(sides) == 2 and all(s > 0 for s in sides) else INCONCLUSIVE)  # fmt: skip
        claims.append({"claim": "C-Mixup (Yao et al. 2022): lower RMSE than ERM and than mixup", "setting": setting,
                       "measured": "; ".join(text(t, a) for t, a in tests), "verdict": verdict,
                       "method": "cmixup"})  # fmt: skip
    if "mixup" in study["wilcoxon"]:
        side = _side(study["wilcoxon"]["mixup"])
        verdict = AGREES if side < 0 else DISAGREES if side > 0 else INCONCLUSIVE
        claims.append({"claim": "mixup can raise regression RMSE (C-Mixup paper: Airfoil 3.730 vs ERM 2.901)",
                       "setting": setting, "measured": text(study["wilcoxon"]["mixup"], "ERM"), "verdict": verdict,
                       "method": "mixup_regression"})  # fmt: skip
    return claims


def markdown_table(study: dict[str, Any]) -> str:
    """A markdown table: one row per table (n, d, mean RMSE per arm, relative difference to ERM), then the tests.

    Example:
        >>> s = {"arms": ["erm", "mixup"], "tables": [{"name": "t", "n": 10, "d": 2,
        ...      "mean_rmse": {"erm": 2.0, "mixup": 1.5}}], "wilcoxon": {"mixup": {"n_tables": 1, "wins": 1,
        ...      "losses": 0, "ties": 0, "median_relative_difference": -0.25, "pvalue": 1.0}}}
        >>> print(markdown_table(s).splitlines()[2])
        | t | 10 | 2 | 2.000 | 1.500 (-25.0 %) |
    """
    arms = list(study["arms"])
    others = [a for a in arms if a != ERM]
    head = "| table | n | d | " + " | ".join(f"{a} RMSE" for a in arms) + " |"
    lines = [head, "|" + " --- |" * (3 + len(arms))]
    for t in study["tables"]:
        cells = [t["name"], str(t["n"]), str(t["d"])]
        erm = t["mean_rmse"].get(ERM)
        scale = erm or t["mean_rmse"][arms[0]]
        decimals = max(0, 3 - math.floor(math.log10(scale))) if scale > 0 else 3  # 4 significant digits
        for arm in arms:
            value = t["mean_rmse"][arm]
            rel = f" ({100 * (value / erm - 1):+.1f} %)" if arm != ERM and erm else ""
            cells.append(f"{value:.{decimals}f}{rel}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for arm in others:
        w = study["wilcoxon"][arm]
        lines.append(
            f"{arm} vs ERM over {w['n_tables']} tables: {w['wins']} lower RMSE, {w['losses']} higher, "
            f"{w['ties']} tied; "
            f"median relative difference {100 * w['median_relative_difference']:+.1f} %; Wilcoxon signed-rank "
            f"p = {w['pvalue']:.3g}."
        )
    paper = ", ".join(f"{a} {PAPER_AIRFOIL_RMSE[a]:.3f}" for a in arms if a in PAPER_AIRFOIL_RMSE)
    lines.append("")
    lines.append(
        f"C-Mixup paper, Airfoil (Table 2, RMSE): {paper}. Airfoil is not among these tables (no installed package "
        "ships it offline), so the paper's numbers are not paired with ours."
    )
    if "cmixup" in arms:
        vs_mixup = study.get("wilcoxon_vs_mixup", {}).get("cmixup")
        if vs_mixup:
            lines.insert(-2, f"cmixup vs mixup over {vs_mixup['n_tables']} tables: {vs_mixup['wins']} lower RMSE, "
                             f"{vs_mixup['losses']} higher; median relative difference "
                             f"{100 * vs_mixup['median_relative_difference']:+.1f} %; Wilcoxon signed-rank "
                             f"p = {vs_mixup['pvalue']:.3g}.")  # fmt: skip
        sigma = study.get("cmixup_bandwidth")
        lines.append(f"C-Mixup: α = 2, bandwidth σ = {f'{sigma:.3g}' if sigma else 'by Silverman'} on standardised "
                     "targets (Silverman's rule at the batch size unless set).")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description="ERM against mixup on offline regression tables (issue #25): 10-fold CV, RMSE, Wilcoxon.",
        prog="python -m experiments.regression.study",
    )
    parser.add_argument("--quick", action="store_true", help=f"tables {', '.join(QUICK_TABLES)}, folds 0 and 1")
    parser.add_argument("--tables", nargs="+", choices=REGRESSION_TABLES, help="default: every table")
    parser.add_argument("--folds", nargs="+", type=int, help="default: every fold")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), help=f"of {', '.join(ARMS)} (a,b or a b)")
    parser.add_argument("--alpha", type=float, default=StudyConfig.alpha)
    parser.add_argument("--bandwidth", type=float, default=None, help="C-Mixup's σ (default: Silverman's rule)")
    parser.add_argument("--steps", type=int, default=StudyConfig.max_steps, help="optimiser steps per run")
    parser.add_argument("--seed", type=int, default=StudyConfig.seed)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (with --jobs 1)")
    parser.add_argument("--jobs", type=int, default=1, help="tables run in parallel processes")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for regression_study.json / .md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)  # three lines per fit otherwise ("GPU available", ...)
    arms = [a for item in args.arms for a in item.split(",") if a]
    for arm in arms:
        if arm not in ARMS:
            parser.error(f"argument --arms: invalid choice: {arm!r} (choose from {', '.join(ARMS)})")
    if ERM not in arms:
        parser.error(f"argument --arms: expected {ERM!r} among the arms (every arm is tested against it)")
    tables = args.tables or (QUICK_TABLES if args.quick else REGRESSION_TABLES)
    folds = args.folds or ([0, 1] if args.quick else None)
    config = StudyConfig(max_steps=args.steps, alpha=args.alpha, seed=args.seed, cmixup_bandwidth=args.bandwidth)
    study = run_study(tables, config, folds, arms, args.out, jobs=args.jobs)
    print(markdown_table(study), end="")
    print(f"{study['seconds']:.0f} s; results in {args.out}")
    return study


if __name__ == "__main__":
    main()
