"""C-Mixup trained by a real Trainer with an unchanged regression step ``F.mse_loss(self(x), y)``.

The test redraws each batch's partners from the label kernel ``P(j | i) ∝ exp(-‖y_i - y_j‖²/(2σ²))`` written
here from the paper (one uniform per row, inverse CDF, then λ ~ Beta(α, α): the draw order of docs/methods.md),
checks the recorded inputs are ``λ·x_i + (1-λ)·x_j`` and the step's loss is the MSE against
``λ·y_i + (1-λ)·y_j`` (the official ``loss_fun(pred_Y, mixup_Y)``), for targets ``(B,)`` and ``(B, k)``.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_mixup import MixupCallback
from lightning_mixup.engine import batch_generator
from lightning_mixup.functional import sample_beta
from tests.realistic.modules.data import BATCH, loader, rows
from tests.realistic.recording import Recorder

SEED = 5


class Regressor(L.LightningModule):
    """The plain regression step: an MLP, ``F.mse_loss(self(x), y)``."""

    def __init__(self, features: int = 5, outputs: int = 0) -> None:
        super().__init__()
        self.outputs = outputs
        self.net = nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, max(outputs, 1)))

    def forward(self, x):
        out = self.net(x)
        return out.squeeze(-1) if self.outputs == 0 else out

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def table(k: int = 0, n: int = 16, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = torch.randn(n, generator=g) * 2 if k == 0 else torch.randn(n, k, generator=g) * 0.3
    return x, y


def kernel_partners(y, bandwidth, generator):
    """Partners drawn from the paper's label kernel, ``j = i`` included, one uniform per row."""
    labels = y.double().reshape(len(y), -1)
    sq = ((labels[:, None, :] - labels[None, :, :]) ** 2).sum(-1)
    weights = torch.exp(-sq / (2 * bandwidth**2))
    probs = weights / weights.sum(1, keepdim=True)
    u = torch.rand(len(y), generator=generator, dtype=torch.float64)
    cumulative = probs.cumsum(1)
    return torch.tensor([int((cumulative[i] <= u[i] * cumulative[i, -1]).sum()) for i in range(len(y))])


@pytest.mark.parametrize("k", [0, 3])
@pytest.mark.parametrize("bandwidth", [1.0, 0.3])
def test_cmixup_step_is_the_papers_loss(fit, k, bandwidth):
    x, y = table(k)
    recorder = Recorder()
    callback = MixupCallback(method="cmixup", cmixup_bandwidth=bandwidth, seed=SEED)
    fit(Regressor(outputs=k), loader(x, y), callbacks=[callback, recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        xb, yb = rows(x, n), rows(y, n)
        g = batch_generator(SEED, 0, n)
        index = kernel_partners(yb, bandwidth, g)
        lam = float(sample_beta(2.0, 1, generator=g))
        assert (index != torch.arange(BATCH)).any()
        call = step.call()
        torch.testing.assert_close(call.args[0], lam * xb + (1 - lam) * xb[index])
        mixed_y = lam * yb + (1 - lam) * yb[index]
        torch.testing.assert_close(step.batch[1], mixed_y)
        torch.testing.assert_close(step.loss, F.mse_loss(call.output, mixed_y))


def test_cmixup_partners_follow_the_label_kernel():
    """Over many batches, the partner frequencies match the kernel's probabilities (a narrow bandwidth)."""
    from lightning_mixup import MixupPolicy

    y = torch.tensor([0.0, 0.1, 0.2, 3.0, 3.1, 9.0])
    policy = MixupPolicy(method="cmixup", cmixup_bandwidth=0.5)
    counts = torch.zeros(6, 6)
    g = torch.Generator().manual_seed(0)
    for _ in range(3000):
        params = policy.sample(torch.zeros(6, 2), g, y=y)
        counts[torch.arange(6), params.index] += 1
    sq = (y[:, None] - y[None, :]) ** 2
    probs = torch.softmax(-sq / (2 * 0.25), dim=1)
    torch.testing.assert_close(counts / 3000, probs, atol=0.03, rtol=0)
    assert counts[5, 5] == 3000  # the far label only draws itself


def test_plain_mixup_stays_available_for_regression(fit):
    x, y = table()
    recorder = Recorder()
    fit(Regressor(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for n, step in enumerate(recorder.steps):
        xb, yb = rows(x, n), rows(y, n)
        g = batch_generator(SEED, 0, n)
        index = torch.randperm(BATCH, generator=g)
        lam = float(sample_beta(1.0, 1, generator=g))
        mixed_y = lam * yb + (1 - lam) * yb[index]
        torch.testing.assert_close(step.call().args[0], lam * xb + (1 - lam) * xb[index])
        torch.testing.assert_close(step.loss, F.mse_loss(step.call().output, mixed_y))
