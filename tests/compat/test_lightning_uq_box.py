"""lightning-uq-box's own modules under ``MixupCallback``: deterministic and MC-Dropout classification, deterministic
segmentation and regression, at random init.

Batches are the package's dicts ``{"input": ..., "target": ...}``; the step computes
``self.loss_fn(self.model(batch["input"]), batch["target"])``. Each test recomputes that loss on the recorded output.
"""

from __future__ import annotations

import pytest

pytest.importorskip("lightning_uq_box.uq_methods")

import torch
import torch.nn.functional as F
from lightning_uq_box.uq_methods import (
    DeterministicClassification,
    DeterministicRegression,
    DeterministicSegmentation,
    MCDropoutClassification,
)
from torch import nn

from lightning_mixup import MixupCallback
from tests.compat._common import (
    SEED,
    Recorder,
    contract_params,
    dict_loader,
    generator,
    mix_rows,
    mixed,
    parts,
    rows,
)

PACKAGE = "lightning-uq-box"


def features(classes: int = 4):
    g = generator(0)
    return torch.randn(16, 6, generator=g), torch.randint(classes, (16,), generator=g)


def train(fit, module, x, y, **callback):
    recorder = Recorder("model")
    fit(module, dict_loader(input=x, target=y), callbacks=[MixupCallback(seed=SEED, alpha=1.0, **callback), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n))
        torch.testing.assert_close(step.call("model").args[0], mix_rows(rows(x, n), params))
    return recorder.steps


def classifier() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 4))


@pytest.mark.verdict(
    package=PACKAGE, module="DeterministicClassification", loss="nn.CrossEntropyLoss", expected="exact"
)
def test_deterministic_classification(fit):
    x, y = features()
    for n, step in enumerate(train(fit, DeterministicClassification(classifier(), nn.CrossEntropyLoss()), x, y)):
        labels = step.batch["target"]
        torch.testing.assert_close(parts(labels)[1], rows(y, n)[contract_params(SEED, n, rows(x, n)).index])
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("model").output, labels))


@pytest.mark.verdict(
    package=PACKAGE,
    module="MCDropoutClassification",
    loss="nn.CrossEntropyLoss",
    expected="exact",
    note="the logits after dropout, as the step saw them",
)
def test_mc_dropout_classification(fit):
    x, y = features()
    module = MCDropoutClassification(classifier(), num_mc_samples=3, loss_fn=nn.CrossEntropyLoss())
    for step in train(fit, module, x, y):
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("model").output, step.batch["target"]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="DeterministicSegmentation",
    loss="nn.CrossEntropyLoss",
    expected="exact",
    note="(B, H, W) masks under the conventional `target` key",
)
def test_deterministic_segmentation(fit):
    g = generator(1)
    x, m = torch.rand(16, 3, 8, 8, generator=g), torch.randint(4, (16, 8, 8), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    for step in train(fit, DeterministicSegmentation(model, nn.CrossEntropyLoss()), x, m):
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("model").output, step.batch["target"]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="DeterministicRegression",
    loss="nn.MSELoss",
    expected="documented behaviour",
    note="float targets are interpolated with the inputs' λ (mixup for regression); MSE of them",
)
def test_deterministic_regression_interpolates_targets(fit):
    x, _ = features()
    weight = torch.arange(1.0, 7.0)
    y = (x @ weight)[:, None]  # linear in the inputs, so the mixed target is the target of the mixed input
    torch.manual_seed(0)
    module = DeterministicRegression(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 1)), nn.MSELoss())
    for n, step in enumerate(train(fit, module, x, y)):
        target = step.batch["target"]
        torch.testing.assert_close(target, mix_rows(rows(y, n), contract_params(SEED, n, rows(x, n))))
        torch.testing.assert_close(target, step.call("model").args[0] @ weight[:, None])
        torch.testing.assert_close(step.loss, F.mse_loss(step.call("model").output, target))
