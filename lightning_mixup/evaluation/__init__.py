"""Robustness and calibration evaluation of any classifier: FGSM/PGD accuracy per ε, ECE, NLL, sanity checks.

Takes a model and data, returns a :class:`RobustnessResult`; never imports the training code of this package.

References:
    - Zhang et al., "mixup", ICLR 2018, https://arxiv.org/abs/1710.09412
    - Verma et al., "Manifold Mixup", ICML 2019, https://arxiv.org/abs/1806.05236
    - Thulasidasan et al., "On Mixup Training", NeurIPS 2019, https://arxiv.org/abs/1905.11001
"""

from lightning_mixup.evaluation.attacks import ATTACKS, AttackModel, AttackSuite, fgsm_eps_sweep
from lightning_mixup.evaluation.calibration import ReliabilityDiagram
from lightning_mixup.evaluation.callback import RobustnessCallback
from lightning_mixup.evaluation.results import ReliabilityBins, RobustnessResult, SanityCheck, format_eps
from lightning_mixup.evaluation.robustness import (
    DEFAULT_L2_EPS,
    DEFAULT_LINF_EPS,
    RobustnessEvaluator,
    evaluate_robustness,
    load_checkpoint,
)
from lightning_mixup.evaluation.sanity import RobustnessSanityWarning, run_sanity_checks

__all__ = [
    "ATTACKS",
    "DEFAULT_L2_EPS",
    "DEFAULT_LINF_EPS",
    "AttackModel",
    "AttackSuite",
    "ReliabilityBins",
    "ReliabilityDiagram",
    "RobustnessCallback",
    "RobustnessEvaluator",
    "RobustnessResult",
    "RobustnessSanityWarning",
    "SanityCheck",
    "evaluate_robustness",
    "fgsm_eps_sweep",
    "format_eps",
    "load_checkpoint",
    "run_sanity_checks",
]
