"""Pure-torch mixing operations: no Lightning import, every random draw from an explicit generator.

Each method is a pair: ``sample_*`` draws the random parameters (:class:`MixParams`), :func:`apply_mix` and
:func:`mix_targets` use them deterministically. :func:`mixup` and :func:`cutmix` do both in one call.
"""

from lightning_mixup.functional.apply import apply_mix, interpolate_loss, mix_targets
from lightning_mixup.functional.labels import MixedLabels, MixedLabelsError
from lightning_mixup.functional.ops import cutmix, mixup
from lightning_mixup.functional.sampling import (
    MIX_MODES,
    MixMode,
    MixParams,
    identity_params,
    sample_beta,
    sample_cutmix,
    sample_mixup,
)

__all__ = [
    "MIX_MODES",
    "MixMode",
    "MixParams",
    "MixedLabels",
    "MixedLabelsError",
    "apply_mix",
    "cutmix",
    "identity_params",
    "interpolate_loss",
    "mix_targets",
    "mixup",
    "sample_beta",
    "sample_cutmix",
    "sample_mixup",
]
