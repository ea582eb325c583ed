"""Result objects of the robustness and calibration evaluation: plain dataclasses, JSON-serialisable.

Like RobustBench's and auto-attack's evaluations, the evaluation returns numbers and per-example flags, never only
printed text: :class:`RobustnessResult` holds the clean accuracy, the expected calibration error (ECE) and the
negative log-likelihood (NLL), the robust accuracy per attack per ε, the reliability-diagram bins and the
sanity-check outcomes (:class:`SanityCheck`).

References:
    - FGSM: Goodfellow et al., ICLR 2015, https://arxiv.org/abs/1412.6572
    - PGD: Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083
    - ECE: Guo et al., ICML 2017, https://arxiv.org/abs/1706.04599
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import Tensor

from lightning_mixup.evaluation.uncertainty import OODResult


def format_eps(eps: float) -> str:
    """The key of ``eps`` in JSON outputs and tables: the shortest round-trip decimal.

    Example:
        >>> format_eps(8 / 255), format_eps(0.0), format_eps(0.1)
        ('0.03137254901960784', '0', '0.1')
    """
    return "0" if eps == 0 else repr(float(eps))


@dataclass(frozen=True)
class SanityCheck:
    """The outcome of one sanity check of an evaluation (see :mod:`lightning_mixup.evaluation.sanity`).

    Attributes:
        name: the check, e.g. ``"eps0_is_clean[fgsm]"``.
        passed: ``True``/``False``, or ``None`` when it did not apply (e.g. no ε = 0 in the grid).
        detail: what was compared, in words and numbers.
        doc: the section of :mod:`lightning_mixup.evaluation.sanity` that explains a failure.
        cells: the ``(attack, ε)`` cells of ``robust_accuracy`` a failure makes untrustworthy (empty when it
            passed).
    """

    name: str
    passed: bool | None
    detail: str
    doc: str = ""
    cells: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (cells as ``[attack, ε]`` pairs)."""
        return _json(asdict(self))


@dataclass
class ReliabilityBins:
    """Confidence bins of a reliability diagram (Guo et al. 2017), from the clean predictions.

    Bin ``k`` holds the confidences in ``[edges[k], edges[k + 1])``; as in torchmetrics, the last bin
    ``[1, 1]`` holds the confidences of exactly 1.

    Attributes:
        edges: ``len(count) + 1`` bin edges in [0, 1].
        count: examples per bin.
        confidence: mean top-1 confidence per bin (``nan`` for an empty bin).
        accuracy: accuracy per bin (``nan`` for an empty bin).
    """

    edges: list[float]
    count: list[int]
    confidence: list[float]
    accuracy: list[float]

    @property
    def ece(self) -> float:
        """The L1 expected calibration error of the bins: ``Σ_b n_b/N · |acc_b - conf_b|``.

        Example:
            >>> ReliabilityBins([0.0, 0.5, 1.0], [1, 3], [0.4, 0.9], [0.0, 1.0]).ece
            0.175
        """
        total, bins = sum(self.count), zip(self.count, self.accuracy, self.confidence, strict=True)
        return sum(n / total * abs(a - c) for n, a, c in bins if n) if total else math.nan

    def merged(self) -> ReliabilityBins:
        """The bins with the last one (confidence exactly 1) merged into the one before, for plotting.

        Example:
            >>> ReliabilityBins([0.0, 0.5, 1.0, 1.0], [1, 1, 3], [0.4, 0.8, 1.0], [0.0, 1.0, 1.0]).merged().count
            [1, 4]
        """
        if len(self.count) < 3 or self.edges[-2] != self.edges[-1]:
            return self
        n_a, n_b = self.count[-2], self.count[-1]
        total = n_a + n_b

        def mix(a: float, b: float) -> float:
            return ((a * n_a if n_a else 0.0) + (b * n_b if n_b else 0.0)) / total if total else math.nan

        return ReliabilityBins(
            edges=self.edges[:-1],
            count=[*self.count[:-2], total],
            confidence=[*self.confidence[:-2], mix(self.confidence[-2], self.confidence[-1])],
            accuracy=[*self.accuracy[:-2], mix(self.accuracy[-2], self.accuracy[-1])],
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``nan`` becomes ``None``)."""
        finite = {name: [_finite_or_none(v) for v in getattr(self, name)] for name in ("confidence", "accuracy")}
        return {**asdict(self), **finite}


@dataclass
class MixupInferenceResult:
    """Mixup inference (Pang et al. 2020) of one classifier: its defended accuracy, clean and adaptively attacked.

    Attributes:
        clean_accuracy: accuracy of the defended (randomised) prediction on clean inputs.
        eotpgd: ``{ε: accuracy}`` under torchattacks' ``EOTPGD`` through the defended prediction (the adaptive
            attack: the number that evaluates the defence).
        pgd_undefended_gradient: ``{ε: accuracy}`` of the defence on PGD examples crafted on the *undefended* model
            (a transfer setting, weaker by design: never report it alone).
    """

    clean_accuracy: float
    eotpgd: dict[float, float]
    pgd_undefended_gradient: dict[float, float]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; ε keys are :func:`format_eps` strings."""
        return _json(asdict(self))


