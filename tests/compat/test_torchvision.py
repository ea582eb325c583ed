"""Vision in the compatibility environment: the plugin's ``CIFAR10DataModule`` on torchvision's ``FakeData`` (no
download), and torchvision v2 pipelines feeding float and uint8 images through ``MixupCallback``.

torchvision's ``CIFAR10`` class is replaced by a ``FakeData`` factory for the test, so the data module itself (its
splits, transforms and loaders) runs unchanged.
"""

from __future__ import annotations

import pytest

torchvision = pytest.importorskip("torchvision")

import lightning.pytorch as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torchvision.datasets import FakeData  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

from lightning_mixup import MixupCallback  # noqa: E402
from lightning_mixup.data import CIFAR10DataModule  # noqa: E402
from tests.compat._common import SEED, Recorder, mixed, parts  # noqa: E402

PACKAGE = "torchvision"


class SmallCNN(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fake_cifar10(root, train=True, transform=None, download=False):
    return FakeData(
        size=64 if train else 16,
        image_size=(3, 32, 32),
        num_classes=10,
        transform=transform,
        random_offset=0 if train else 1000,
    )


@pytest.mark.verdict(
    package=PACKAGE,
    module="lightning_mixup.data.CIFAR10DataModule on FakeData",
    loss="F.cross_entropy",
    expected="exact",
    note="RandomCrop + flip + ToTensor, float images",
)
def test_cifar10_datamodule_on_fake_data(fit, monkeypatch, tmp_path):
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake_cifar10)
    datamodule = CIFAR10DataModule(data_dir=str(tmp_path), batch_size=8, num_workers=0, val_size=16, download=False)
    recorder = Recorder("net")
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder],
        accelerator="cpu",
        max_steps=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1,
    )
    trainer.fit(SmallCNN(), datamodule=datamodule)
    assert len(datamodule.train_set) == 48 and len(datamodule.val_set) == 16
    assert len(recorder.steps) == 2
    for step in recorder.steps:
        images, labels = step.batch
        assert images.dtype == torch.float32 and images.shape == (8, 3, 32, 32)
        assert bool((parts(labels)[2] < 1).all())  # every sample mixed (alpha 1, mode batch)
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("net").output, labels))


def v2_loader(*steps):
    pipeline = v2.Compose([v2.ToImage(), v2.RandomHorizontalFlip(), *steps])
    return DataLoader(FakeData(size=16, image_size=(3, 16, 16), num_classes=10, transform=pipeline), batch_size=8)


@pytest.mark.verdict(
    package=PACKAGE,
    module="v2 pipeline (ToImage, flip, ToDtype float32 scale)",
    loss="F.cross_entropy",
    expected="exact",
)
def test_v2_pipeline_float_images(fit):
    recorder = Recorder("net")
    fit(
        SmallCNN(),
        v2_loader(v2.ToDtype(torch.float32, scale=True)),
        callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder],
    )
    for step in recorder.steps:
        images, labels = step.batch
        assert type(images) is torch.Tensor and images.dtype == torch.float32  # tv_tensors unwrap in the collate
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("net").output, labels))


class CastingCNN(SmallCNN):
    """The common pattern for uint8 batches: the model scales the images itself."""

    def forward(self, x):
        return self.net(x.float() / 255)


@pytest.mark.verdict(
    package=PACKAGE,
    module="v2 pipeline (ToImage, flip; uint8 images)",
    loss="F.cross_entropy",
    expected="clear refusal",
    note="mixup cannot blend uint8; the message says to convert the images to float or use CutMix",
)
def test_v2_pipeline_uint8_images_mixup_refused(fit):
    with pytest.raises(TypeError, match=r"but got torch\.uint8.*For integer images, convert them to float first"):
        fit(CastingCNN(), v2_loader(), callbacks=[MixupCallback(alpha=1.0, seed=SEED)])


@pytest.mark.verdict(
    package=PACKAGE,
    module="v2 pipeline (ToImage, flip; uint8 images)",
    loss="F.cross_entropy, CutMix",
    expected="exact",
    note="CutMix pastes uint8 images as they are",
)
def test_v2_pipeline_uint8_images_cutmix(fit):
    recorder = Recorder("net")
    fit(CastingCNN(), v2_loader(), callbacks=[MixupCallback(alpha=0.0, cutmix_alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for step in recorder.steps:
        images, labels = step.batch
        assert images.dtype == torch.uint8
        assert bool((parts(labels)[2] < 1).any())
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, step.call("net").output, labels))
