"""Evaluation of any model: attacks per ε, ECE, NLL, AURC, OOD detection, mixup inference, regression RMSE/NLL.

Takes a model and data, returns a :class:`RobustnessResult`; never imports the training code of this package.
Importing it never needs torchattacks (``pip install 'lightning-mixup[robustness]'``): only running an attack does.
Checkpoints are loaded weights-only by :func:`load_checkpoint`.

References:
    - Zhang et al., "mixup", ICLR 2018, https://arxiv.org/abs/1710.09412
    - Verma et al., "Manifold Mixup", ICML 2019, https://arxiv.org/abs/1806.05236
    - Thulasidasan et al., "On Mixup Training", NeurIPS 2019, https://arxiv.org/abs/1905.11001
    - Croce & Hein, "AutoAttack", ICML 2020, https://arxiv.org/abs/2003.01690
"""

from lightning_mixup.evaluation.attacks import (
    ATTACKS,
    AUTOATTACK_VERSIONS,
    ROBUSTNESS_INSTALL,
    AttackModel,
    AttackSuite,
    build_autoattack,
    fgsm_eps_sweep,
    require_torchattacks,
)
from lightning_mixup.evaluation.calibration import ReliabilityDiagram
from lightning_mixup.evaluation.callback import RobustnessCallback
from lightning_mixup.evaluation.checkpoints import load_checkpoint
from lightning_mixup.evaluation.mixup_inference import MixupInference, mixup_inference
from lightning_mixup.evaluation.regression import RegressionEvaluator, evaluate_regression
from lightning_mixup.evaluation.results import (
    MixupInferenceResult,
    RegressionResult,
    ReliabilityBins,
    RobustnessResult,
    SanityCheck,
    format_eps,
)
from lightning_mixup.evaluation.robustness import (
    DEFAULT_L2_EPS,
    DEFAULT_LINF_EPS,
    RobustnessEvaluator,
    evaluate_robustness,
    to_unit_inputs,
)
from lightning_mixup.evaluation.sanity import RobustnessSanityWarning, run_sanity_checks
from lightning_mixup.evaluation.uncertainty import (
    AURC,
    GaussianNLL,
    OODDetection,
    OODResult,
    aurc,
    ood_detection,
    ood_scores,
    regression_metrics,
    risk_coverage_curve,
)

__all__ = [
    "ATTACKS",
    "AURC",
    "AUTOATTACK_VERSIONS",
    "DEFAULT_L2_EPS",
    "DEFAULT_LINF_EPS",
    "ROBUSTNESS_INSTALL",
    "AttackModel",
    "AttackSuite",
    "GaussianNLL",
    "MixupInference",
    "MixupInferenceResult",
    "OODDetection",
    "OODResult",
    "RegressionEvaluator",
    "RegressionResult",
    "ReliabilityBins",
    "ReliabilityDiagram",
    "RobustnessCallback",
    "RobustnessEvaluator",
    "RobustnessResult",
    "RobustnessSanityWarning",
    "SanityCheck",
    "aurc",
    "build_autoattack",
    "evaluate_regression",
    "evaluate_robustness",
    "fgsm_eps_sweep",
    "format_eps",
    "load_checkpoint",
    "mixup_inference",
    "ood_detection",
    "ood_scores",
    "regression_metrics",
    "require_torchattacks",
    "risk_coverage_curve",
    "run_sanity_checks",
    "to_unit_inputs",
]
