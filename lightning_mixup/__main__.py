"""``python -m lightning_mixup``: the LightningCLI entry point."""

from lightning_mixup.cli import entry_point

if __name__ == "__main__":
    entry_point()
