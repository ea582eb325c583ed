"""GAN training data of the study: the ring and grid of Gaussians, and the one sampler they are drawn with.

The modes come from :func:`~lightning_mixup.gan.ring_modes` and :func:`~lightning_mixup.gan.grid_modes` (the
package's metrics score against them).

- **ring**: ``num_modes`` Gaussians at angles ``2πk/num_modes`` (``k = 0..num_modes-1``, all distinct; note that
  ``linspace(0, 2π, 8)`` would repeat a mode) on a circle of radius ``radius``.
- **grid**: ``grid_size²`` Gaussians at ``spacing·{-(n-1)/2, …, (n-1)/2}²``.

Settings in the literature (the study uses both, and stacked digits):

- the mixup authors' GAN code (Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412; hongyi-zhang/mixup
  ``gan/example_gan.py``): ring of 8 on the unit circle and a 5×5 grid with spacing 0.5 on ``[-1, 1]²``, std 0.01,
  fresh samples at every step;
- PacGAN (Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086; fjxmlzn/PacGAN ``synthetic_data_experiments``
  configs): ring of 8 on the unit circle with std 0.01, grid ``{-4, -2, 0, 2, 4}²`` with std 0.05.

**One sampler.** Every real batch, in the data modules and in the study's batched engine alike, is
:meth:`GaussianMixture.sample` (or any :class:`Sampler`, e.g. the study's stacked digits) called with a
``torch.Generator``. With ``num_samples=None`` a data module draws a fresh batch at every step (an infinite training
set, as the mixup authors' code does): training batch ``n`` of rank ``r`` is drawn with
:func:`data_generator` ``(seed, r, n)``, so its content depends on its number only (not on how many batches the
loader prefetched) and a resumed run continues with the batch it would have drawn. With an int it draws a fixed
training set once, with :func:`data_generator` ``(seed, r)``, and shuffles it (as PacGAN's 100,000 samples).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Protocol

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from lightning_mixup._checks import check_int
from lightning_mixup._compat import batches_fetched
from lightning_mixup.gan.metrics import _modes_validation, _positive, grid_modes, ring_modes

__all__ = [
    "FreshSamples",
    "GaussianMixture",
    "GaussianMixtureDataModule",
    "GridDataModule",
    "RingDataModule",
    "Sampler",
    "SamplerDataModule",
    "data_generator",
    "sample_mixture",
]


def sample_mixture(modes: Tensor, std: float, num_samples: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draw from the uniform mixture of isotropic Gaussians ``N(modes[k], std²·I)``.

    The draws, in order: ``randint`` for the components, then ``randn`` for the noise.

    Args:
        modes: ``(K, D)`` means.
        std: the standard deviation of every component.
        num_samples: how many samples.
        generator: the source of randomness (a CPU generator; samples are drawn on the CPU).

    Returns:
        ``(num_samples, D)`` float32 tensor on the CPU.

    Example:
        >>> x = sample_mixture(ring_modes(), 0.02, 5, generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([5, 2])
    """
    _modes_validation(modes)
    _positive(std, "std")
    component = torch.randint(modes.shape[0], (num_samples,), generator=generator)
    noise = torch.randn(num_samples, modes.shape[1], generator=generator)
    return modes.cpu().float()[component] + std * noise


def data_generator(seed: int, rank: int = 0, batch: int | None = None) -> torch.Generator:
    """The CPU generator of real data: of training batch ``batch`` of a fresh stream, or of a fixed training set.

    Seeded from ``(seed, rank, batch)``: distinct per rank and per batch.

    Example:
        >>> a, b = data_generator(0, batch=3), data_generator(0, rank=1, batch=3)
        >>> bool(torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b)))
        False
    """
    key = f"gan-data:{seed}:{rank}" if batch is None else f"gan-data:{seed}:{rank}:{batch}"
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


class Sampler(Protocol):
    """What a GAN data source provides: ``sample(n, generator) -> (n, data_dim)`` float32 CPU samples."""

    @property
    def data_dim(self) -> int:
        """The dimension of one (flattened) sample."""
        ...

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """``num_samples`` samples drawn with ``generator``."""
        ...


