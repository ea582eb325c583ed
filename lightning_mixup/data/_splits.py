"""The dataloaders shared by the data modules: shuffled training batches, validation and test batches in order."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset


class _SplitDataModule(pl.LightningDataModule):
    """A data module whose ``setup`` fills ``train_set``, ``val_set`` and ``test_set``."""

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
