"""The ``lightning-mixup`` command: a LightningCLI over the project's models and data modules.

    lightning-mixup fit --config lightning_mixup/configs/digits_mixup.yaml
    python -m lightning_mixup test --config lightning_mixup/configs/digits_mixup.yaml --ckpt_path last

Subclass mode: ``model`` and ``data`` take any LightningModule / LightningDataModule by ``class_path`` (the
project's :class:`~lightning_mixup.models.Classifier`, :class:`~lightning_mixup.data.SklearnDataModule`, the GAN
module, or your own), and :class:`~lightning_mixup.MixupCallback` goes under ``trainer.callbacks``.
"""

from __future__ import annotations

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI


class MixupCLI(LightningCLI):
    """LightningCLI in subclass mode; configs are saved next to the logs, overwriting a previous run's."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_kwargs={"overwrite": True},
            args=args,
            run=run,
            auto_configure_optimizers=False,
        )


def main(args: list[str] | None = None) -> MixupCLI:
    """Entry point of ``lightning-mixup`` and ``python -m lightning_mixup``."""
    return MixupCLI(args=args)
