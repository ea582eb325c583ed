"""The research room: studies, report writers, figures and fast study engines.

Everything here imports :mod:`lightning_mixup` one way; the plugin never imports this package (a test checks it).
Run the scripts from the repository root as modules, e.g. ``python -m experiments.run_all``.
"""
