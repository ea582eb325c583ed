r"""Uncertainty metrics: OOD detection, selective prediction (AURC) and regression RMSE / Gaussian NLL.

Pure functions with torchmetrics ``Metric`` twins that only accumulate (as torchmetrics pairs ``binary_auroc`` with
``BinaryAUROC``): :func:`ood_detection` / :class:`OODDetection`, :func:`aurc` / :class:`AURC`,
:func:`regression_metrics` / :class:`GaussianNLL`. Nothing here imports Lightning's training code.

Conventions (decided once, here):

- **OOD scores: higher means more in-distribution.** :func:`ood_scores` returns the maximum softmax probability
  (``"msp"``, Hendrycks & Gimpel 2017) or the *negative* predictive entropy ``-H(softmax(logits))`` (``"entropy"``),
  so both rank in-distribution (ID) samples above OOD ones.
- **ID is the positive class** (Hendrycks & Gimpel 2017; OpenOOD): a sample is *accepted* as ID when its score is
  at least a threshold ``t``; TPR = share of ID samples accepted, FPR = share of OOD samples accepted. AUROC is
  torchmetrics' binary AUROC with ID as target 1 (tied ID/OOD scores count one half, as in the Mann-Whitney
  statistic). **FPR at 95 % TPR** is the FPR at the largest threshold whose TPR is *at least* 0.95 (with ties a TPR
  of exactly 0.95 may be unreachable; the next higher TPR is then used, never interpolated), which is
  ``fpr[argmax(tpr >= 0.95)]`` on sklearn's ``roc_curve(..., drop_intermediate=False)``. The 95 % is compared in
  integer counts (``#ID accepted >= ceil(0.95 · n_ID)``), so float rounding of ``19/20`` cannot move it.
  torchmetrics applies a sigmoid to scores outside [0, 1] (negative entropies are), which can merge distinct float32
  scores; the scores are therefore handed to torchmetrics as their dense ranks scaled into [0, 1], which keeps their
  order and their ties exactly.
- **AURC** (Geifman & El-Yaniv 2017; Geifman, Uziel & El-Yaniv 2019): confidence = maximum softmax probability,
  risk = 0-1 error of the prediction. Sorting by decreasing confidence, the selective risk at coverage ``k/n`` is the
  error rate of the ``k`` most confident samples, and ``AURC = (1/n) Σ_{k=1..n} risk(k/n)``. **Ties**: samples of
  equal confidence cannot be ordered, so the risk is its expectation over a uniformly random order of the tied
  samples, which replaces each error of a tie group by the group's mean error (exact: the risk at ``k`` is linear in
  the errors). The result does not depend on the input order. torchmetrics has no AURC; torch-uncertainty's
  ``AURC`` (``metrics/classification/risk_coverage.py``, the stored version read) sorts with ``argsort`` (ties in
  whatever order it returns) and integrates with the trapezoid rule over coverages ``1/n..1``, and subtracts the
  oracle curve in that version (E-AURC), so its numbers differ from these by design.
- **Regression**: RMSE over all elements (torchmetrics' ``mean_squared_error(squared=False)`` on the flattened
  tensors); Gaussian NLL ``0.5 · (log(2π σ²) + (y - μ)² / σ²)`` averaged over all elements, from torch's
  ``F.gaussian_nll_loss(full=True)`` with its variance clamp set to the dtype's smallest normal number, so a valid
  (positive) variance is never altered; a non-positive variance raises.

References:
    - Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution Examples in Neural
      Networks", ICLR 2017, https://arxiv.org/abs/1610.02136
    - Yang et al., "OpenOOD: Benchmarking Generalized Out-of-Distribution Detection", NeurIPS 2022,
      https://arxiv.org/abs/2210.07242
    - Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks", NeurIPS 2017,
      https://arxiv.org/abs/1705.08500
    - Geifman, Uziel & El-Yaniv, "Bias-Reduced Uncertainty Estimation for Deep Neural Classifiers", ICLR 2019,
      https://arxiv.org/abs/1805.08206
    - Lakshminarayanan et al., "Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles",
      NeurIPS 2017, https://arxiv.org/abs/1612.01474 (Gaussian NLL of a mean/variance regressor)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional import mean_squared_error
from torchmetrics.functional.classification import binary_auroc, binary_roc
from torchmetrics.utilities.data import dim_zero_cat

from lightning_mixup._checks import check_choice, check_tensor, describe

__all__ = [
    "AURC",
    "OOD_SCORES",
    "PREDICTION_INPUTS",
    "GaussianNLL",
    "OODDetection",
    "OODResult",
    "aurc",
    "gaussian_nll",
    "ood_detection",
    "ood_detection_from_scores",
    "ood_scores",
    "regression_metrics",
    "risk_coverage_curve",
]

OODScore = Literal["msp", "entropy"]
#: The OOD scores of :func:`ood_scores`; higher means more in-distribution for both.
OOD_SCORES: tuple[str, ...] = ("msp", "entropy")
PredictionInputs = Literal["logits", "probs"]
#: What :func:`aurc` is given: logits (a softmax is applied) or class probabilities (used as they are).
PREDICTION_INPUTS: tuple[str, ...] = ("logits", "probs")
DEFAULT_TPR = 0.95


# --------------------------------------------------------------------------------------------------------------------
# checks


def _check_logits(logits: Any, name: str) -> None:
    check_tensor(logits, name, min_ndim=2, floating=True, shape_hint="(N, C)")
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(
            f"Expected argument `{name}` of shape (N, C) with C >= 2, but got shape {tuple(logits.shape)}."
        )
    if logits.shape[0] == 0:
        raise ValueError(
            f"Expected argument `{name}` to hold at least one sample, but got shape {tuple(logits.shape)}."
        )
    if not torch.isfinite(logits).all():
        raise ValueError(
            f"Expected argument `{name}` to be finite, but got {_count_nonfinite(logits)} non-finite values."
        )


def _check_scores(scores: Any, name: str) -> None:
    check_tensor(scores, name, min_ndim=1, floating=True, shape_hint="(N,)")
    if scores.ndim != 1 or scores.numel() == 0:
        raise ValueError(f"Expected argument `{name}` of shape (N,) with N >= 1, but got shape {tuple(scores.shape)}.")
    if not torch.isfinite(scores).all():
        raise ValueError(
            f"Expected argument `{name}` to be finite, but got {_count_nonfinite(scores)} non-finite values."
        )


def _check_tpr(tpr: Any) -> None:
    if not isinstance(tpr, (int, float)) or isinstance(tpr, bool) or not 0 < tpr <= 1:
        raise ValueError(f"Expected argument `tpr` to be a float in (0, 1], but got {tpr!r}.")


def _count_nonfinite(value: Tensor) -> int:
    return int((~torch.isfinite(value)).sum())


# --------------------------------------------------------------------------------------------------------------------
# OOD detection


def ood_scores(logits: Tensor, score: OODScore = "msp") -> Tensor:
    """Per-sample OOD scores from logits; **higher means more in-distribution**.

    Inputs:
        - ``logits``: ``(N, C)`` unnormalised class scores.

    Args:
        logits: the classifier's logits.
        score: ``"msp"``: the maximum softmax probability, in ``[1/C, 1]``; ``"entropy"``: the negative entropy
            (natural log) of the softmax, ``-H(p) = Σ_c p_c log p_c``, in ``[-log C, 0]``.

    Returns:
        ``(N,)`` scores in the dtype of ``logits`` (computed without gradient tracking).

    Raises:
        TypeError: if ``logits`` is not a floating-point tensor.
        ValueError: for an unknown ``score``, a shape other than ``(N, C)`` with ``C >= 2``, or non-finite logits.

    Example:
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
        >>> ood_scores(logits, "msp")
        tensor([0.8808, 0.5000])
        >>> ood_scores(logits, "entropy")
        tensor([-0.3653, -0.6931])
    """
    check_choice(score, "score", OOD_SCORES)
    _check_logits(logits, "logits")
    with torch.no_grad():
        log_probs = torch.log_softmax(logits, dim=1)
        if score == "msp":
            return log_probs.exp().amax(dim=1)
        # Σ p log p with 0 · log 0 = 0 (xlogy) so that saturated rows give exactly 0, not nan
        return torch.special.xlogy(log_probs.exp(), log_probs.exp()).sum(dim=1)


@dataclass
class OODResult:
    """OOD detection quality of one score, in-distribution as the positive class.

    Attributes:
        score: the score used (``"msp"``, ``"entropy"``, or ``"custom"`` for precomputed scores).
        auroc: area under the ROC curve (1 = every ID sample scores above every OOD sample, 0.5 = chance).
        fpr_at_95_tpr: share of OOD samples accepted at the largest threshold that accepts at least 95 % of the ID
            samples (lower is better); the TPR level is :attr:`tpr`.
        tpr: the TPR level asked for (0.95 unless told otherwise).
        tpr_reached: the TPR actually reached at :attr:`threshold` (>= :attr:`tpr`; above it when ties skip it).
        threshold: that threshold, in score units: a sample is accepted as ID when its score is ``>= threshold``.
        num_id: in-distribution samples.
        num_ood: OOD samples.
    """

    score: str
    auroc: float
    fpr_at_95_tpr: float
    tpr: float
    tpr_reached: float
    threshold: float
    num_id: int
    num_ood: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the fields."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def ood_detection_from_scores(
    id_scores: Tensor, ood_scores: Tensor, *, tpr: float = DEFAULT_TPR, score_name: str = "custom"
) -> OODResult:
    """AUROC and FPR at ``tpr`` TPR of precomputed scores (higher = more in-distribution, ID positive).

    Inputs:
        - ``id_scores``: ``(N_id,)`` scores of the in-distribution samples.
        - ``ood_scores``: ``(N_ood,)`` scores of the OOD samples.

    Args:
        id_scores: scores of the in-distribution set.
        ood_scores: scores of the OOD set.
        tpr: the TPR level of the FPR, in ``(0, 1]``.
        score_name: the name stored in :attr:`OODResult.score`.

    Returns:
        An :class:`OODResult`.

    Raises:
        TypeError: if a score tensor is not floating-point.
        ValueError: for an empty or non-1-D score tensor, non-finite scores, or ``tpr`` outside ``(0, 1]``.

    Example:
        >>> result = ood_detection_from_scores(torch.tensor([0.9, 0.8, 0.6, 0.4]), torch.tensor([0.7, 0.5, 0.3]))
        >>> round(result.auroc, 4), result.fpr_at_95_tpr, result.threshold
        (0.75, 0.6666666666666666, 0.4000000059604645)
    """
    _check_scores(id_scores, "id_scores")
    _check_scores(ood_scores, "ood_scores")
    _check_tpr(tpr)
    num_id, num_ood = id_scores.numel(), ood_scores.numel()
    scores = torch.cat([id_scores.detach(), ood_scores.detach().to(id_scores.dtype)]).to(torch.float64)
    target = torch.cat([torch.ones(num_id, dtype=torch.long), torch.zeros(num_ood, dtype=torch.long)])
    target = target.to(scores.device)
    # dense ranks scaled into [0, 1]: same order and ties, and torchmetrics applies no sigmoid to them
    unique, ranks = torch.unique(scores, sorted=True, return_inverse=True)
    preds = ranks.to(torch.float64) / max(unique.numel() - 1, 1)
    auroc = float(binary_auroc(preds, target))
    fpr, tpr_curve, thresholds = binary_roc(preds, target)
    # back to integer counts (exact: tpr = tp / num_id), so the TPR level is compared without float rounding
    true_pos = torch.round(tpr_curve.to(torch.float64) * num_id).long()
    false_pos = torch.round(fpr.to(torch.float64) * num_ood).long()
    needed = math.ceil(Fraction(str(float(tpr))) * num_id)
    index = int(torch.nonzero(true_pos >= needed)[0])
    threshold_rank = int(torch.round(thresholds[index].to(torch.float64) * max(unique.numel() - 1, 1)))
    return OODResult(
        score=score_name,
        auroc=auroc,
        fpr_at_95_tpr=int(false_pos[index]) / num_ood,
        tpr=float(tpr),
        tpr_reached=int(true_pos[index]) / num_id,
        threshold=float(unique[threshold_rank]),
        num_id=num_id,
        num_ood=num_ood,
    )


def ood_detection(
    id_logits: Tensor, ood_logits: Tensor, *, score: OODScore = "msp", tpr: float = DEFAULT_TPR
) -> OODResult:
    """OOD detection from the logits of an in-distribution set and of an OOD set: AUROC and FPR at 95 % TPR.

    In-distribution is the positive class (Hendrycks & Gimpel 2017, OpenOOD); see the module docstring for the
    threshold and tie conventions.

    Inputs:
        - ``id_logits``: ``(N_id, C)`` logits on the in-distribution test set.
        - ``ood_logits``: ``(N_ood, C)`` logits on the OOD set.

    Args:
        id_logits: logits of the in-distribution samples.
        ood_logits: logits of the OOD samples (same number of classes).
        score: ``"msp"`` or ``"entropy"``, see :func:`ood_scores`.
        tpr: the TPR level of the FPR, in ``(0, 1]``.

    Returns:
        An :class:`OODResult`.

    Raises:
        TypeError: if the logits are not floating-point tensors.
        ValueError: for an unknown ``score``, bad shapes, different numbers of classes, or non-finite logits.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> id_logits = 3 * torch.eye(4)[torch.randint(4, (50,), generator=gen)] + torch.randn(50, 4, generator=gen)
        >>> ood_logits = torch.randn(40, 4, generator=gen)
        >>> result = ood_detection(id_logits, ood_logits, score="msp")
        >>> round(result.auroc, 4), result.fpr_at_95_tpr, result.num_id, result.num_ood
        (0.8635, 0.65, 50, 40)
    """
    check_choice(score, "score", OOD_SCORES)
    _check_logits(id_logits, "id_logits")
    _check_logits(ood_logits, "ood_logits")
    if id_logits.shape[1] != ood_logits.shape[1]:
        raise ValueError(
            f"Expected arguments `id_logits` and `ood_logits` to have the same number of classes, but got shapes "
            f"{tuple(id_logits.shape)} and {tuple(ood_logits.shape)}."
        )
    return ood_detection_from_scores(
        ood_scores(id_logits, score), ood_scores(ood_logits, score), tpr=tpr, score_name=score
    )


class OODDetection(Metric):
    """Accumulating twin of :func:`ood_detection`: ``update(logits, is_ood)``, ``compute() -> OODResult``.

    Keeps every score (``dist_reduce_fx="cat"``), as AUROC needs them all.

    Inputs:
        - ``logits``: ``(B, C)`` logits.
        - ``is_ood``: ``(B,)`` bool (or 0/1) tensor, ``True`` for OOD samples.

    Args:
        score: ``"msp"`` or ``"entropy"``, see :func:`ood_scores`.
        tpr: the TPR level of the FPR, in ``(0, 1]``.
        kwargs: torchmetrics ``Metric`` options.

    Example:
        >>> metric = OODDetection(score="entropy")
        >>> metric.update(torch.tensor([[4.0, 0.0], [3.0, 0.0]]), torch.tensor([False, False]))
        >>> metric.update(torch.tensor([[0.1, 0.0], [1.0, 0.0]]), torch.tensor([True, True]))
        >>> result = metric.compute()
        >>> result.auroc, result.fpr_at_95_tpr
        (1.0, 0.0)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    scores: list[Tensor]
    is_ood: list[Tensor]

    def __init__(self, score: OODScore = "msp", tpr: float = DEFAULT_TPR, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice(score, "score", OOD_SCORES)
        _check_tpr(tpr)
        self.score = score
        self.tpr = tpr
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("is_ood", default=[], dist_reduce_fx="cat")

    def update(self, logits: Tensor, is_ood: Tensor) -> None:
        """Add a batch of logits ``(B, C)`` and OOD flags ``(B,)``."""
        _check_logits(logits, "logits")
        if not isinstance(is_ood, Tensor) or is_ood.shape != (logits.shape[0],):
            raise ValueError(
                f"Expected argument `is_ood` to be a tensor of shape ({logits.shape[0]},), but got {describe(is_ood)}."
            )
        flags = is_ood.to(torch.bool)
        if not torch.equal(flags.to(is_ood.dtype), is_ood):
            raise ValueError("Expected argument `is_ood` to hold only 0/1 or bool values, but got other values.")
        self.scores.append(ood_scores(logits, self.score))
        self.is_ood.append(flags)

    def compute(self) -> OODResult:
        """The :class:`OODResult` of everything seen (needs at least one ID and one OOD sample)."""
        if isinstance(self.scores, list) and not self.scores:  # a tensor once synchronised (DDP)
            raise ValueError("Expected at least one call of `update` before `compute`, but got none.")
        scores, is_ood = dim_zero_cat(self.scores), dim_zero_cat(self.is_ood)
        if is_ood.all() or not is_ood.any():
            raise ValueError(
                f"Expected at least one in-distribution and one OOD sample, but got {int((~is_ood).sum())} and "
                f"{int(is_ood.sum())}."
            )
        return ood_detection_from_scores(scores[~is_ood], scores[is_ood], tpr=self.tpr, score_name=self.score)


# --------------------------------------------------------------------------------------------------------------------
# selective prediction: risk-coverage curve and AURC


def _confidence_and_errors(preds: Tensor, target: Tensor, inputs: str) -> tuple[Tensor, Tensor]:
    check_choice(inputs, "inputs", PREDICTION_INPUTS)
    _check_logits(preds, "preds")
    check_tensor(target, "target", min_ndim=1, floating=False, shape_hint="(N,)")
    if target.shape != (preds.shape[0],):
        raise ValueError(
            f"Expected argument `target` of shape ({preds.shape[0]},) to match `preds` {tuple(preds.shape)}, but got "
            f"shape {tuple(target.shape)}."
        )
    preds = preds.detach()
    if inputs == "probs":
        if (preds < 0).any() or not torch.allclose(preds.sum(dim=1), torch.ones_like(preds[:, 0]), atol=1e-4):
            raise ValueError(
                "Expected argument `preds` to hold probabilities (non-negative rows summing to 1) with "
                "inputs='probs', but got other values; pass inputs='logits' for logits."
            )
        probs = preds
    else:
        probs = torch.softmax(preds, dim=1)
    confidence, predicted = probs.max(dim=1)
    return confidence, (predicted != target.to(predicted.device)).to(torch.float64)


def _selective_risk(confidence: Tensor, errors: Tensor) -> Tensor:
    """Risk at coverage ``k/n``, ``k = 1..n``, ties replaced by their expectation over random orders."""
    order = torch.argsort(confidence, descending=True, stable=True)
    sorted_conf, sorted_err = confidence[order], errors[order].to(torch.float64)
    _, group, counts = torch.unique_consecutive(sorted_conf, return_inverse=True, return_counts=True)
    group_errors = torch.zeros(counts.numel(), dtype=torch.float64, device=errors.device)
    group_errors.index_add_(0, group, sorted_err)
    expected_err = (group_errors / counts.to(torch.float64))[group]
    k = torch.arange(1, errors.numel() + 1, dtype=torch.float64, device=errors.device)
    return torch.cumsum(expected_err, dim=0) / k


def risk_coverage_curve(preds: Tensor, target: Tensor, *, inputs: PredictionInputs = "logits") -> tuple[Tensor, Tensor]:
    """The risk-coverage curve of selective classification by maximum softmax probability.

    Inputs:
        - ``preds``: ``(N, C)`` logits (``inputs="logits"``) or class probabilities (``inputs="probs"``).
        - ``target``: ``(N,)`` integer labels.

    Args:
        preds: the classifier's outputs.
        target: the labels.
        inputs: whether ``preds`` are ``"logits"`` or ``"probs"``.

    Returns:
        ``(coverage, risk)``, both ``(N,)`` float64: coverage ``k/n`` for ``k = 1..n`` and the 0-1 error rate of the
        ``k`` most confident predictions (expected over random orders of tied confidences).

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.7, 0.3]])
        >>> coverage, risk = risk_coverage_curve(probs, torch.tensor([0, 1, 1, 0]), inputs="probs")
        >>> coverage.tolist(), risk.tolist()
        ([0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.3333333333333333, 0.25])
    """
    confidence, errors = _confidence_and_errors(preds, target, inputs)
    risk = _selective_risk(confidence, errors)
    coverage = torch.arange(1, risk.numel() + 1, dtype=torch.float64, device=risk.device) / risk.numel()
    return coverage, risk


def aurc(preds: Tensor, target: Tensor, *, inputs: PredictionInputs = "logits") -> Tensor:
    """Area under the risk-coverage curve (lower is better), confidence = maximum softmax probability.

    ``AURC = (1/n) Σ_{k=1..n} risk(k/n)`` (Geifman et al. 2019), ties in confidence handled by expectation (module
    docstring). A perfect ranking of a classifier with error rate ``r`` has AURC ``≈ r + (1 - r) log(1 - r)``.

    Inputs:
        - ``preds``: ``(N, C)`` logits (``inputs="logits"``) or class probabilities (``inputs="probs"``).
        - ``target``: ``(N,)`` integer labels.

    Args:
        preds: the classifier's outputs.
        target: the labels.
        inputs: whether ``preds`` are ``"logits"`` or ``"probs"``.

    Returns:
        A 0-d float64 tensor.

    Raises:
        TypeError: if ``preds`` is not floating-point or ``target`` not an integer tensor.
        ValueError: for bad shapes, non-finite ``preds``, an unknown ``inputs``, or ``inputs="probs"`` with rows that
            are not probabilities.

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.7, 0.3]])
        >>> aurc(probs, torch.tensor([0, 1, 1, 0]), inputs="probs")
        tensor(0.2708, dtype=torch.float64)
    """
    _, risk = risk_coverage_curve(preds, target, inputs=inputs)
    return risk.mean()


class AURC(Metric):
    """Accumulating twin of :func:`aurc`: keeps each sample's confidence and 0-1 error (``dist_reduce_fx="cat"``).

    Inputs:
        - ``preds``: ``(B, C)`` logits or probabilities (``inputs``).
        - ``target``: ``(B,)`` integer labels.

    Args:
        inputs: whether ``preds`` are ``"logits"`` or ``"probs"``.
        kwargs: torchmetrics ``Metric`` options.

    Example:
        >>> metric = AURC(inputs="probs")
        >>> metric.update(torch.tensor([[0.9, 0.1], [0.8, 0.2]]), torch.tensor([0, 1]))
        >>> metric.update(torch.tensor([[0.4, 0.6], [0.7, 0.3]]), torch.tensor([1, 0]))
        >>> metric.compute()
        tensor(0.2708, dtype=torch.float64)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    confidence: list[Tensor]
    errors: list[Tensor]

    def __init__(self, inputs: PredictionInputs = "logits", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice(inputs, "inputs", PREDICTION_INPUTS)
        self.inputs = inputs
        self.add_state("confidence", default=[], dist_reduce_fx="cat")
        self.add_state("errors", default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of outputs ``(B, C)`` and labels ``(B,)``."""
        confidence, errors = _confidence_and_errors(preds, target, self.inputs)
        self.confidence.append(confidence)
        self.errors.append(errors)

    def compute(self) -> Tensor:
        """The AURC of everything seen."""
        if isinstance(self.confidence, list) and not self.confidence:  # a tensor once synchronised (DDP)
            raise ValueError("Expected at least one call of `update` before `compute`, but got none.")
        return _selective_risk(dim_zero_cat(self.confidence), dim_zero_cat(self.errors)).mean()


# --------------------------------------------------------------------------------------------------------------------
# regression


def _check_regression(mean: Any, target: Any, var: Any) -> None:
    check_tensor(mean, "mean", min_ndim=1, floating=True, shape_hint="(N,) or (N, D)")
    check_tensor(target, "target", min_ndim=1, floating=True, shape_hint="(N,) or (N, D)")
    if mean.ndim > 2 or mean.shape[0] == 0:
        raise ValueError(
            f"Expected argument `mean` of shape (N,) or (N, D) with N >= 1, but got shape {tuple(mean.shape)}."
        )
    if target.shape != mean.shape:
        raise ValueError(
            f"Expected argument `target` of the shape of `mean` {tuple(mean.shape)}, but got shape "
            f"{tuple(target.shape)}."
        )
    if var is not None:
        check_tensor(var, "var", min_ndim=1, floating=True, shape_hint=str(tuple(mean.shape)))
        if var.shape != mean.shape:
            raise ValueError(
                f"Expected argument `var` of the shape of `mean` {tuple(mean.shape)}, but got shape {tuple(var.shape)}."
            )
        bad = ~(torch.isfinite(var) & (var > 0))
        if bad.any():
            raise ValueError(
                f"Expected argument `var` to be finite and positive (a variance, not a log-variance or a standard "
                f"deviation of 0), but got {int(bad.sum())} other values, e.g. {float(var[bad][0])!r}."
            )


def gaussian_nll(mean: Tensor, target: Tensor, var: Tensor) -> Tensor:
    """Mean Gaussian negative log-likelihood ``0.5 · (log(2π var) + (target - mean)² / var)`` over all elements.

    Torch's ``F.gaussian_nll_loss(full=True)`` with its variance clamp at the dtype's smallest normal number (a
    positive variance is used as given). Differentiable in ``mean`` and ``var``.

    Inputs:
        - ``mean``, ``target``, ``var``: ``(N,)`` or ``(N, D)``, the same shape; ``var > 0``.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: for shapes that differ or a variance that is not finite and positive.

    Example:
        >>> gaussian_nll(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 4.0]))
        tensor(1.5155)
    """
    _check_regression(mean, target, var)
    eps = torch.finfo(var.dtype).tiny
    return F.gaussian_nll_loss(mean, target, var, full=True, eps=eps, reduction="mean")


def regression_metrics(mean: Tensor, target: Tensor, var: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """RMSE of the predicted means and, when the model predicts a variance, the mean Gaussian NLL.

    Inputs:
        - ``mean``: ``(N,)`` or ``(N, D)`` predicted means.
        - ``target``: the targets, shape of ``mean``.
        - ``var``: ``None`` or the predicted variances (not log-variances), shape of ``mean``, positive.

    Args:
        mean: predicted means.
        target: targets.
        var: predicted variances, or ``None`` for a model without one.

    Returns:
        ``(rmse, nll)``: 0-d tensors; RMSE over all elements (torchmetrics), NLL as in :func:`gaussian_nll`, or
        ``None`` without ``var``.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: for shapes that differ, an empty batch, or a variance that is not finite and positive.

    Example:
        >>> rmse, nll = regression_metrics(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 4.0]))
        >>> rmse, nll
        (tensor(0.7071), tensor(1.5155))
        >>> regression_metrics(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))[1] is None
        True
    """
    _check_regression(mean, target, var)
    rmse = mean_squared_error(mean.detach().flatten(), target.detach().flatten(), squared=False)
    nll = None if var is None else gaussian_nll(mean.detach(), target.detach(), var.detach())
    return rmse, nll


class GaussianNLL(Metric):
    """Accumulating twin of :func:`gaussian_nll` (sum and count, ``dist_reduce_fx="sum"``).

    RMSE's twin is torchmetrics' ``MeanSquaredError(squared=False)``.

    Example:
        >>> metric = GaussianNLL()
        >>> metric.update(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([1.0]))
        >>> metric.update(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([4.0]))
        >>> metric.compute()
        tensor(1.5155, dtype=torch.float64)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    total: Tensor
    count: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, mean: Tensor, target: Tensor, var: Tensor) -> None:
        """Add a batch of means, targets and variances (same shape)."""
        nll = gaussian_nll(mean.detach(), target.detach(), var.detach())
        self.total += nll.to(torch.float64) * mean.numel()
        self.count += mean.numel()

    def compute(self) -> Tensor:
        """The mean NLL over all elements seen."""
        if self.count == 0:
            raise ValueError("Expected at least one call of `update` before `compute`, but got none.")
        return self.total / self.count
