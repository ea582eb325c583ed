"""Tiny models shared by the docs, the tests and the experiments (as Lightning's ``demos/boring_classes.py``).

``BoringClassifier`` is the unchanged classifier the callback must work on: its ``training_step`` does exactly
``x, y = batch; loss = F.cross_entropy(self(x), y)``.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset


class BoringClassifier(pl.LightningModule):
    """A small MLP classifier with a plain cross-entropy training step.

    Args:
        in_features: number of input features (inputs are flattened).
        num_classes: number of classes.
        hidden: width of the hidden layer.
        lr: SGD learning rate.
    """

    def __init__(self, in_features: int = 8, num_classes: int = 3, hidden: int = 16, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.lr = lr
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)``."""
        return self.net(x)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        """The unchanged step: ``F.cross_entropy(self(x), y)``."""
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        """Validation loss."""
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Plain SGD."""
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class RandomClassificationDataModule(pl.LightningDataModule):
    """Random Gaussian inputs with class-dependent means, built inside each process (DDP-safe).

    Args:
        num_samples: training and validation samples each.
        in_features: feature count.
        num_classes: class count.
        batch_size: batch size.
        seed: seed of the data (not of training).
        shuffle: shuffle the training set.
    """

    def __init__(
        self,
        num_samples: int = 64,
        in_features: int = 8,
        num_classes: int = 3,
        batch_size: int = 8,
        seed: int = 0,
        shuffle: bool = False,
    ) -> None:
        super().__init__()
        self.num_samples = num_samples
        self.in_features = in_features
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Build the data."""
        g = torch.Generator().manual_seed(self.seed)
        means = torch.randn(self.num_classes, self.in_features, generator=g) * 2

        def make() -> TensorDataset:
            y = torch.randint(self.num_classes, (self.num_samples,), generator=g)
            x = means[y] + torch.randn(self.num_samples, self.in_features, generator=g)
            return TensorDataset(x, y)

        self.train_set, self.val_set = make(), make()

    def train_dataloader(self) -> DataLoader:
        """Training batches."""
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=self.shuffle)  # type: ignore[arg-type]

    def val_dataloader(self) -> DataLoader:
        """Validation batches."""
        return DataLoader(self.val_set, batch_size=self.batch_size)  # type: ignore[arg-type]
