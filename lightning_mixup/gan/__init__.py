"""GAN discriminator mixup, GAN training data and a training-stability evaluation for any GAN LightningModule.

- :class:`GANStabilityCallback`: every N steps, samples from a GAN's generator and scores modes captured,
  high-quality share and reverse KL (mixtures: VEEGAN/PacGAN definitions; images: a classifier as mode counter),
  loss variance and gradient norms, and a converged / mode-collapsed / diverged verdict (:func:`run_verdict`).
- :class:`GANModule`: a reference MLP GAN LightningModule (manual optimization) whose discriminator is mixed
  through :class:`~lightning_mixup.MixupMixin` when the trainer has a :class:`~lightning_mixup.MixupCallback`.
- Data: :class:`RingDataModule`, :class:`GridDataModule` (Gaussian mixtures), drawn by one sampler
  (:mod:`lightning_mixup.gan.data`).
- Metrics: :class:`ModeCoverage` and friends, :func:`classifier_mode_counts` for images.

The study (stacked digits, the ERM-vs-mixup comparison over seeds, the sweep, its batched engine, report and
figures) is research code in ``experiments.gan``.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412 (§3.5)
    - VEEGAN: Srivastava et al., NeurIPS 2017, https://arxiv.org/abs/1705.07761
    - PacGAN: Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086
"""

from lightning_mixup.gan.data import (
    FreshSamples,
    GaussianMixture,
    GaussianMixtureDataModule,
    GridDataModule,
    RingDataModule,
    SamplerDataModule,
    data_generator,
    grid_modes,
    ring_modes,
    sample_mixture,
)
from lightning_mixup.gan.losses import (
    GAN_LOSSES,
    GENERATOR_OBJECTIVES,
    discriminator_loss,
    generator_loss,
    soft_label_loss,
)
from lightning_mixup.gan.metrics import (
    VERDICTS,
    HighQualityShare,
    ModeCoverage,
    ModesCaptured,
    ReverseKLToUniform,
    VerdictRule,
    classifier_coverage,
    classifier_mode_counts,
    coverage_from_counts,
    mode_histogram,
    run_verdict,
)
from lightning_mixup.gan.module import GANModule, Maxout, mlp, noise_generator
from lightning_mixup.gan.stability import (
    GANStabilityCallback,
    StabilityReport,
    default_sample_fn,
)

__all__ = [
    "GAN_LOSSES",
    "GENERATOR_OBJECTIVES",
    "VERDICTS",
    "FreshSamples",
    "GANModule",
    "GANStabilityCallback",
    "GaussianMixture",
    "GaussianMixtureDataModule",
    "GridDataModule",
    "HighQualityShare",
    "Maxout",
    "ModeCoverage",
    "ModesCaptured",
    "ReverseKLToUniform",
    "RingDataModule",
    "SamplerDataModule",
    "StabilityReport",
    "VerdictRule",
    "classifier_coverage",
    "classifier_mode_counts",
    "coverage_from_counts",
    "data_generator",
    "default_sample_fn",
    "discriminator_loss",
    "generator_loss",
    "grid_modes",
    "mlp",
    "mode_histogram",
    "noise_generator",
    "ring_modes",
    "run_verdict",
    "sample_mixture",
    "soft_label_loss",
]
