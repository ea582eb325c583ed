"""The standalone ``pytorch_lightning`` namespace (callback and mixin) and ``torch.compile``d modules."""

from __future__ import annotations

import pytorch_lightning
import torch
import torch.nn.functional as F
from torch._dynamo.utils import counters

from lightning_mixup import MixupCallback
from tests.realistic.modules.data import images, loader, rows
from tests.realistic.modules.lit_model import LitModel
from tests.realistic.modules.standalone_pl import LitClassifier, MixinClassifier
from tests.realistic.recording import (
    PLRecorder,
    Recorder,
    check_partners,
    contract_params,
    mix_rows,
    mixed_reference,
)

SEED = 13


def features(n: int = 16, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randint(4, (n,), generator=g)


def test_pytorch_lightning_module_and_trainer_with_the_callback(fit):
    x, y = features()
    recorder = PLRecorder()
    fit(
        LitClassifier(),
        loader(x, y),
        callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder],
        trainer_cls=pytorch_lightning.Trainer,
    )
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n))
        check_partners(step.batch[1], params)
        call = step.call()
        torch.testing.assert_close(call.args[0], mix_rows(rows(x, n), params))
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, call.output, step.batch[1]))


def test_pytorch_lightning_module_with_the_mixin(fit):
    x, y = features()
    recorder = PLRecorder("net", "criterion")
    fit(
        MixinClassifier(),
        loader(x, y),
        callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder],
        trainer_cls=pytorch_lightning.Trainer,
    )
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        assert torch.equal(step.batch[0], rows(x, n))  # the mixin mixes inside the step, not the batch
        params = contract_params(SEED, n, rows(x, n))
        criterion = step.call("criterion")
        logits, labels = criterion.args
        check_partners(labels, params)
        torch.testing.assert_close(step.call("net").args[0], mix_rows(rows(x, n), params))
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, logits, labels))


def test_torch_compiled_module(fit):
    x, y = images()
    recorder = Recorder()
    torch._dynamo.reset()
    counters.clear()
    model = torch.compile(LitModel(), backend="eager")
    fit(model, loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert counters["frames"]["ok"] >= 1  # dynamo traced the step: the run did not fall back to plain eager
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n))
        check_partners(step.batch[1], params)
        call = step.call()
        torch.testing.assert_close(call.args[0], mix_rows(rows(x, n), params))
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, call.output, step.batch[1]))
