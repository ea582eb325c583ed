import math

import pytest
import torch

from experiments.gan.data import (
    GaussianMixture,
    GaussianMixtureDataModule,
    GridDataModule,
    RingDataModule,
    data_generator,
    sample_mixture,
)
from lightning_mixup.gan import grid_modes, ring_modes


def test_ring_has_distinct_equally_spaced_modes():
    modes = ring_modes(8, radius=1.0)
    assert modes.shape == (8, 2)
    assert torch.allclose(modes.norm(dim=1), torch.ones(8), atol=1e-6)
    pairwise = torch.cdist(modes, modes) + torch.eye(8) * 10
    # 8 distinct angles 2πk/8: every nearest neighbour at the chord 2 sin(π/8), no repeated mode
    assert torch.allclose(pairwise.min(dim=1).values, torch.full((8,), 2 * math.sin(math.pi / 8)), atol=1e-5)


def test_grid_points_are_the_literature_lattice():
    modes = grid_modes()
    assert modes.shape == (25, 2)
    assert sorted(set(modes[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert torch.unique(modes, dim=0).shape[0] == 25


def test_defaults_follow_pacgan_and_the_mixup_authors():
    ring, grid = RingDataModule(), GridDataModule()
    assert (ring.radius, ring.std, ring.num_modes) == (1.0, 0.01, 8)  # PacGAN and the mixup authors' code
    assert (grid.spacing, grid.std, grid.num_modes) == (2.0, 0.05, 25)  # PacGAN
    authors_grid = GridDataModule(spacing=0.5, std=0.01)
    assert sorted(set(authors_grid.modes[:, 0].tolist())) == [-1.0, -0.5, 0.0, 0.5, 1.0]


def test_datamodule_is_seeded_and_built_in_setup():
    a, b, c = (RingDataModule(num_samples=256, batch_size=32, seed=s) for s in (0, 0, 1))  # a fixed training set
    assert a.train_set is None
    for dm in (a, b, c):
        dm.setup("fit")
    assert torch.equal(a.train_set.tensors[0], b.train_set.tensors[0])
    assert not torch.equal(a.train_set.tensors[0], c.train_set.tensors[0])
    batches_a = [x for (x,) in a.train_dataloader()]
    batches_b = [x for (x,) in b.train_dataloader()]
    assert len(batches_a) == 8 and all(torch.equal(x, y) for x, y in zip(batches_a, batches_b, strict=True))


def test_fresh_stream_draws_new_batches_from_the_shared_sampler():
    dm = RingDataModule(batch_size=16, seed=4)  # num_samples=None: a fresh batch at every step
    dm.setup("fit")
    first = [x for _, (x,) in zip(range(3), dm.train_dataloader(), strict=False)]
    again = [x for _, (x,) in zip(range(2), dm.train_dataloader(), strict=False)]  # a new epoch continues the stream
    expected = [GaussianMixture(ring_modes(), 0.01).sample(16, data_generator(4, 0, n)) for n in range(5)]
    assert all(torch.equal(x, y) for x, y in zip(first + again, expected, strict=True))


def test_samples_lie_near_the_modes():
    x = sample_mixture(ring_modes(), 0.02, 2000, generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, ring_modes()).min(dim=1).values
    assert nearest.mean() == pytest.approx(0.02 * math.sqrt(math.pi / 2), rel=0.1)  # Rayleigh mean


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RingDataModule(radius=-1.0), "`radius` to be a finite float >= 1e-12"),
        (lambda: RingDataModule(num_modes=0), "`num_modes` to be an int >= 1"),
        (lambda: GridDataModule(std=0.0), "`std` to be a finite float >= 1e-12"),
        (lambda: GridDataModule(grid_size=0), "`grid_size` to be an int >= 1"),
        (lambda: RingDataModule(num_samples=8, batch_size=16), "`batch_size` to be at most `num_samples`"),
        (lambda: RingDataModule(seed=-1), "`seed` to be an int >= 0"),
        (lambda: GaussianMixtureDataModule([1.0, 2.0]), r"`modes` of shape \(K, D\)"),
        (lambda: sample_mixture(torch.zeros(2), 0.1, 3), r"`modes` of shape \(K, D\)"),
        (lambda: RingDataModule(num_samples=0), "`num_samples` to be an int >= 1 or None"),
    ],
)
def test_invalid_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_dataloader_before_setup_raises():
    with pytest.raises(RuntimeError, match=r"called before setup\(\)"):
        RingDataModule().train_dataloader()
