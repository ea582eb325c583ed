"""torch-uncertainty's ``ClassificationRoutine`` under ``MixupCallback``, with cross-entropy, its focal loss and its
Deep Evidential Classification (DEC) loss, and with its own ``mixup_params`` switched on as well.

Batches are ``(images, labels)`` tuples; the routine's step computes ``self.loss(self.model(x), y)`` (DEC:
``self.loss(logits, y, current_epoch)``). Each test recomputes the routine's own loss on the recorded logits.

``DECLoss`` refuses soft targets by their shape (``targets.ndim != 1``) and then one-hot encodes the labels: on mixed
labels ``F.one_hot`` gives mixup's soft targets ỹ = λ·onehot(y_a) + (1-λ)·onehot(y_b) (issue #24 item 4), so its loss
is DEC(f(x̃), ỹ), the λ-combination only where it is linear in its target (the log term), and the plugin warns. The
routine's own ``mixup_params`` mixes the callback's batch again inside the step (item 6): it cannot be detected and is
documented in the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch_uncertainty.routines")

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torch_uncertainty.losses import DECLoss, FocalLoss
from torch_uncertainty.routines import ClassificationRoutine

from lightning_mixup import MixedLabels, MixedLabelsError, MixupCallback
from tests.compat._common import SEED, Recorder, contract_params, generator, mix_rows, mixed, parts, rows

PACKAGE = "torch-uncertainty"
# the warning of a loss that checks its labels' shape and then one-hot encodes them
DEC_WARNING = r"`DECLoss\.forward` checks the shape of its labels.*y\.mix_loss\(criterion, output, reduction=None\)"


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
    note="a warning (it checks `targets.ndim`); F.one_hot gives ỹ and this DEC term is linear in it",
)
def test_dec_log_loss(fit):
    criterion = DECLoss(loss_type="log")
    with pytest.warns(UserWarning, match=DEC_WARNING):
        steps = train(fit, routine(criterion), alpha=1.0)
    for step in steps:
        reference = mixed(lambda o, t: criterion(o, t, 0), step.call("model").output, step.batch[1])
        torch.testing.assert_close(step.loss, reference)


def soft_targets(labels) -> Tensor:
    """Mixup's own target ỹ = λ·onehot(y_a) + (1-λ)·onehot(y_b), from the recorded parts."""
    y_a, y_b, lam = parts(labels)
    lam = lam.unsqueeze(-1)
    return lam * F.one_hot(y_a, 4).float() + (1 - lam) * F.one_hot(y_b, 4).float()


def check_dec_of_soft_targets(steps, criterion: DECLoss, reg_weight: float) -> None:
    """The loss is DEC(f(x̃), ỹ) by the library's own terms on ỹ, and not the λ-combination of the two DEC losses."""
    for step in steps:
        evidence, labels = step.call("model").output, step.batch[1]
        target = soft_targets(labels)
        term = criterion._mse_loss if criterion.loss_type == "mse" else criterion._log_loss
        reference = (term(evidence, target) + reg_weight * criterion._kldiv_reg(evidence, target)).mean()
        torch.testing.assert_close(step.loss, reference)
        combination = mixed(lambda o, t: criterion(o, t, 0), evidence, labels)
        assert not torch.allclose(step.loss, combination, atol=1e-4, rtol=0)


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationRoutine",
    loss="DECLoss (log, reg_weight 0.5)",
    expected="documented behaviour",
    note="a warning: it checks `targets.ndim`, then F.one_hot gives ỹ; the loss is DEC(f(x̃), ỹ), whose KL "
    "regulariser is not linear in ỹ (checked on ỹ with DECLoss's own terms)",
)
def test_dec_loss_with_regulariser(fit):
    criterion = DECLoss(loss_type="log", reg_weight=0.5)
    with pytest.warns(UserWarning, match=DEC_WARNING):
        steps = train(fit, routine(criterion), alpha=1.0)
    check_dec_of_soft_targets(steps, criterion, reg_weight=0.5)


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationRoutine",
    loss="DECLoss (mse)",
    expected="documented behaviour",
    note="a warning: it checks `targets.ndim`, then F.one_hot gives ỹ; the loss is DEC(f(x̃), ỹ), quadratic in ỹ "
    "(checked on ỹ with DECLoss's own terms)",
)
def test_dec_mse_loss(fit):
    criterion = DECLoss(loss_type="mse")
    with pytest.warns(UserWarning, match=DEC_WARNING):
        steps = train(fit, routine(criterion), alpha=1.0)
    check_dec_of_soft_targets(steps, criterion, reg_weight=0.0)


