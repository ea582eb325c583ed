"""Toy 2D Gaussian mixtures for GAN mode-collapse studies: the ring of 8 and the 5×5 grid of 25 Gaussians.

Both come from the GAN-stability literature and are the two problems of the mixup paper's GAN experiment (§3.5):

- ring: ``num_modes`` Gaussians at angles ``2πk/num_modes`` (``k = 0..num_modes-1``, all distinct; note that
  ``linspace(0, 2π, 8)`` would repeat a mode) on a circle of radius ``radius``.
- grid: ``grid_size²`` Gaussians at ``spacing·{-(n-1)/2, …, (n-1)/2}²`` (``{-4, -2, 0, 2, 4}²`` for the defaults).

The ring defaults to the unit circle with std 0.02; the grid follows VEEGAN (Srivastava et al., NeurIPS 2017,
https://arxiv.org/abs/1705.07761): spacing 2, std 0.05. VEEGAN and PacGAN (Lin et al., NeurIPS 2018,
https://arxiv.org/abs/1712.04086), whose Table 1 is the anchor of the study, use a ring of radius 2 with std 0.02,
so the study and the shipped configs pass ``radius=2.0``. The mixup paper (Zhang et al., ICLR 2018,
https://arxiv.org/abs/1710.09412) draws the same two problems.

Data are built in :meth:`~GaussianMixtureDataModule.setup`, in every process (DDP-safe), from a seeded
``torch.Generator``; the same seed gives the same data on every rank and in every run.
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

__all__ = [
    "GaussianMixtureDataModule",
    "GridDataModule",
    "RingDataModule",
    "grid_modes",
    "ring_modes",
    "sample_mixture",
]


def _positive_arg_validation(value: float, name: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"Expected argument `{name}` to be a positive finite float, but got {value!r}.")


def _positive_int_arg_validation(value: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Expected argument `{name}` to be a positive int, but got {value!r}.")


def ring_modes(num_modes: int = 8, radius: float = 1.0) -> Tensor:
    """Means of ``num_modes`` Gaussians evenly spaced on a circle, at angles ``2πk/num_modes``.

    Args:
        num_modes: the number of modes.
        radius: the radius of the circle.

    Returns:
        ``(num_modes, 2)`` float32 tensor.

    Example:
        >>> modes = ring_modes(4, radius=1.0)
        >>> modes.round(decimals=3).abs().tolist()
        [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    """
    _positive_int_arg_validation(num_modes, "num_modes")
    _positive_arg_validation(radius, "radius")
    angles = 2 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    return (radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)).float()


def grid_modes(grid_size: int = 5, spacing: float = 2.0) -> Tensor:
    """Means of ``grid_size²`` Gaussians on a square grid centred at the origin.

    Args:
        grid_size: points per side.
        spacing: distance between neighbouring points.

    Returns:
        ``(grid_size², 2)`` float32 tensor, row by row.

    Example:
        >>> grid_modes(3, spacing=1.0)[:4].tolist()
        [[-1.0, -1.0], [-1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]]
    """
    _positive_int_arg_validation(grid_size, "grid_size")
    _positive_arg_validation(spacing, "spacing")
    ticks = (torch.arange(grid_size, dtype=torch.float64) - (grid_size - 1) / 2) * spacing
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1).float()


def sample_mixture(modes: Tensor, std: float, num_samples: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draw from the uniform mixture of isotropic Gaussians ``N(modes[k], std²·I)``.

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
    if not isinstance(modes, Tensor) or modes.ndim != 2 or modes.shape[0] < 1:
        shape = tuple(modes.shape) if isinstance(modes, Tensor) else type(modes).__name__
        raise ValueError(f"Expected argument `modes` of shape (K, D) with K >= 1, but got {shape}.")
    _positive_arg_validation(std, "std")
    component = torch.randint(modes.shape[0], (num_samples,), generator=generator)
    noise = torch.randn(num_samples, modes.shape[1], generator=generator)
    return modes.cpu().float()[component] + std * noise


class GaussianMixtureDataModule(pl.LightningDataModule):
    """Real samples of a 2D Gaussian mixture as a shuffled, seeded training set (targets are not used).

    Batches are 1-tuples ``(x,)`` with ``x`` of shape ``(batch_size, 2)``. The module exposes :attr:`modes` and
    :attr:`std`, which :class:`~lightning_mixup.gan.GANModule` reads to score its samples.

    Args:
        modes: ``(K, 2)`` means, as nested lists (serialisable) or a tensor.
        std: the standard deviation of every component.
        num_samples: the size of the training set drawn in ``setup``.
        batch_size: real samples per discriminator step.
        seed: the seed of the data and of the shuffling (not of the models).

    Example:
        >>> dm = GaussianMixtureDataModule([[0.0, 0.0], [1.0, 1.0]], std=0.05, num_samples=32, batch_size=8)
        >>> dm.setup("fit")
        >>> next(iter(dm.train_dataloader()))[0].shape
        torch.Size([8, 2])
    """

    def __init__(
        self,
        modes: list[list[float]] | Tensor,
        std: float = 0.02,
        num_samples: int = 100_000,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__()
        means = torch.as_tensor(modes, dtype=torch.float32)
        if means.ndim != 2 or means.shape[0] < 1:
            raise ValueError(f"Expected argument `modes` of shape (K, D) with K >= 1, but got {tuple(means.shape)}.")
        _positive_arg_validation(std, "std")
        _positive_int_arg_validation(num_samples, "num_samples")
        _positive_int_arg_validation(batch_size, "batch_size")
        if batch_size > num_samples:
            raise ValueError(
                f"Expected argument `batch_size` to be at most `num_samples` ({num_samples}), but got {batch_size}."
            )
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"Expected argument `seed` to be a non-negative int, but got {seed!r}.")
        self._modes = means
        self.std = float(std)
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.train_set: TensorDataset | None = None

    @property
    def modes(self) -> Tensor:
        """``(K, D)`` float32 means of the mixture."""
        return self._modes.clone()

    @property
    def num_modes(self) -> int:
        """The number ``K`` of mixture components."""
        return int(self._modes.shape[0])

    def setup(self, stage: str | None = None) -> None:
        """Draw the training set (in every process, from the seed)."""
        generator = torch.Generator().manual_seed(self.seed)
        self.train_set = TensorDataset(sample_mixture(self._modes, self.std, self.num_samples, generator=generator))

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of real samples; the shuffling is seeded too. Incomplete last batches are dropped."""
        if self.train_set is None:
            raise RuntimeError(f"{type(self).__name__}.train_dataloader() was called before setup().")
        shuffle_generator = torch.Generator().manual_seed(self.seed + 1)
        return DataLoader(
            self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True, generator=shuffle_generator
        )


class RingDataModule(GaussianMixtureDataModule):
    """8 Gaussians on a ring, by default the unit circle with std 0.02 (VEEGAN/PacGAN: radius 2).

    Args:
        num_modes: the number of Gaussians (distinct angles ``2πk/num_modes``).
        radius: the radius of the ring; 2.0 in VEEGAN and PacGAN (and in the study).
        std: the standard deviation of every component; 0.02 in VEEGAN and PacGAN.
        num_samples: the size of the training set.
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
        std: float = 0.02,
        num_samples: int = 100_000,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(ring_modes(num_modes, radius), std, num_samples, batch_size, seed)
        self.radius = float(radius)


class GridDataModule(GaussianMixtureDataModule):
    """A ``grid_size × grid_size`` grid of Gaussians (VEEGAN/PacGAN defaults: 5×5 at {-4,-2,0,2,4}², std 0.05).

    Args:
        grid_size: points per side.
        spacing: distance between neighbouring points; 2.0 in VEEGAN and PacGAN.
        std: the standard deviation of every component; 0.05 in VEEGAN and PacGAN.
        num_samples: the size of the training set.
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
        num_samples: int = 100_000,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(grid_modes(grid_size, spacing), std, num_samples, batch_size, seed)
        self.spacing = float(spacing)
