"""Data modules over the real datasets scikit-learn ships: no download, fixed and documented splits.

- ``digits``: 1,797 8×8 handwritten digits, 10 classes, pixels scaled to [0, 1], shape ``(1, 8, 8)``.
- ``iris`` (150 × 4, 3 classes), ``wine`` (178 × 13, 3 classes), ``breast_cancer`` (569 × 30, 2 classes): UCI
  tables, features standardised with the training split's mean and standard deviation.
- ``diabetes`` (442 × 10, regression): disease progression after one year; features and the float32 target
  ``(B,)`` standardised with the training split's mean and standard deviation (for C-Mixup, ``method="cmixup"``).

Split: 60 % train / 20 % validation / 20 % test (stratified by class for the classification sets), drawn once with
``split_seed`` (default 0), so every run and every seed of a study sees the same test set.
"""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lightning_mixup._checks import check_choice, check_int

SklearnDataset = Literal["digits", "iris", "wine", "breast_cancer", "diabetes"]
SKLEARN_DATASETS: tuple[str, ...] = ("digits", "iris", "wine", "breast_cancer", "diabetes")
#: The regression tables: float32 targets ``(B,)``, standardised.
REGRESSION_DATASETS: tuple[str, ...] = ("diabetes",)


class _SplitDataModule(pl.LightningDataModule):
    """A data module whose ``setup`` fills ``train_set``, ``val_set`` and ``test_set`` (also the torchvision ones)."""

    batch_size: int
    num_workers: int
    train_set: Any
    val_set: Any
    test_set: Any

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called.")
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (augmented where the data module augments)."""
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches, in order."""
        return self._loader(self.val_set, False)

    def test_dataloader(self) -> DataLoader:
        """Test batches, in order."""
        return self._loader(self.test_set, False)


class SklearnDataModule(_SplitDataModule):
    """One of scikit-learn's bundled datasets with fixed stratified train/val/test splits.

    Args:
        name: ``"digits"``, ``"iris"``, ``"wine"``, ``"breast_cancer"`` or ``"diabetes"`` (regression).
        batch_size: training batch size (evaluation uses the same).
        split_seed: the seed of the fixed split.
        val_fraction: share of the data for validation.
        test_fraction: share of the data for testing.
        num_workers: DataLoader workers.

    Example:
        >>> dm = SklearnDataModule("iris", batch_size=16)
        >>> dm.setup("fit")
        >>> dm.num_features, dm.num_classes, len(dm.train_set), len(dm.val_set), len(dm.test_set)
        (4, 3, 90, 30, 30)
    """

    def __init__(
        self,
        name: SklearnDataset = "digits",
        batch_size: int = 64,
        split_seed: int = 0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_choice(name, "name", SKLEARN_DATASETS)
        check_int(batch_size, "batch_size", minimum=1)
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError(
                "Expected `val_fraction` and `test_fraction` in (0, 1) with a sum below 1, but got "
                f"{val_fraction!r} and {test_fraction!r}."
            )
        self.dataset, self.batch_size, self.split_seed, self.val_fraction = name, batch_size, split_seed, val_fraction
        self.test_fraction, self.num_workers = test_fraction, num_workers
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input: ``(1, 8, 8)`` for digits, ``(features,)`` for the tables."""
        return (1, 8, 8) if self.dataset == "digits" else (_FEATURES[self.dataset],)

    @property
    def num_features(self) -> int:
        """Number of input features (64 for digits)."""
        return 64 if self.dataset == "digits" else _FEATURES[self.dataset]

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for a regression table)."""
        return _CLASSES.get(self.dataset, 0)

    @property
    def is_regression(self) -> bool:
        """Whether the targets are float regression values."""
        return self.dataset in REGRESSION_DATASETS

    def setup(self, stage: str | None = None) -> None:
        """Load and split the data (once; inside each process, so DDP needs no tensors across the spawn)."""
        if self.train_set is not None:
            return
        from sklearn import datasets
        from sklearn.model_selection import train_test_split

        features, labels = getattr(datasets, f"load_{self.dataset}")(return_X_y=True)
        x = torch.as_tensor(features, dtype=torch.float32)
        regression = self.is_regression
        y = torch.as_tensor(labels, dtype=torch.float32 if regression else torch.long)
        holdout = self.val_fraction + self.test_fraction
        idx = torch.arange(len(y)).numpy()
        strata = None if regression else labels
        train_idx, rest_idx = train_test_split(idx, test_size=holdout, stratify=strata, random_state=self.split_seed)
        val_idx, test_idx = train_test_split(
            rest_idx, test_size=self.test_fraction / holdout, stratify=None if regression else labels[rest_idx],
            random_state=self.split_seed,
        )  # fmt: skip
        if regression:
            train_y = y[torch.as_tensor(train_idx)]
            y = (y - train_y.mean()) / train_y.std().clamp_min(1e-6)
        if self.dataset == "digits":
            x = (x / 16.0).view(-1, 1, 8, 8)
        else:
            train = x[torch.as_tensor(train_idx)]
            x = (x - train.mean(0)) / train.std(0).clamp_min(1e-6)
        self.train_set, self.val_set, self.test_set = (
            TensorDataset(x[torch.as_tensor(i)], y[torch.as_tensor(i)]) for i in (train_idx, val_idx, test_idx)
        )


_FEATURES = {"iris": 4, "wine": 13, "breast_cancer": 30, "diabetes": 10}
_CLASSES = {"digits": 10, "iris": 3, "wine": 3, "breast_cancer": 2}