@dataclass
class RegressionResult:
    """RMSE and, for a model that predicts a variance, Gaussian NLL (as ``uncertainty.regression_metrics``).

    Attributes:
        num_examples: examples evaluated.
        rmse: root mean squared error over all target elements.
        nll: mean Gaussian negative log-likelihood, or ``None`` when the model returns only a mean.
    """

    num_examples: int
    rmse: float
    nll: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


#: The keys of :meth:`RobustnessResult.to_dict`, in order (the per-example flags follow with ``include_flags``).
_RESULT_KEYS = (
    "num_examples", "clean_accuracy", "ece", "nll", "robust_accuracy", "reliability", "sanity", "passed",
    "failed_cells", "config", "aurc", "ood", "mixup_inference",
)  # fmt: skip


@dataclass
class RobustnessResult:
    """Clean accuracy, calibration and robust accuracy of one classifier on one dataset.

    Attributes:
        num_examples: examples evaluated (over all devices).
        clean_accuracy: top-1 accuracy on the unperturbed inputs.
        ece: expected calibration error (L1, ``n_bins`` equal-width bins, torchmetrics).
        nll: mean negative log-likelihood (cross-entropy of the logits).
        robust_accuracy: ``{attack: {ε: accuracy}}``, attacks ``"fgsm"``, ``"pgd"`` (L∞), ``"pgdl2"`` (L2),
            ``"autoattack"`` (L∞), ``"transfer_fgsm"`` and ``"transfer_pgd"`` (L∞, crafted on the transfer
            source); ε in the model's input space ([0, 1] pixels). Cells in :attr:`failed_cells` failed a sanity
            check: show them as such and leave them out of verdicts.
        reliability: the reliability-diagram bins of the clean predictions.
        sanity: the sanity checks, see :mod:`lightning_mixup.evaluation.sanity`.
        config: the attack settings (steps, step size, random start, seed, ...).
        clean_correct: per-example correctness ``(N,)`` bool, in dataloader order; ``None`` on several devices.
        robust_correct: ``{attack: {ε: (N,) bool}}``, likewise.
        confidence: per-example top-1 softmax confidence ``(N,)`` on clean inputs; ``None`` on several devices.
        aurc: area under the risk-coverage curve of the clean predictions (max-softmax confidence; lower is better).
        ood: ``{"msp": OODResult, "entropy": OODResult}`` (AUROC, FPR at 95 % TPR) against the OOD set, or ``None``.
        mixup_inference: the mixup-inference numbers (:class:`MixupInferenceResult`), or ``None``.
    """

    num_examples: int
    clean_accuracy: float
    ece: float
    nll: float
    robust_accuracy: dict[str, dict[float, float]]
    reliability: ReliabilityBins
    sanity: list[SanityCheck] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    clean_correct: Tensor | None = None
    robust_correct: dict[str, dict[float, Tensor]] | None = None
    confidence: Tensor | None = None
    aurc: float | None = None
    ood: dict[str, OODResult] | None = None
    mixup_inference: MixupInferenceResult | None = None

    @property
    def passed(self) -> bool:
        """Whether no applicable sanity check failed."""
        return all(check.passed is not False for check in self.sanity)

    @property
    def failed_checks(self) -> list[SanityCheck]:
        """The sanity checks that failed."""
        return [check for check in self.sanity if check.passed is False]

    @property
    def failed_cells(self) -> dict[str, list[float]]:
        """``{attack: [ε, ...]}``: the cells of :attr:`robust_accuracy` that a failed sanity check implicates.

        A failed check names the cells it makes untrustworthy (e.g. PGD at the ε where it is weaker than FGSM; every
        cell of an attack whose ε = 0 accuracy is not the clean accuracy; every cell when the model was in training
        mode). Studies show these cells as failed and leave them out of verdicts.

        Example:
            >>> bins = ReliabilityBins([0.0, 1.0], [4], [0.9], [1.0])
            >>> check = SanityCheck("pgd_not_weaker_than_fgsm", False, "...", "pgd-weaker", (("pgd", 0.1),))
            >>> result = RobustnessResult(4, 1.0, 0.1, 0.1, {"pgd": {0.1: 0.5, 0.2: 0.25}}, bins, [check])
            >>> result.failed_cells, result.cell_passed("pgd", 0.2)
            ({'pgd': [0.1]}, True)
        """
        cells: dict[str, set[float]] = {}
        for check in self.failed_checks:
            for attack, eps in check.cells:
                cells.setdefault(attack, set()).add(eps)
        return {attack: sorted(eps) for attack, eps in sorted(cells.items())}

    def cell_passed(self, attack: str, eps: float) -> bool:
        """Whether the cell ``robust_accuracy[attack][eps]`` passed every sanity check that concerns it."""
        return eps not in self.failed_cells.get(attack, [])

    def accuracy_curve(self, attack: str) -> tuple[list[float], list[float]]:
        """``(eps, accuracy)`` of ``attack``, sorted by ε.

        Raises:
            KeyError: if ``attack`` was not run.
        """
        if attack not in self.robust_accuracy:
            raise KeyError(f"Attack {attack!r} was not run; available: {sorted(self.robust_accuracy)}.")
        eps = sorted(self.robust_accuracy[attack])
        return eps, [self.robust_accuracy[attack][e] for e in eps]

    def to_dict(self, include_flags: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict; ε keys are :func:`format_eps` strings.

        Args:
            include_flags: also include the per-example flags and confidences (as lists).
        """
        flags = ("clean_correct", "confidence", "robust_correct") if include_flags else ()
        out = {name: _json(getattr(self, name)) for name in (*_RESULT_KEYS, *flags)}
        out["failed_cells"] = {attack: [format_eps(e) for e in eps] for attack, eps in self.failed_cells.items()}
        return out

    def summary(self) -> str:
        """A short summary: one row per attack, one entry per ε; a cell that failed a sanity check ends in ``(!)``."""
        lines = [
            f"clean accuracy {self.clean_accuracy:.4f} | ECE {self.ece:.4f} | NLL {self.nll:.4f} | "
            f"N = {self.num_examples}",
        ]
        lines += [f"{attack}: {_cells(curve, self.failed_cells.get(attack, []))}" for attack, curve in
                  self.robust_accuracy.items()]  # fmt: skip
        if self.aurc is not None:
            lines.append(f"AURC {self.aurc:.4f}")
        for score, ood in (self.ood or {}).items():
            lines.append(f"OOD ({score}): AUROC {ood.auroc:.4f}, FPR@95%TPR {ood.fpr_at_95_tpr:.4f}")
        if self.mixup_inference is not None:
            mi = self.mixup_inference
            lines.append(f"mixup inference: clean {mi.clean_accuracy:.4f}")
            lines.append(f"  EOTPGD, adaptive: {_cells(mi.eotpgd)}")
            lines.append(f"  PGD, undefended gradient: {_cells(mi.pgd_undefended_gradient)}")
        failed = self.failed_checks
        lines.append("sanity checks: all passed" if not failed else f"sanity checks FAILED: {[c.name for c in failed]}")
        return "\n".join(lines)


def _cells(curve: Mapping[float, float], failed: Sequence[float] = ()) -> str:
    """``ε=...: accuracy`` entries sorted by ε; a failed cell ends in ``(!)``."""
    return ", ".join(f"ε={format_eps(e)}: {a:.4f}" + " (!)" * (e in failed) for e, a in sorted(curve.items()))


def _json(value: Any) -> Any:
    """``value`` as JSON data: results by ``to_dict``, tensors and tuples as lists, ε keys by :func:`format_eps`."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, Mapping) and value and all(isinstance(k, float) for k in value):  # a curve: sorted by ε
        return {format_eps(e): _json(v) for e, v in sorted(value.items())}
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
