"""GAN discriminator mixup and GAN training-stability metrics on 2D Gaussian mixtures.

- :class:`GANModule`: a reference MLP GAN LightningModule (manual optimization) whose discriminator is mixed
  through :class:`~lightning_mixup.MixupMixin` when the trainer has a :class:`~lightning_mixup.MixupCallback`.
- :class:`RingDataModule`, :class:`GridDataModule`: the ring of 8 and the grid of 25 Gaussians.
- :class:`ModeCoverage` and friends: modes captured, high-quality share, reverse KL (VEEGAN/PacGAN definitions),
  and :func:`run_verdict`.

The study (the sweep, its batched engine, report and figures) is research code in ``experiments.gan``.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412 (§3.5)
    - VEEGAN: Srivastava et al., NeurIPS 2017, https://arxiv.org/abs/1705.07761
    - PacGAN: Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086
"""

from lightning_mixup.gan.data import (
    GaussianMixtureDataModule,
    GridDataModule,
    RingDataModule,
    grid_modes,
    ring_modes,
    sample_mixture,
)
from lightning_mixup.gan.losses import GAN_LOSSES, discriminator_loss, generator_loss, soft_label_loss
from lightning_mixup.gan.metrics import (
    VERDICTS,
    HighQualityShare,
    ModeCoverage,
    ModesCaptured,
    ReverseKLToUniform,
    VerdictRule,
    coverage_from_counts,
    mode_histogram,
    run_verdict,
)
from lightning_mixup.gan.module import GANModule, mlp

__all__ = [
    "GAN_LOSSES",
    "VERDICTS",
    "GANModule",
    "GaussianMixtureDataModule",
    "GridDataModule",
    "HighQualityShare",
    "ModeCoverage",
    "ModesCaptured",
    "ReverseKLToUniform",
    "RingDataModule",
    "VerdictRule",
    "coverage_from_counts",
    "discriminator_loss",
    "generator_loss",
    "grid_modes",
    "mlp",
    "mode_histogram",
    "ring_modes",
    "run_verdict",
    "sample_mixture",
    "soft_label_loss",
]