class GaussianMixture:
    """A uniform mixture of isotropic Gaussians: the sampler of the ring and grid problems.

    Args:
        modes: ``(K, D)`` means, as nested lists or a tensor.
        std: the standard deviation of every component.

    Example:
        >>> mixture = GaussianMixture(ring_modes(), std=0.01)
        >>> mixture.sample(3, torch.Generator().manual_seed(0)).shape, mixture.num_modes
        (torch.Size([3, 2]), 8)
    """

    def __init__(self, modes: list[list[float]] | Tensor, std: float) -> None:
        means = torch.as_tensor(modes, dtype=torch.float32)
        _modes_validation(means)
        _positive(std, "std")
        self.modes = means
        self.std = float(std)

    @property
    def num_modes(self) -> int:
        """The number ``K`` of components."""
        return int(self.modes.shape[0])

    @property
    def data_dim(self) -> int:
        """The dimension ``D`` of the data."""
        return int(self.modes.shape[1])

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """``(num_samples, D)`` samples (:func:`sample_mixture`)."""
        return sample_mixture(self.modes, self.std, num_samples, generator=generator)


class FreshSamples(IterableDataset):
    """An endless stream of fresh batches ``(x,)``.

    Batch ``n`` is ``sampler.sample(batch_size, data_generator(seed, rank, n))``. :attr:`next_batch` numbers the
    next batch; the stream continues from it when iterated again (a new epoch draws new samples, never a replay),
    and a data module sets it from the trainer's restored progress on resume. Use it with
    ``DataLoader(..., batch_size=None)`` in the main process.

    Example:
        >>> stream = FreshSamples(GaussianMixture(ring_modes(), 0.01), 4, seed=0)
        >>> next(iter(stream))[0].shape, stream.next_batch
        (torch.Size([4, 2]), 1)
    """

    def __init__(self, sampler: Sampler, batch_size: int, seed: int, rank: int = 0) -> None:
        super().__init__()
        self.sampler = sampler
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.next_batch = 0

    def batch(self, n: int) -> Tensor:
        """Training batch ``n`` of the stream."""
        return self.sampler.sample(self.batch_size, data_generator(self.seed, self.rank, n))

    def __iter__(self) -> Iterator[tuple[Tensor]]:
        while True:
            n = self.next_batch
            self.next_batch += 1
            yield (self.batch(n),)


class SamplerDataModule(pl.LightningDataModule):
    """Real samples of a :class:`Sampler` as GAN training batches ``(x,)`` with ``x`` of shape ``(B, data_dim)``.

    Args:
        sampler: the data source.
        num_samples: ``None`` for a fresh batch at every step (an endless stream, one epoch); an int for a fixed
            training set of that size, drawn once in ``setup`` and reshuffled every epoch.
        batch_size: real samples per discriminator step.
        seed: the seed of the data (not of the models); rank ``r`` of a DDP run draws from
            :func:`data_generator` ``(seed, r, ...)``.

    Example:
        >>> dm = SamplerDataModule(GaussianMixture([[0.0, 0.0], [1.0, 1.0]], 0.05), batch_size=8)
        >>> dm.setup("fit")
        >>> next(iter(dm.train_dataloader()))[0].shape
        torch.Size([8, 2])
    """

    def __init__(self, sampler: Sampler, num_samples: int | None = None, batch_size: int = 128, seed: int = 0) -> None:
        super().__init__()
        check_int(num_samples, "num_samples", minimum=1, optional=True)
        check_int(batch_size, "batch_size", minimum=1)
        check_int(seed, "seed", minimum=0)
        if num_samples is not None and batch_size > num_samples:
            raise ValueError(
                f"Expected argument `batch_size` to be at most `num_samples` ({num_samples}), but got {batch_size}."
            )
        self.sampler = sampler
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.train_set: TensorDataset | FreshSamples | None = None

    def _rank(self) -> int:
        trainer = getattr(self, "trainer", None)
        return int(trainer.global_rank) if trainer is not None else 0

    def setup(self, stage: str | None = None) -> None:
        """Create the stream (or draw the fixed training set) of this process."""
        if self.train_set is not None:
            return
        if self.num_samples is None:
            self.train_set = FreshSamples(self.sampler, self.batch_size, self.seed, self._rank())
        else:
            generator = data_generator(self.seed, self._rank())
            self.train_set = TensorDataset(self.sampler.sample(self.num_samples, generator))

    def train_dataloader(self) -> DataLoader:
        """Fresh batches, or seeded shuffled batches of the fixed set (incomplete last batches dropped).

        A fresh stream starts at the trainer's count of training batches fetched so far (0 in a new fit, the
        restored count when resuming from a checkpoint).
        """
        if self.train_set is None:
            raise RuntimeError(f"{type(self).__name__}.train_dataloader() was called before setup().")
        if isinstance(self.train_set, FreshSamples):
            trainer = getattr(self, "trainer", None)
            if trainer is not None:
                self.train_set.next_batch = batches_fetched(trainer)
            return DataLoader(self.train_set, batch_size=None)
        shuffle = torch.Generator().manual_seed(self.seed + 1)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True, generator=shuffle)


