"""Lightning data modules: scikit-learn's bundled datasets, KEEL tables and MNIST-1D (no download), torchvision's."""

from lightning_mixup.data.mnist1d import MNIST1DDataModule
from lightning_mixup.data.sklearn import SKLEARN_DATASETS, SklearnDataModule
from lightning_mixup.data.tabular import KEEL_DATASETS, SKLEARN_TABLES, TabularFoldsDataModule
from lightning_mixup.data.vision import CIFAR10_MEAN, CIFAR10_STD, CIFAR10DataModule, MNISTDataModule

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "KEEL_DATASETS",
    "SKLEARN_DATASETS",
    "SKLEARN_TABLES",
    "CIFAR10DataModule",
    "MNIST1DDataModule",
    "MNISTDataModule",
    "SklearnDataModule",
    "TabularFoldsDataModule",
]
