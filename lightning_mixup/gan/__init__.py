"""GAN discriminator mixup and a training-stability evaluation for any GAN LightningModule.

- :class:`GANStabilityCallback`: every N steps, samples from a GAN's generator and scores modes captured,
  high-quality share and reverse KL (mixtures: VEEGAN/PacGAN definitions; images: a classifier as mode counter),
  loss variance and gradient norms, and a converged / mode-collapsed / diverged verdict (:func:`run_verdict`).
- :class:`GANModule`: a small reference MLP GAN LightningModule whose discriminator is mixed through
  :class:`~lightning_mixup.MixupMixin` when the trainer has a :class:`~lightning_mixup.MixupCallback`.
- Metrics: :class:`ModeCoverage` and friends for Gaussian mixtures (:func:`ring_modes`, :func:`grid_modes`),
  :func:`classifier_mode_counts` for images.

The study (its data modules and samplers, PacGAN's architecture, stacked digits, the ERM-vs-mixup comparison over
seeds, its batched engine, report and figures) is research code in ``experiments.gan``.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412 (§3.5)
    - VEEGAN: Srivastava et al., NeurIPS 2017, https://arxiv.org/abs/1705.07761
    - PacGAN: Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086
"""

from lightning_mixup.gan.losses import GENERATOR_OBJECTIVES, generator_loss, soft_label_loss
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
    grid_modes,
    mode_histogram,
    ring_modes,
    run_verdict,
)
from lightning_mixup.gan.module import GANModule, mlp, noise_generator
from lightning_mixup.gan.stability import GANStabilityCallback, StabilityReport, default_sample_fn

__all__ = [
    "GENERATOR_OBJECTIVES",
    "VERDICTS",
    "GANModule",
    "GANStabilityCallback",
    "HighQualityShare",
    "ModeCoverage",
    "ModesCaptured",
    "ReverseKLToUniform",
    "StabilityReport",
    "VerdictRule",
    "classifier_coverage",
    "classifier_mode_counts",
    "coverage_from_counts",
    "default_sample_fn",
    "generator_loss",
    "grid_modes",
    "mlp",
    "mode_histogram",
    "noise_generator",
    "ring_modes",
    "run_verdict",
    "soft_label_loss",
]
