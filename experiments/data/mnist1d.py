r"""MNIST-1D (Greydanus & Kobak 2020): 10 classes of 40-sample 1-D signals, generated procedurally, no download.

The ``mnist1d`` package (``pip install mnist1d``; it needs numpy, scipy, matplotlib and requests, never a network
connection for :func:`mnist1d.data.make_dataset`) builds the standard dataset from its default arguments
(``get_dataset_args()``: 5,000 examples, seed 42): the first 4,000 are the training split and the last 1,000 the
test split, identical to the published ``mnist1d_data.pkl``. Generation takes a few seconds and is cached per
process. The signals are already centred and scaled by the package (mean 0, standard deviation 1 over the whole
set); this module changes nothing in them.

:class:`MNIST1DDataModule` optionally holds out a stratified inner validation split of the training examples
(``val_size``, default 500), for early stopping and for choosing α; ``val_size=0`` gives the standard
4,000/1,000 split on which the published baselines were measured.

Published baselines (test accuracy on the standard split): logistic regression 32 %, MLP 68 %, CNN 94 %, GRU 91 %
(the paper's abstract, https://arxiv.org/abs/2011.14439 v1, and the package README). The repository's benchmark
notebook (``notebooks/mnist1d-classification.ipynb``, models in ``notebooks/models.py``, Adam lr 1e-2, batch 100,
6,000 steps) prints 92.3 % (CNN), 65.1 % (MLP) and 31.5 % (linear) at its last step.

References:
    - Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D", 2020, https://arxiv.org/abs/2011.14439
"""

from __future__ import annotations

import functools
import random

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import TensorDataset

from experiments.data._splits import SplitLoaders
from lightning_mixup._checks import check_int

MNIST1D_INSTALL = "pip install mnist1d"
MNIST1D_LENGTH = 40
MNIST1D_CLASSES = 10


@functools.lru_cache(maxsize=4)
def make_mnist1d(seed: int = 42) -> dict[str, np.ndarray]:
    """The standard MNIST-1D arrays ``{"x", "y", "x_test", "y_test"}`` (float32 / int64) for dataset ``seed``.

    The global ``random`` and ``numpy`` generators, which the package reseeds, are restored afterwards.

    Raises:
        ModuleNotFoundError: if ``mnist1d`` is not installed, with the install line.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(f"MNIST-1D needs the mnist1d package: `{MNIST1D_INSTALL}`.") from err
    args = get_dataset_args()
    args.seed = seed
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x": np.asarray(data["x"], dtype=np.float32),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float32),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }


class MNIST1DDataModule(SplitLoaders, pl.LightningDataModule):
    """MNIST-1D: inputs ``(B, 40)`` float32, labels ``(B,)`` int64 in ``[0, 10)``.

    Args:
        batch_size: training batch size (the paper's notebooks use 100).
        val_size: training examples held out (stratified, seed ``split_seed``) as the inner validation split; 0
            keeps the standard 4,000 training examples.
        split_seed: seed of the inner validation split.
        dataset_seed: the generator seed of the dataset (42 is the standard dataset).
        order_seed: seed of the training loader's own shuffling generator (``None``: the global generator).
        drop_last: drop the last incomplete training batch.

    Example:
        >>> dm = MNIST1DDataModule(val_size=500)
        >>> dm.setup("fit")
        >>> len(dm.train_set), len(dm.val_set), len(dm.test_set), dm.input_shape
        (3500, 500, 1000, (40,))
    """

    def __init__(
        self,
        batch_size: int = 100,
        val_size: int = 500,
        split_seed: int = 0,
        dataset_seed: int = 42,
        order_seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        check_int(batch_size, "batch_size", minimum=1)
        check_int(val_size, "val_size", minimum=0, maximum=2000)
        check_int(order_seed, "order_seed", minimum=0, optional=True)
        self.batch_size = batch_size
        self.val_size = val_size
        self.split_seed = split_seed
        self.dataset_seed = dataset_seed
        self.order_seed = order_seed
        self.drop_last = drop_last
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    num_classes = MNIST1D_CLASSES
    input_shape = (MNIST1D_LENGTH,)

    def setup(self, stage: str | None = None) -> None:
        """Generate (cached) and split."""
        if self.train_set is not None:
            return
        data = make_mnist1d(self.dataset_seed)
        x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
        if self.val_size:
            from sklearn.model_selection import train_test_split

            train, val = train_test_split(
                np.arange(len(y)), test_size=self.val_size, stratify=data["y"], random_state=self.split_seed
            )
            train_i, val_i = torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(val))
        else:
            train_i, val_i = torch.arange(len(y)), torch.arange(0)
        self.train_set = TensorDataset(x[train_i], y[train_i])
        self.val_set = TensorDataset(x[val_i], y[val_i])
        self.test_set = TensorDataset(torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"]))

    @property
    def eval_batch_size(self) -> int:
        """Validation and test batch size."""
        return 500
