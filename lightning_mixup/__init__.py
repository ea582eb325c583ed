"""lightning-mixup: mixup, CutMix, Manifold Mixup and the mixup family (``method=``) for PyTorch Lightning.

The Lightning-facing names are imported lazily, so ``lightning_mixup.functional`` (pure torch) imports without
Lightning.

References:
    - mixup: Zhang, Cissé, Dauphin, Lopez-Paz, ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning_mixup.callback import MixupCallback as MixupCallback
    from lightning_mixup.engine import MixupEngine as MixupEngine
    from lightning_mixup.functional import MixedLabels as MixedLabels
    from lightning_mixup.functional import MixedLabelsError as MixedLabelsError
    from lightning_mixup.metrics import MixupAccuracy as MixupAccuracy
    from lightning_mixup.mixin import MixupMixin as MixupMixin
    from lightning_mixup.policy import METHODS as METHODS
    from lightning_mixup.policy import MixupPolicy as MixupPolicy

_EXPORTS = {
    "METHODS": "lightning_mixup.policy",
    "MixupCallback": "lightning_mixup.callback",
    "MixupEngine": "lightning_mixup.engine",
    "MixedLabels": "lightning_mixup.functional",
    "MixedLabelsError": "lightning_mixup.functional",
    "MixupAccuracy": "lightning_mixup.metrics",
    "MixupMixin": "lightning_mixup.mixin",
    "MixupPolicy": "lightning_mixup.policy",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lightning_mixup' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
