"""lightning-mixup: mixup, CutMix and Manifold Mixup for PyTorch Lightning.

References:
    - mixup: Zhang, Cissé, Dauphin, Lopez-Paz, ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from lightning_mixup.callback import MixupCallback
from lightning_mixup.functional import MixedLabels
from lightning_mixup.metrics import MixupAccuracy
from lightning_mixup.mixin import MixupMixin
from lightning_mixup.policy import MixupPolicy

__all__ = ["MixedLabels", "MixupAccuracy", "MixupCallback", "MixupMixin", "MixupPolicy"]
__version__ = "0.1.0"
