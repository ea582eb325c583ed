"""``python -m lightning_mixup``: the LightningCLI entry point."""

from lightning_mixup.cli import main

if __name__ == "__main__":
    main()
