from __future__ import annotations

from typing import Any

import lightning.pytorch as L
import pytest

from tests.realistic.recording import TRAINER_OPTIONS


@pytest.fixture
def fit(tmp_path):
    """Train a module for a few steps on CPU with a real Trainer (``trainer_cls`` picks the namespace)."""

    def run(model: Any, train: Any, *, callbacks: list[Any], val: Any = None, trainer_cls: Any = L.Trainer, **kwargs):
        trainer = trainer_cls(default_root_dir=tmp_path, callbacks=callbacks, **{**TRAINER_OPTIONS, **kwargs})
        trainer.fit(model, train, val)
        return trainer

    return run