class MixLossDEC(DECLoss):
    """``DECLoss`` the way the warning says: ``y.mix_loss(criterion, output, reduction=None)`` on mixed labels."""

    def forward(self, evidence: Tensor, targets: Tensor, current_epoch: int | None = None) -> Tensor:
        dec = super().forward
        if isinstance(targets, MixedLabels):
            return targets.mix_loss(lambda o, y: dec(o, y, current_epoch), evidence, reduction=None)
        return dec(evidence, targets, current_epoch)


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationRoutine",
    loss="DECLoss (mse, reg_weight 0.5) through `y.mix_loss(..., reduction=None)`",
    expected="exact",
    note="the warning's route, in a DECLoss subclass; no warning",
)
def test_dec_loss_mix_loss_route(fit, recwarn):
    criterion = DECLoss(loss_type="mse", reg_weight=0.5)
    for step in train(fit, routine(MixLossDEC(loss_type="mse", reg_weight=0.5)), alpha=1.0):
        reference = mixed(lambda o, t: criterion(o, t, 0), step.call("model").output, step.batch[1])
        torch.testing.assert_close(step.loss, reference)
    assert not [w for w in recwarn if "checks the shape of its labels" in str(w.message)]


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


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationRoutine (mixup_params on)",
    loss="nn.CrossEntropyLoss",
    expected="documented behaviour",
    note="mixed twice: the routine's Mixup mixes the callback's batch again (not detectable; README, 'Mixed twice'); "
    "the only sign is the one-hot warning from its `_mix_target`. Switch one of them off",
)
def test_routine_mixup_params_mixes_twice(fit):
    module = routine(nn.CrossEntropyLoss(), mixup_params={"mixtype": "mixup", "mixup_alpha": 1.0})
    drawn = []  # the routine's own (λ, partner index), per step
    get_params = module.mixup._get_params
    module.mixup._get_params = lambda *args: drawn.append(get_params(*args)) or drawn[-1]
    x, y = data()
    recorder = Recorder("model")
    with pytest.warns(UserWarning, match=r"`AbstractMixup\._mix_target` checks the shape of its labels"):
        fit(
            module,
            DataLoader(TensorDataset(x, y), batch_size=8),
            callbacks=[MixupCallback(seed=SEED, alpha=1.0), recorder],
        )
    assert len(recorder.steps) == len(drawn) == 2
    for n, step in enumerate(recorder.steps):
        once = mix_rows(rows(x, n), contract_params(SEED, n, rows(x, n), alpha=1.0))  # the callback's mixed batch
        torch.testing.assert_close(step.batch[0], once)
        lam, index = drawn[n]
        assert not torch.allclose(step.call("model").args[0], once)  # the model did not get the callback's batch ...
        twice = lam.view(-1, 1, 1, 1) * once + (1 - lam.view(-1, 1, 1, 1)) * once[index]
        torch.testing.assert_close(step.call("model").args[0], twice)  # ... but the routine's mixup of it
        target = soft_targets(step.batch[1])  # and the targets: F.one_hot of the callback's labels, mixed again
        target = lam.view(-1, 1) * target + (1 - lam.view(-1, 1)) * target[index]
        torch.testing.assert_close(step.loss, F.cross_entropy(step.call("model").output, target))
    # documented, since it cannot be detected
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert re.search(r"(?i)mixed twice", readme), "README.md does not document 'Mixed twice'"
    assert "mixup_params" in readme, "README.md does not name torch-uncertainty's `mixup_params`"
