"""Regression evaluation through the Lightning Trainer: RMSE, and Gaussian NLL for a model that predicts a variance.

:func:`evaluate_regression` runs ``trainer.test`` on a :class:`RegressionEvaluator` around the model and returns a
:class:`~lightning_mixup.evaluation.results.RegressionResult`. The model returns the predicted mean, or a pair
``(mean, var)`` with a positive variance (not a log-variance); the metrics are those of
:func:`~lightning_mixup.evaluation.uncertainty.regression_metrics` (torchmetrics' RMSE, torch's Gaussian NLL),
accumulated over the batches and synchronised across processes.

References:
    - Lakshminarayanan et al., "Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles",
      NeurIPS 2017, https://arxiv.org/abs/1612.01474 (Gaussian NLL of a mean/variance regressor)
    - Yao et al., "C-Mixup: Improving Generalization in Regression", NeurIPS 2022, https://arxiv.org/abs/2210.05775
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics import MeanSquaredError, SumMetric
from typing_extensions import override

from lightning_mixup._checks import check_key, describe
from lightning_mixup.evaluation.results import RegressionResult
from lightning_mixup.evaluation.robustness import (
    BatchKey,
    _Hooks,
    _LightningModule,
    _module_base,
    _on_base,
    make_trainer,
    preserved,
)
from lightning_mixup.evaluation.uncertainty import GaussianNLL

__all__ = ["RegressionEvaluator", "evaluate_regression"]


class _RegressionEvaluation(_Hooks):
    """The methods of :class:`RegressionEvaluator`, a mixin on the LightningModule of the Trainer's distribution."""

    def __init__(self, model: nn.Module, input_key: BatchKey = 0, target_key: BatchKey = 1) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected argument `model` to be a torch.nn.Module, but got {describe(model)}.")
        check_key(input_key, "input_key", optional=False)
        check_key(target_key, "target_key", optional=False)
        self.model, self.input_key, self.target_key = model, input_key, target_key
        self.rmse = MeanSquaredError(squared=False)
        self.nll = GaussianNLL()
        self.count = SumMetric()
        self.result: RegressionResult | None = None
        self._with_var: bool | None = None

    @override
    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Add one batch's predictions to the RMSE (and the NLL when the model returns a variance)."""
        x, y = batch[self.input_key], batch[self.target_key]
        out = self.model(x)
        out2 = out if isinstance(out, (tuple, list)) and len(out) == 2 else (out, None)
        mean, var = out2
        if isinstance(y, Tensor):  # (B, 1) outputs for (B,) targets
            mean, var = (t.reshape(y.shape) if isinstance(t, Tensor) and t.numel() == y.numel() else t for t in out2)
        if not isinstance(y, Tensor) or not isinstance(mean, Tensor) or mean.shape != y.shape:
            raise ValueError(
                f"Expected the model to return a mean of the targets' shape ({describe(y)}), or a pair (mean, var), "
                f"but got {describe(out)}."
            )
        if self._with_var is not None and self._with_var != (var is not None):
            raise ValueError("Expected the model to return a variance for every batch or for none.")
        self._with_var = var is not None
        if var is not None:
            self.nll.update(mean.float(), y.float(), var.float())
        self.rmse.update(mean.detach().flatten().float(), y.flatten().float())
        self.count.update(float(y.shape[0]))

    @override
    def on_test_epoch_end(self) -> None:
        """Store :attr:`result` and log ``test/rmse`` (and ``test/nll``)."""
        if self._with_var is None:
            raise ValueError("Expected a dataloader with at least one example, but the evaluation saw none.")
        nll = float(self.nll.compute()) if self._with_var else None
        self.result = RegressionResult(round(float(self.count.compute())), float(self.rmse.compute()), nll)
        self.log_dict({"test/rmse": self.result.rmse, **({} if nll is None else {"test/nll": nll})})
        for metric in (self.rmse, self.nll, self.count):
            metric.reset()
        self._with_var = None


class RegressionEvaluator(_RegressionEvaluation, _LightningModule):
    """A LightningModule whose ``test_step`` measures a wrapped regressor: run it with ``trainer.test``.

    Inputs of a batch: ``batch[input_key]`` for the model, targets ``batch[target_key]`` ``(B,)`` or ``(B, D)``
    float. The model returns a mean of the targets' shape (``(B, 1)`` for ``(B,)`` targets is reshaped), or a pair
    ``(mean, var)`` with a positive variance of that shape. After ``trainer.test`` the result is in :attr:`result`.

    Args:
        model: the regressor.
        input_key: where the inputs are in a batch (index or key).
        target_key: where the targets are.

    Example:
        >>> from lightning.pytorch import Trainer
        >>> _ = torch.manual_seed(0)
        >>> evaluator = RegressionEvaluator(nn.Linear(3, 1))
        >>> data = DataLoader(torch.utils.data.TensorDataset(torch.rand(8, 3), torch.rand(8)), batch_size=4)
        >>> _ = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False).test(evaluator, data,
        ...                                                                                         verbose=False)
        >>> evaluator.result.num_examples, evaluator.result.nll is None
        (8, True)
    """


def evaluate_regression(
    model: nn.Module,
    dataloader: DataLoader,
    *,
    trainer: Any = None,
    trainer_kwargs: Mapping[str, Any] | None = None,
    input_key: BatchKey = 0,
    target_key: BatchKey = 1,
) -> RegressionResult:
    """RMSE and (for a model returning ``(mean, var)``) Gaussian NLL of a regressor, through ``trainer.test``.

    The model's train/eval modes and device are restored afterwards.

    Args:
        model: an ``nn.Module`` (or LightningModule) returning the mean, or ``(mean, var)``.
        dataloader: batches ``(x, y)``.
        trainer: a ``lightning.pytorch`` or ``pytorch_lightning`` Trainer; ``None``: a one-device Trainer without
            logger or checkpoints (``trainer_kwargs`` override its settings).
        trainer_kwargs: arguments of that Trainer.
        input_key: where the inputs are in a batch.
        target_key: where the targets are.

    Returns:
        The :class:`~lightning_mixup.evaluation.results.RegressionResult`.

    Raises:
        TypeError: if ``model`` is not a module or ``trainer`` not a Trainer.
        ValueError: for outputs of the wrong shape, a non-positive variance, or an empty dataloader.

    Example:
        >>> from torch.utils.data import TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> class MeanVar(nn.Module):
        ...     def forward(self, x):
        ...         return x.sum(dim=1), torch.ones(x.shape[0])
        >>> data = DataLoader(TensorDataset(torch.zeros(4, 2), torch.ones(4)), batch_size=2)
        >>> result = evaluate_regression(MeanVar(), data)
        >>> result.rmse, round(result.nll, 4)
        (1.0, 1.4189)
    """
    trainer = make_trainer(trainer, trainer_kwargs, gradients=False)
    evaluator = _on_base(RegressionEvaluator, _module_base(trainer))(model, input_key, target_key)
    with preserved(model), torch.no_grad():
        trainer.test(evaluator, dataloaders=dataloader, verbose=False)
    if evaluator.result is None:
        raise ValueError("Expected a dataloader with at least one example, but the evaluation saw none.")
    return evaluator.result
