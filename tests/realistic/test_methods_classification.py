"""RegMixup, kernel-warping mixup and MIT trained by a real Trainer: the step's loss against each paper's formula.

Every test records the batch the unchanged step received and the logits it computed, redraws the batch's random
parameters from the engine's random-stream contract (the generator of ``batch_seed(seed, 0, n)``, the draws in the
order docs/methods.md gives), and recomputes the paper's loss with plain tensors and ``F.cross_entropy`` on plain
integer labels: RegMixup ``(CE_clean + η·mixCE)/2`` (the official code's mean over ``2B`` rows), kernel warping
``mean_i[λ'_i·CE(y_i) + (1-λ'_i)·CE(y_j)]`` with ``λ'`` from ``warp_lam`` of the pair distance, MIT the official
decoupling ``f_a = (f₁ - c₁f₂)/(λ₁ - λ₂c₁)``, ``f_b = (f₂ - c₂f₁)/(1 - λ₂ - (1-λ₁)c₂)`` and ``½CE(f_a, y) + ½CE(f_b,
y[j])``.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_mixup import MixupCallback, MixupMixin
from lightning_mixup.engine import batch_generator
from lightning_mixup.functional import sample_beta
from lightning_mixup.functional.warping import warp_lam
from tests.realistic.modules.data import BATCH, images, loader, rows
from tests.realistic.modules.lit_model import LitModel
from tests.realistic.recording import Recorder

SEED = 11


def _blend(x, index, lam):
    lam = lam.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return lam * x + (1 - lam) * x[index]


@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_regmixup_step_is_the_papers_loss(fit, eta):
    x, y = images()
    recorder = Recorder()
    fit(LitModel(), loader(x, y), callbacks=[MixupCallback(method="regmixup", regmixup_eta=eta, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        xb, yb = rows(x, n), rows(y, n)
        g = batch_generator(SEED, 0, n)  # RegMixup's draws: mixup's, the permutation then one λ ~ Beta(20, 20)
        index = torch.randperm(BATCH, generator=g)
        lam = sample_beta(20.0, 1, generator=g).expand(BATCH)
        call = step.call()
        torch.testing.assert_close(call.args[0], torch.cat([xb, _blend(xb, index, lam)]))
        logits = call.output
        assert logits.shape[0] == 2 * BATCH
        ce_clean = F.cross_entropy(logits[:BATCH], yb)
        mixed = logits[BATCH:]
        mix_ce = (lam * F.cross_entropy(mixed, yb, reduction="none")
                  + (1 - lam) * F.cross_entropy(mixed, yb[index], reduction="none")).mean()  # fmt: skip
        torch.testing.assert_close(step.loss, (ce_clean + eta * mix_ce) / 2)
        # not the other η: the test can tell the two apart
        other = 1.5 - eta
        assert not torch.isclose(step.loss, (ce_clean + other * mix_ce) / 2)


def test_regmixup_official_two_term_form(fit):
    """The official code's ``λ·CE(pred, cat(y, y)) + (1-λ)·CE(pred, cat(y, y[j]))`` over the 2B rows."""
    x, y = images()
    recorder = Recorder()
    fit(LitModel(), loader(x, y), callbacks=[MixupCallback(method="regmixup", alpha=10.0, seed=SEED), recorder])
    for n, step in enumerate(recorder.steps):
        yb = rows(y, n)
        g = batch_generator(SEED, 0, n)
        index = torch.randperm(BATCH, generator=g)
        lam = float(sample_beta(10.0, 1, generator=g))
        logits = step.call().output
        official = lam * F.cross_entropy(logits, torch.cat([yb, yb])) + (1 - lam) * F.cross_entropy(
            logits, torch.cat([yb, yb[index]])
        )
        torch.testing.assert_close(step.loss, official)


@pytest.mark.parametrize(("mode", "warping"), [("batch", "inverse_beta_cdf"), ("elem", "beta_cdf")])
def test_kernel_warping_step_is_the_papers_loss(fit, mode, warping):
    x, y = images()
    recorder = Recorder()
    callback = MixupCallback(method="kernel_warping", mode=mode, kernel_warping=warping, seed=SEED)
    fit(LitModel(), loader(x, y), callbacks=[callback, recorder])
    for n, step in enumerate(recorder.steps):
        xb, yb = rows(x, n), rows(y, n)
        g = batch_generator(SEED, 0, n)  # partners first, then λ ~ Beta(1, 1)
        index = torch.randperm(BATCH, generator=g)
        lam = sample_beta(1.0, 1 if mode == "batch" else BATCH, generator=g).expand(BATCH)
        distance = (xb.double() - xb.double()[index]).flatten(1).square().sum(1)
        warped = warp_lam(lam, distance, tau_max=1.0, tau_std=0.25, warping=warping)
        assert not torch.allclose(warped, lam.float())  # the warping changed λ
        call = step.call()
        torch.testing.assert_close(call.args[0], _blend(xb, index, warped))
        logits = call.output
        expected = (warped * F.cross_entropy(logits, yb, reduction="none")
                    + (1 - warped) * F.cross_entropy(logits, yb[index], reduction="none")).mean()  # fmt: skip
        torch.testing.assert_close(step.loss, expected)


