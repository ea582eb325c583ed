"""Studies that train models with this package's training code and evaluate them with :mod:`..evaluation`.

Unlike :mod:`lightning_mixup.evaluation`, which never imports training code, a study trains: ERM vs mixup.

References:
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from experiments.studies.robustness import run_robustness_study

__all__ = ["run_robustness_study"]
