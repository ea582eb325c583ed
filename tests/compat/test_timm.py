"""A LightningModule around real timm models (random init) under ``MixupCallback``: mixup and CutMix with
cross-entropy, timm's ``SoftTargetCrossEntropy`` with ``target_mode="soft"`` and timm's
``LabelSmoothingCrossEntropy``.

The module is the plain one a user writes: ``self.criterion(self.model(x), y)`` on ``(images, labels)`` batches.
"""

from __future__ import annotations

import pytest

timm = pytest.importorskip("timm")

import lightning.pytorch as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from lightning_mixup import MixedLabelsError, MixupCallback  # noqa: E402
from tests.compat._common import SEED, Recorder, contract_params, generator, mix_rows, mixed, rows  # noqa: E402

PACKAGE = "timm"


class TimmClassifier(L.LightningModule):
    def __init__(self, name: str, criterion: nn.Module, **model_kwargs) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = timm.create_model(name, pretrained=False, num_classes=4, **model_kwargs)
        self.criterion = criterion

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.criterion(self.model(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def data(size: int = 32):
    g = generator(0)
    return torch.rand(16, 3, size, size, generator=g), torch.randint(4, (16,), generator=g)


def train(fit, module, x, y, **callback):
    recorder = Recorder("model")
    fit(
        module,
        DataLoader(TensorDataset(x, y), batch_size=8),
        callbacks=[MixupCallback(seed=SEED, **callback), recorder],
    )
    assert len(recorder.steps) == 2
    return recorder.steps


@pytest.mark.verdict(
    package=PACKAGE, module="test_resnet (timm.create_model)", loss="nn.CrossEntropyLoss", expected="exact"
)
def test_resnet_mixup(fit):
    x, y = data()
    for n, step in enumerate(train(fit, TimmClassifier("test_resnet", nn.CrossEntropyLoss()), x, y, alpha=1.0)):
        torch.testing.assert_close(
            step.call("model").args[0], mix_rows(rows(x, n), contract_params(SEED, n, rows(x, n)))
        )
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("model").output, step.batch[1]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="test_vit (timm.create_model)",
    loss="nn.CrossEntropyLoss, CutMix",
    expected="exact",
    note="λ is the kept area of the pasted box",
)
def test_vit_cutmix(fit):
    x, y = data()
    module = TimmClassifier("test_vit", nn.CrossEntropyLoss(), img_size=32)
    for n, step in enumerate(train(fit, module, x, y, alpha=0.0, cutmix_alpha=1.0)):
        params = contract_params(SEED, n, rows(x, n), alpha=0.0, cutmix_alpha=1.0)
        assert params.boxes is not None
        (top, bottom, left, right) = params.boxes[0].tolist()
        torch.testing.assert_close(params.lam[0], torch.tensor(1 - (bottom - top) * (right - left) / 32**2))
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("model").output, step.batch[1]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="test_convnext (timm.create_model)",
    loss="SoftTargetCrossEntropy (timm), target_mode='soft'",
    expected="exact",
    note="the batch holds float mixed one-hot targets, as timm's own Mixup makes",
)
def test_convnext_soft_targets(fit):
    x, y = data()
    module = TimmClassifier("test_convnext", SoftTargetCrossEntropy())
    for n, step in enumerate(train(fit, module, x, y, alpha=1.0, target_mode="soft", num_classes=4)):
        params = contract_params(SEED, n, rows(x, n))
        one_hot = F.one_hot(rows(y, n), 4).float()
        target = step.batch[1]
        torch.testing.assert_close(target, mix_rows(one_hot, params))
        logits = step.call("model").output
        lam = params.lam[0]
        reference = lam * SoftTargetCrossEntropy()(logits, one_hot) + (1 - lam) * SoftTargetCrossEntropy()(
            logits, one_hot[params.index]
        )
        torch.testing.assert_close(step.loss, reference)


@pytest.mark.verdict(
    package=PACKAGE,
    module="test_resnet (timm.create_model)",
    loss="LabelSmoothingCrossEntropy (timm)",
    expected="clear refusal",
    note="it gathers `logprobs.gather(-1, target)`; the refusal points at "
    "`mix_loss` and the callback's `label_smoothing`",
)
def test_label_smoothing_cross_entropy_refused(fit):
    x, y = data()
    module = TimmClassifier("test_resnet", LabelSmoothingCrossEntropy(0.1))
    with pytest.raises(MixedLabelsError, match=r"reads the label values while building a loss.*mix_loss"):
        train(fit, module, x, y, alpha=1.0)
