from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import pytest


@pytest.fixture
def make_trainer(tmp_path):
    """A CPU Trainer for tests: no logger, progress bar, checkpoints or summary unless asked."""

    def make(**kwargs: Any) -> pl.Trainer:
        options: dict[str, Any] = {
            "accelerator": "cpu",
            "devices": 1,
            "default_root_dir": tmp_path,
            "logger": False,
            "enable_progress_bar": False,
            "enable_checkpointing": False,
            "enable_model_summary": False,
            "max_epochs": 1,
        }
        options.update(kwargs)
        return pl.Trainer(**options)

    return make
