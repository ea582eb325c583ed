"""torch-uncertainty's ``ClassificationRoutine`` under ``MixupCallback``, with cross-entropy, its focal loss and its
Deep Evidential Classification (DEC) loss, and with its own ``mixup_params`` switched on as well.

Batches are ``(images, labels)`` tuples; the routine's step computes ``self.loss(self.model(x), y)`` (DEC:
``self.loss(logits, y, current_epoch)``). Each test recomputes the routine's own loss on the recorded logits.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch_uncertainty.routines")

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch_uncertainty.losses import DECLoss, FocalLoss
from torch_uncertainty.routines import ClassificationRoutine

from lightning_mixup import MixedLabelsError, MixupCallback
from tests.compat._common import SEED, Recorder, contract_params, generator, mix_rows, mixed, parts, rows

PACKAGE = "torch-uncertainty"


def data():
    g = generator(0)
    return torch.rand(16, 3, 4, 4, generator=g), torch.randint(4, (16,), generator=g)


def routine(loss: nn.Module, **kwargs) -> ClassificationRoutine:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 4))
    return ClassificationRoutine(
        model=model, num_classes=4, loss=loss, optim_recipe=lambda m: torch.optim.SGD(m.parameters(), lr=0.1), **kwargs
    )


def train(fit, module, **callback):
    x, y = data()
    recorder = Recorder("model")
    fit(
        module,
        DataLoader(TensorDataset(x, y), batch_size=8),
        callbacks=[MixupCallback(seed=SEED, **callback), recorder],
    )
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n), **({"alpha": callback["alpha"]} if "alpha" in callback else {}))
        torch.testing.assert_close(step.call("model").args[0], mix_rows(rows(x, n), params))
        torch.testing.assert_close(parts(step.batch[1])[1], rows(y, n)[params.index])
    return recorder.steps


@pytest.mark.verdict(package=PACKAGE, module="ClassificationRoutine", loss="nn.CrossEntropyLoss", expected="exact")
def test_cross_entropy(fit):
    for step in train(fit, routine(nn.CrossEntropyLoss()), alpha=1.0):
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("model").output, step.batch[1]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationRoutine",
    loss="DECLoss (log, no regulariser)",
    expected="exact",
    note="F.one_hot gives mixed one-hot targets; this DEC term is linear in them",
)
def test_dec_log_loss(fit):
    criterion = DECLoss(loss_type="log")
    for step in train(fit, routine(criterion), alpha=1.0):
        reference = mixed(lambda o, t: criterion(o, t, 0), step.call("model").output, step.batch[1])
        torch.testing.assert_close(step.loss, reference)


@pytest.mark.xfail(
    strict=True,
    reason="#24 item 5: F.one_hot inside DECLoss gives mixed one-hot targets; its KL "
    "regulariser (lgamma of them) is not λ·L(y_a) + (1-λ)·L(y_b), and nothing says so",
)
@pytest.mark.verdict(
    package=PACKAGE, module="ClassificationRoutine", loss="DECLoss (log, reg_weight 0.5)", expected="exact"
)
def test_dec_loss_with_regulariser(fit):
    """Observed: trains silently; the loss differs from the λ-weighted DEC losses."""
    criterion = DECLoss(loss_type="log", reg_weight=0.5)
    for step in train(fit, routine(criterion), alpha=1.0):
        reference = mixed(lambda o, t: criterion(o, t, 0), step.call("model").output, step.batch[1])
        torch.testing.assert_close(step.loss, reference)


@pytest.mark.xfail(
    strict=True,
    reason="#24 item 5: DECLoss(loss_type='mse') on F.one_hot's mixed one-hot targets "
    "is quadratic in them, not λ·L(y_a) + (1-λ)·L(y_b), and nothing says so",
)
@pytest.mark.verdict(package=PACKAGE, module="ClassificationRoutine", loss="DECLoss (mse)", expected="exact")
def test_dec_mse_loss(fit):
    """Observed: trains silently; the loss differs from the λ-weighted DEC losses."""
    criterion = DECLoss(loss_type="mse")
    for step in train(fit, routine(criterion), alpha=1.0):
        reference = mixed(lambda o, t: criterion(o, t, 0), step.call("model").output, step.batch[1])
        torch.testing.assert_close(step.loss, reference)


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationRoutine",
    loss="FocalLoss (gamma 2)",
    expected="clear refusal",
    note="it gathers `log_p[rows, targets]`; the refusal points at `mix_loss`",
)
def test_focal_loss_refused(fit):
    with pytest.raises(MixedLabelsError, match=r"`__getitem__` reads the label values while building a loss.*mix_loss"):
        train(fit, routine(FocalLoss(gamma=2.0)), alpha=1.0)


@pytest.mark.xfail(
    strict=True,
    reason="#24 item 6: with the routine's own `mixup_params` on, the batch is mixed "
    "twice (callback, then the routine's Mixup on the mixed labels) with no warning",
)
@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationRoutine (mixup_params on)",
    loss="nn.CrossEntropyLoss",
    expected="clear refusal",
)
def test_routine_mixup_params_refused(fit):
    """Observed: no error; the model's input is not the callback's mixed batch (the routine's Mixup mixed it again,
    and its targets are F.one_hot of the callback's MixedLabels, mixed twice)."""
    module = routine(nn.CrossEntropyLoss(), mixup_params={"mixtype": "mixup", "mixup_alpha": 1.0})
    with pytest.raises(ValueError, match="(?i)mix"):
        train(fit, module, alpha=1.0)
