"""The loaders of a data module that builds fixed train / validation / test ``TensorDataset`` splits in ``setup``."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset


class SplitLoaders:
    """Mixin for a ``LightningDataModule`` with ``train_set``/``val_set``/``test_set`` made in ``setup``.

    The training loader shuffles with its own generator seeded by ``order_seed`` (``None``: the global one), so a
    study can fix the data order of both arms; validation and test batches come in order, ``eval_batch_size`` at a
    time.
    """

    train_set: TensorDataset | None
    val_set: TensorDataset | None
    test_set: TensorDataset | None
    batch_size: int
    order_seed: int | None
    drop_last: bool

    @property
    def eval_batch_size(self) -> int:
        """Validation and test batch size (the training batch size unless a module says otherwise)."""
        return self.batch_size

    def _require(self, dataset: TensorDataset | None) -> TensorDataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called.")
        return dataset

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (with a generator seeded by ``order_seed`` when given)."""
        generator = None if self.order_seed is None else torch.Generator().manual_seed(self.order_seed)
        return DataLoader(
            self._require(self.train_set),
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=self.drop_last,
            generator=generator,
        )

    def val_dataloader(self) -> DataLoader:
        """Inner validation batches, in order."""
        return DataLoader(self._require(self.val_set), batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        """Test batches, in order."""
        return DataLoader(self._require(self.test_set), batch_size=self.eval_batch_size)
