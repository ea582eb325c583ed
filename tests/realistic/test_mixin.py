"""Custom steps through ``MixupMixin``: input mixup with ``mix_batch`` and Manifold Mixup on a hidden layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lightning_mixup import MixupCallback
from tests.realistic.modules.data import loader, rows
from tests.realistic.modules.mixin_custom import ManifoldMixupClassifier, MixupStepClassifier
from tests.realistic.recording import (
    Recorder,
    check_partners,
    contract_params,
    mix_rows,
    mixed_reference,
    parts,
    sample_lam,
)

SEED = 23


def features(n: int = 16, seed: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randint(4, (n,), generator=g)


def test_custom_step_with_mix_batch(fit):
    x, y = features()
    recorder = Recorder("features", "criterion")
    fit(MixupStepClassifier(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n))
        logits, labels = step.call("criterion").args
        check_partners(labels, params)
        torch.testing.assert_close(step.call("features").args[0], mix_rows(rows(x, n), params))
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, logits, labels))


def test_manifold_mixup_mixes_the_hidden_layer(fit):
    x, y = features()
    recorder = Recorder("features.0", "head", "criterion")
    fit(ManifoldMixupClassifier(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        linear = step.call("features.0")
        assert torch.equal(linear.args[0], rows(x, n))  # the input is not mixed
        hidden = torch.relu(F.linear(rows(x, n), linear.params["weight"], linear.params["bias"]))
        mixed = step.call("head").args[0]
        logits, labels = step.call("criterion").args
        y_a, y_b, _ = parts(labels)
        torch.testing.assert_close(y_a, rows(y, n))
        lam = sample_lam(labels)[:, None]
        # each mixed row is λ·h_i + (1-λ)·h_j for a partner j whose label is y_b
        residual = mixed[:, None, :] - lam[:, :, None] * hidden[:, None, :] - (1 - lam[:, :, None]) * hidden[None]
        partner = residual.norm(dim=-1).argmin(1)
        torch.testing.assert_close(mixed, lam * hidden + (1 - lam) * hidden[partner])
        assert torch.equal(y_b, y_a[partner])
        assert bool((partner != torch.arange(8)).any())
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, logits, labels))