class GaussianMixtureDataModule(SamplerDataModule):
    """Real samples of a Gaussian mixture; exposes :attr:`modes` and :attr:`std` for the coverage metrics.

    Args:
        modes: ``(K, D)`` means, as nested lists (serialisable) or a tensor.
        std: the standard deviation of every component.
        num_samples: ``None``: a fresh batch at every step; an int: a fixed training set of that size.
        batch_size: real samples per discriminator step.
        seed: the seed of the data.

    Example:
        >>> dm = GaussianMixtureDataModule([[0.0, 0.0], [1.0, 1.0]], std=0.05, num_samples=32, batch_size=8)
        >>> dm.setup("fit")
        >>> next(iter(dm.train_dataloader()))[0].shape
        torch.Size([8, 2])
    """

    def __init__(
        self,
        modes: list[list[float]] | Tensor,
        std: float = 0.01,
        num_samples: int | None = None,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(GaussianMixture(modes, std), num_samples, batch_size, seed)
        self.mixture = GaussianMixture(modes, std)

    @property
    def modes(self) -> Tensor:
        """``(K, D)`` float32 means of the mixture."""
        return self.mixture.modes.clone()

    @property
    def std(self) -> float:
        """The standard deviation of every component."""
        return self.mixture.std

    @property
    def num_modes(self) -> int:
        """The number ``K`` of mixture components."""
        return self.mixture.num_modes


class RingDataModule(GaussianMixtureDataModule):
    """8 Gaussians on a ring; defaults: the unit circle with std 0.01 (mixup authors' code and PacGAN).

    Args:
        num_modes: the number of Gaussians (distinct angles ``2πk/num_modes``).
        radius: the radius of the ring.
        std: the standard deviation of every component.
        num_samples: ``None``: fresh samples at every step (the mixup authors' code); an int: a fixed set.
        batch_size: real samples per discriminator step; 128 in the mixup authors' GAN code.
        seed: the seed of the data.

    Example:
        >>> RingDataModule().num_modes
        8
    """

    def __init__(
        self,
        num_modes: int = 8,
        radius: float = 1.0,
        std: float = 0.01,
        num_samples: int | None = None,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(ring_modes(num_modes, radius), std, num_samples, batch_size, seed)
        self.radius = float(radius)


class GridDataModule(GaussianMixtureDataModule):
    """A ``grid_size × grid_size`` grid of Gaussians; defaults: PacGAN's {-4, -2, 0, 2, 4}² with std 0.05.

    The mixup authors' code uses ``spacing=0.5`` (the grid on ``[-1, 1]²``) and ``std=0.01``.

    Args:
        grid_size: points per side.
        spacing: distance between neighbouring points.
        std: the standard deviation of every component.
        num_samples: ``None``: fresh samples at every step; an int: a fixed training set.
        batch_size: real samples per discriminator step.
        seed: the seed of the data.

    Example:
        >>> GridDataModule().modes.min().item()
        -4.0
    """

    def __init__(
        self,
        grid_size: int = 5,
        spacing: float = 2.0,
        std: float = 0.05,
        num_samples: int | None = None,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(grid_modes(grid_size, spacing), std, num_samples, batch_size, seed)
        self.spacing = float(spacing)
