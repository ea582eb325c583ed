"""CIFAR-10 and MNIST data modules through torchvision, for users with a network and a working torchvision.

torchvision is imported only when the data is prepared, never at import time, so the package imports on a CPU
torch without it. Images are returned as tensors in [0, 1]; normalisation belongs in the model
(:class:`~lightning_mixup.models.Classifier`'s ``normalize_mean``/``normalize_std``), so that adversarial attacks
work in pixel space.

Splits: the official training set minus its last ``val_size`` images for validation, the official test set.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from lightning_mixup._checks import check_int
from lightning_mixup.data.sklearn import _SplitDataModule

CIFAR10_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR10_STD = [0.2470, 0.2435, 0.2616]


def require_torchvision() -> Any:
    """Import torchvision, or raise with what to install.

    Raises:
        ModuleNotFoundError: if torchvision is missing or cannot load against the installed torch.
    """
    try:
        # imported by name, only here: the package never needs torchvision to import
        torchvision = importlib.import_module("torchvision")
    except (ImportError, RuntimeError) as err:  # RuntimeError: a torchvision built for another torch
        raise ModuleNotFoundError(
            f"The CIFAR-10 and MNIST data modules need a torchvision that matches torch {torch.__version__} "
            f"(import failed: {err}). Install it with `pip install torchvision` from the same index as your torch "
            "(for example `pip install torchvision --index-url https://download.pytorch.org/whl/cpu` for a CPU torch). "
            "The bundled datasets (lightning_mixup.data.SklearnDataModule) need no torchvision."
        ) from err
    return torchvision


class _TorchvisionDataModule(_SplitDataModule):
    dataset_name = ""

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 128,
        num_workers: int = 2,
        val_size: int = 5000,
        augment: bool = True,
        download: bool = True,
    ) -> None:
        super().__init__()
        check_int(batch_size, "batch_size", minimum=1)
        self.data_dir, self.batch_size, self.num_workers, self.val_size = data_dir, batch_size, num_workers, val_size
        self.augment, self.download = augment, download
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _dataset(self, train: bool, transform: Any, download: bool) -> Dataset:
        dataset = getattr(require_torchvision().datasets, self.dataset_name)
        return dataset(self.data_dir, train=train, transform=transform, download=download)

    def _train_transform(self, tv: Any) -> Any:
        return tv.transforms.ToTensor()

    def prepare_data(self) -> None:
        """Download once (rank 0)."""
        if self.download:
            self._dataset(True, None, True)
            self._dataset(False, None, True)

    def setup(self, stage: str | None = None) -> None:
        """Build the splits (validation without augmentation)."""
        tv = require_torchvision()
        plain = tv.transforms.ToTensor()
        train_full = self._dataset(True, self._train_transform(tv) if self.augment else plain, False)
        eval_full = self._dataset(True, plain, False)
        n = len(train_full)  # type: ignore[arg-type]
        if not 0 < self.val_size < n:
            raise ValueError(f"Expected argument `val_size` in (0, {n}), but got {self.val_size!r}.")
        self.train_set = Subset(train_full, range(n - self.val_size))
        self.val_set = Subset(eval_full, range(n - self.val_size, n))
        self.test_set = self._dataset(False, plain, False)


class CIFAR10DataModule(_TorchvisionDataModule):
    """CIFAR-10 (45,000 / 5,000 / 10,000), random crop with 4-pixel padding and horizontal flips for training.

    Args:
        data_dir: where torchvision stores the data.
        batch_size: batch size (the paper's CIFAR-10 setting is 128).
        num_workers: DataLoader workers.
        val_size: images held out of the official training set for validation.
        augment: random crop and flip on training images.
        download: download in ``prepare_data``.
    """

    dataset_name = "CIFAR10"

    def _train_transform(self, tv: Any) -> Any:
        t = tv.transforms
        return t.Compose([t.RandomCrop(32, padding=4), t.RandomHorizontalFlip(), t.ToTensor()])


class MNISTDataModule(_TorchvisionDataModule):
    """MNIST (55,000 / 5,000 / 10,000), no augmentation by default.

    Args:
        data_dir: where torchvision stores the data.
        batch_size: batch size.
        num_workers: DataLoader workers.
        val_size: images held out of the official training set for validation.
        augment: unused for MNIST (kept for a uniform signature).
        download: download in ``prepare_data``.
    """

    dataset_name = "MNIST"
