"""Modules that used to train silently wrong now stop with a clear error in their first training step."""

from __future__ import annotations

import pytest
import torch

from lightning_mixup import MixedLabelsError, MixupCallback
from tests.realistic.modules.data import images, loader
from tests.realistic.modules.focal import FocalClassifier
from tests.realistic.modules.silent import GAN, LitAutoEncoder, TensorCopyClassifier
from tests.realistic.recording import Recorder

SEED = 17


@pytest.mark.filterwarnings("ignore:To copy construct from a tensor")
@pytest.mark.parametrize(
    ("module", "cause"),
    [
        (LitAutoEncoder, "never reached a loss"),
        (GAN, "mix_discriminator"),
        (TensorCopyClassifier, "torch.tensor"),
    ],
    ids=["autoencoder-ignores-labels", "gan-drops-labels", "torch-tensor-copies-one-side"],
)
def test_labels_that_never_reach_a_loss_stop_the_first_step(fit, module, cause):
    x, y = images()
    recorder = Recorder()
    with pytest.raises(MixedLabelsError, match="never reached a loss") as error:
        fit(module(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert cause in str(error.value)
    assert recorder.steps == []  # raised in the first step, before it ended


def test_focal_loss_gathering_by_label_is_refused(fit):
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(16, 6, generator=g), torch.randint(4, (16,), generator=g)
    recorder = Recorder()
    with pytest.raises(MixedLabelsError, match="reads the label values"):
        fit(FocalClassifier(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert recorder.steps == []


@pytest.mark.filterwarnings("ignore:To copy construct from a tensor")
def test_the_same_modules_train_without_the_callback(fit):
    """The refusals come from mixing, not from the modules: without the callback all of them train."""
    x, y = images()
    for module in (LitAutoEncoder, GAN, TensorCopyClassifier):
        recorder = Recorder()
        fit(module(), loader(x, y), callbacks=[recorder], max_steps=1)
        assert len(recorder.steps) == 1
