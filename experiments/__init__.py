"""The research room: studies, report writers, figures and fast study engines.

The studies' own datasets (:mod:`experiments.data`: KEEL tables, MNIST-1D), networks (:mod:`experiments.models`),
stacked digits (:mod:`experiments.gan.digits`) and LightningCLI configs (``experiments/configs/``) live here too.

Everything here imports :mod:`lightning_mixup` one way; the plugin never imports this package (a test checks it).
Run the scripts from the repository root as modules, e.g. ``python -m experiments.run_all``.
"""
