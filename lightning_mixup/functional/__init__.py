"""Pure-torch mixing operations: no Lightning import, every random draw from an explicit generator.

Each method is a pair: ``sample_*`` draws the random parameters (:class:`MixParams`), :func:`apply_mix` and
:func:`mix_targets` use them deterministically. :func:`mixup` and :func:`cutmix` do both in one call. The mixup
family selected by ``method=`` has its pairs here too: RegMixup (:func:`sample_regmixup`, :func:`apply_regmixup`),
kernel-warping mixup (:func:`sample_kernel_warping`, :func:`warp_lam`), MIT (:func:`sample_mit`, :func:`apply_mit`,
:func:`mit_loss`) and C-Mixup (:func:`sample_cmixup`, :func:`apply_cmixup`); see ``docs/methods.md``.
"""

from lightning_mixup.functional.apply import apply_mix, interpolate_loss, mix_targets
from lightning_mixup.functional.cmixup import apply_cmixup, sample_cmixup
from lightning_mixup.functional.labels import MixedLabels, MixedLabelsError
from lightning_mixup.functional.mit import MitParams, apply_mit, mit_loss, mit_recover, sample_mit
from lightning_mixup.functional.ops import cutmix, mixup
from lightning_mixup.functional.regmixup import apply_regmixup, regmixup_loss, sample_regmixup
from lightning_mixup.functional.sampling import (
    MIX_MODES,
    MixMode,
    MixParams,
    identity_params,
    sample_beta,
    sample_cutmix,
    sample_mixup,
)
from lightning_mixup.functional.warping import sample_kernel_warping, warp_lam

__all__ = [
    "MIX_MODES",
    "MitParams",
    "MixMode",
    "MixParams",
    "MixedLabels",
    "MixedLabelsError",
    "apply_cmixup",
    "apply_mit",
    "apply_mix",
    "apply_regmixup",
    "cutmix",
    "identity_params",
    "interpolate_loss",
    "mit_loss",
    "mit_recover",
    "mix_targets",
    "mixup",
    "regmixup_loss",
    "sample_beta",
    "sample_cmixup",
    "sample_cutmix",
    "sample_kernel_warping",
    "sample_mit",
    "sample_mixup",
    "sample_regmixup",
    "warp_lam",
]
