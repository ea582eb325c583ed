"""Lightning data modules: scikit-learn's bundled datasets (no download) and torchvision's.

The research datasets of our studies (KEEL tables, MNIST-1D) live in ``experiments.data``.
"""

from lightning_mixup.data.sklearn import SKLEARN_DATASETS, SklearnDataModule
from lightning_mixup.data.vision import CIFAR10_MEAN, CIFAR10_STD, CIFAR10DataModule, MNISTDataModule

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "SKLEARN_DATASETS",
    "CIFAR10DataModule",
    "MNISTDataModule",
    "SklearnDataModule",
]
