r"""Accuracy, NLL, expected calibration error and temperature scaling of a classifier's logits.

ECE is torchmetrics' ``multiclass_calibration_error`` (L1, equal-width confidence bins) with 15 and with 100 bins.
Temperature scaling (Guo et al. 2017) divides the logits by one scalar ``T > 0`` fitted on the validation split by
minimising its NLL with ``torch.optim.LBFGS`` over ``log T``; the test split's ECE is then measured again.

References:
    - Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, https://arxiv.org/abs/1706.04599
    - Thulasidasan et al., "On Mixup Training: Improved Calibration and Predictive Uncertainty for Deep Neural
      Networks", NeurIPS 2019, https://arxiv.org/abs/1905.11001
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.classification import multiclass_calibration_error

from lightning_mixup.evaluation import ReliabilityBins
from lightning_mixup.evaluation.calibration import ReliabilityDiagram
from lightning_mixup.evaluation.uncertainty import aurc

#: log T is kept in this range (T from 0.05 to 20): with a handful of validation examples the NLL can keep falling
#: as T → 0 (all correct) or T → ∞.
LOG_T_RANGE = (math.log(0.05), math.log(20.0))


def fit_temperature(logits: Tensor, labels: Tensor, max_iter: int = 50) -> float:
    """The temperature ``T`` that minimises the NLL of ``logits / T`` (LBFGS on ``log T``), clamped to [0.05, 20].

    Returns 1.0 for an empty validation split.

    Example:
        >>> logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [0.0, 4.0]])
        >>> fit_temperature(logits, torch.tensor([0, 1, 1, 0])) > 1  # half wrong: soften
        True
    """
    if labels.numel() == 0:
        return 1.0
    logits, labels = logits.detach().double(), labels.detach()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.clamp(*LOG_T_RANGE).exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().clamp(*LOG_T_RANGE).exp())


def classification_metrics(logits: Tensor, labels: Tensor, num_classes: int) -> dict[str, float]:
    """``accuracy``, ``nll``, ``ece15``, ``ece100`` and ``aurc`` of logits ``(N, C)`` against labels ``(N,)``.

    AURC is the evaluation module's :func:`~lightning_mixup.evaluation.uncertainty.aurc` (maximum softmax
    probability as the confidence; temperature scaling does not change it: it keeps the ranking).

    Example:
        >>> m = classification_metrics(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]), 2)
        >>> m["accuracy"], round(m["ece15"], 4)
        (0.5, 0.3808)
    """
    probs = logits.float().softmax(-1)
    return {
        "accuracy": float((logits.argmax(-1) == labels).float().mean()),
        "nll": float(F.cross_entropy(logits.float(), labels)),
        "ece15": float(multiclass_calibration_error(probs, labels, num_classes, n_bins=15, norm="l1")),
        "ece100": float(multiclass_calibration_error(probs, labels, num_classes, n_bins=100, norm="l1")),
        "aurc": float(aurc(logits.float(), labels)) if labels.numel() else math.nan,
    }


def evaluate_logits(
    test_logits: Tensor, test_labels: Tensor, val_logits: Tensor, val_labels: Tensor, num_classes: int
) -> dict[str, float]:
    """Test metrics before and after temperature scaling fitted on the validation logits, and validation metrics.

    Returns:
        ``accuracy``, ``nll``, ``ece15``, ``ece100`` (test), ``temperature``, ``ts_nll``, ``ts_ece15``,
        ``ts_ece100`` (test, after scaling), ``val_accuracy``, ``val_nll``.
    """
    out = classification_metrics(test_logits, test_labels, num_classes)
    temperature = fit_temperature(val_logits, val_labels)
    scaled = classification_metrics(test_logits / temperature, test_labels, num_classes)
    out.update({"temperature": temperature, "ts_nll": scaled["nll"], "ts_ece15": scaled["ece15"],
                "ts_ece100": scaled["ece100"]})  # fmt: skip
    if val_labels.numel():
        out["val_accuracy"] = float((val_logits.argmax(-1) == val_labels).float().mean())
        out["val_nll"] = float(F.cross_entropy(val_logits.float(), val_labels))
    else:
        out["val_accuracy"], out["val_nll"] = math.nan, math.nan
    return out


def reliability(logits: Tensor, labels: Tensor, n_bins: int = 15) -> ReliabilityBins:
    """Reliability-diagram bins of the logits' top-1 confidence (the evaluation module's metric)."""
    metric = ReliabilityDiagram(n_bins)
    metric.update(logits.float().softmax(-1), labels)
    return metric.compute()
