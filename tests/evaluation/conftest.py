from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_images(n: int = 48, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Three classes of 1x4x4 images in [0, 1]: bright top, bright bottom, dark; with exact 0 and 1 pixels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.rand(n, 1, 4, 4, generator=g) * 0.3
    x[y == 0, :, :2] += 0.6
    x[y == 1, :, 2:] += 0.6
    x[:, :, 0, 0] = 0.0
    x[:, :, 3, 3] = 1.0
    return x.clamp(0, 1), y


def tiny_cnn(seed: int = 0, train_steps: int = 60) -> nn.Module:
    """A small CNN fitted (plain torch, a few steps) to :func:`make_images`."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    x, y = make_images(96, seed=seed + 100)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(train_steps):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


def loader(x: Tensor, y: Tensor, batch_size: int = 16) -> DataLoader:
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


@pytest.fixture
def images() -> tuple[Tensor, Tensor]:
    return make_images()


@pytest.fixture(scope="session")
def trained_cnn() -> nn.Module:
    return tiny_cnn()


@pytest.fixture
def cnn(trained_cnn) -> nn.Module:
    import copy

    return copy.deepcopy(trained_cnn)


@pytest.fixture
def test_trainer(make_trainer):
    """The suite's test Trainer with `inference_mode=False`, which attacks need."""

    def make(**kwargs: Any) -> pl.Trainer:
        return make_trainer(**{"inference_mode": False, **kwargs})

    return make


SMALL_GRID: dict[str, Any] = {
    "fgsm_eps": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0],
    "pgd_eps": [0.0, 0.1, 0.5],
    "pgdl2_eps": [0.0, 0.5],
    "pgd_steps": 5,
}


class Probe(nn.Module):
    """An identity layer that records the mode (train/eval) at every forward."""

    def __init__(self) -> None:
        super().__init__()
        self.modes: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.modes.append(self.training)
        return x


class TinyLitClassifier(pl.LightningModule):
    def __init__(self, hidden: int = 8, num_classes: int = 3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)