class EmbeddingDistanceClassifier(MixupMixin, L.LightningModule):
    """The authors' kernel warping: distances on the model's embeddings, computed without gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU())
        self.head = nn.Linear(12, 10)

    def forward(self, x):
        return self.head(self.features(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        with torch.no_grad():
            emb = self.features(x)
        x, y = self.mix_batch(x, y, features=emb)
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_kernel_warping_on_embeddings_through_the_mixin(fit):
    x, y = images()
    recorder = Recorder("features", "")
    callback = MixupCallback(method="kernel_warping", kernel_distance="embeddings", mode="elem", seed=SEED)
    fit(EmbeddingDistanceClassifier(), loader(x, y), callbacks=[callback, recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        xb, yb = rows(x, n), rows(y, n)
        emb = step.calls["features"][0].output  # the no-grad call on the clean batch
        torch.testing.assert_close(step.calls["features"][0].args[0], xb)
        g = batch_generator(SEED, 0, n)
        index = torch.randperm(BATCH, generator=g)
        lam = sample_beta(1.0, BATCH, generator=g)
        distance = (emb.double() - emb.double()[index]).square().sum(1)
        warped = warp_lam(lam, distance)
        input_distance = (xb.double() - xb.double()[index]).flatten(1).square().sum(1)
        assert not torch.allclose(warped, warp_lam(lam, input_distance))  # embeddings, not inputs, set λ'
        call = step.call()
        torch.testing.assert_close(call.args[0], _blend(xb, index, warped))
        expected = (warped * F.cross_entropy(call.output, yb, reduction="none")
                    + (1 - warped) * F.cross_entropy(call.output, yb[index], reduction="none")).mean()  # fmt: skip
        torch.testing.assert_close(step.loss, expected)


class MitClassifier(MixupMixin, L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.mit_loss(x, y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _official_mit(f1, f2, lam1, lam2, y, partner):
    """dengbaowang/Mixup-Inference-in-Training ``main.py`` (MIT-L), written from its formula."""
    coef1 = (1 - lam1) / (1 - lam2)
    f_a = (f1 - coef1 * f2) / (lam1 - lam2 * coef1)
    coef2 = lam2 / lam1
    f_b = (f2 - coef2 * f1) / (1 - lam2 - (1 - lam1) * coef2)
    return 0.5 * F.cross_entropy(f_a, y) + 0.5 * F.cross_entropy(f_b, partner)


def test_mit_step_is_the_official_loss(fit):
    x, y = images()
    recorder = Recorder()
    fit(
        MitClassifier(), loader(x, y), callbacks=[MixupCallback(method="mixup_inference_training", seed=SEED), recorder]
    )
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        xb, yb = rows(x, n), rows(y, n)
        g = batch_generator(SEED, 0, n)  # rounds of two Beta(1, 1) draws, then the permutation
        while True:
            u, v = sample_beta(1.0, 2, generator=g).tolist()
            lam1 = float(torch.tensor(max(u, 1 - u)).float())
            lam2 = float(torch.tensor(min(v, 1 - v)).float())
            if lam1 > lam2:
                break
        index = torch.randperm(BATCH, generator=g)
        call = step.call()
        mix1 = lam1 * xb + (1 - lam1) * xb[index]
        mix2 = lam2 * xb + (1 - lam2) * xb[index]
        torch.testing.assert_close(call.args[0], torch.cat([mix1, mix2]))
        f1, f2 = call.output[:BATCH], call.output[BATCH:]
        torch.testing.assert_close(step.loss, _official_mit(f1, f2, lam1, lam2, yb, yb[index]), rtol=1e-4, atol=1e-5)


def test_mit_without_callback_is_plain_cross_entropy(fit):
    x, y = images()
    recorder = Recorder()
    fit(MitClassifier(), loader(x, y), callbacks=[recorder])
    for n, step in enumerate(recorder.steps):
        call = step.call()
        torch.testing.assert_close(call.args[0], rows(x, n))
        torch.testing.assert_close(step.loss, F.cross_entropy(call.output, rows(y, n)))


@pytest.mark.parametrize("method", ["regmixup", "kernel_warping"])
def test_same_seed_same_draws(fit, method):
    x, y = images()
    runs = []
    for _ in range(2):
        recorder = Recorder()
        fit(LitModel(), loader(x, y), callbacks=[MixupCallback(method=method, seed=3), recorder])
        runs.append([step.call().args[0] for step in recorder.steps])
    other = Recorder()
    fit(LitModel(), loader(x, y), callbacks=[MixupCallback(method=method, seed=4), other])
    for a, b, c in zip(runs[0], runs[1], [step.call().args[0] for step in other.steps], strict=True):
        torch.testing.assert_close(a, b)
        assert not torch.allclose(a, c)
