"""The full study (``make study``): every table, setting, α, seed and attack; writes ``experiments/results/``.

Classification (:mod:`experiments.classification.study`, configuration ``FULL``): 43 KEEL tables and scikit-learn's
four, 10 folds, ERM and α ∈ {0.1, 0.2, 0.4, 1.0}, the paper's setting and a converged one; MNIST-1D (anchor check,
CNN and MLP, 3 seeds, the repository's 6,000-step recipe) and digits, with calibration and robustness; issue #25's
RegMixup, kernel warping and MIT as one arm each everywhere, AURC, OOD detection and mixup inference under EOT-PGD.
Regression (:mod:`experiments.regression.study`): ERM, mixup and C-Mixup on 13 offline tables, 10 folds. GAN
stability: ``experiments.gan.suite.run(out, demo=False)``. Same outputs as ``make demo``, at full scale, and the
"Which method for which goal" table (``experiments.report.which_method_markdown``) in ``REPORT.md`` and
``summary.json``.

    python -m experiments.study                 # everything (the lead's final run; see docs/classification_study.md)
    python -m experiments.study --no-gan        # classification and regression only
"""

from __future__ import annotations

import sys

from experiments import run_all


def main(argv: list[str] | None = None) -> None:
    run_all.main(argv, full=True, description=__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
