"""The ``lightning-mixup`` command: a LightningCLI over the project's models and data modules.

    lightning-mixup fit --config digits_mixup
    python -m lightning_mixup test --config digits_mixup --ckpt_path last

``--config`` takes a path, as in any LightningCLI, or the name of a config that ships inside the package (with or
without ``.yaml``; :func:`packaged_configs` lists them), so the command works from any directory after
``pip install``. A file that exists wins over a packaged name.

Subclass mode: ``model`` and ``data`` take any LightningModule / LightningDataModule by ``class_path`` (the
project's :class:`~lightning_mixup.models.Classifier`, :class:`~lightning_mixup.data.SklearnDataModule`, the GAN
module, or your own), and :class:`~lightning_mixup.MixupCallback` goes under ``trainer.callbacks``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from typing_extensions import override

CONFIG_DIR = Path(__file__).parent / "configs"
_CONFIG_SUFFIXES = (".yaml", ".yml")
_CONFIG_FLAGS = ("-c", "--config")


def packaged_configs() -> dict[str, Path]:
    """The configs that ship inside the package, by name (the file name without ``.yaml``).

    Returns:
        A dict from name to the config file's path, sorted by name.

    Example:
        >>> configs = packaged_configs()
        >>> "digits_mixup" in configs and configs["digits_mixup"].name
        'digits_mixup.yaml'
    """
    return {path.stem: path for path in sorted(CONFIG_DIR.glob("*.yaml"))}


def _looks_like_a_name(value: str) -> bool:
    """A bare word such as ``digits_mixup`` or ``digits_mixup.yaml``, not a path or an inline YAML/JSON string."""
    return bool(value) and not any(char in value for char in "/\\:{}[],= \n\t") and not value.startswith(".")


def resolve_config(value: str) -> str:
    """What ``--config value`` reads: an existing file as it is, else the packaged config of that name.

    Args:
        value: the argument given to ``--config``: a path, a packaged config's name (``digits_mixup`` or
            ``digits_mixup.yaml``), or an inline YAML/JSON string (left to LightningCLI).

    Returns:
        ``value`` itself if it is an existing path or not a bare name, else the path of the packaged config.

    Raises:
        ValueError: if ``value`` is a bare name that is neither a file nor a packaged config; the message lists the
            packaged names.

    Example:
        >>> Path(resolve_config("digits_mixup")).name
        'digits_mixup.yaml'
        >>> resolve_config("{trainer: {max_epochs: 1}}")
        '{trainer: {max_epochs: 1}}'
    """
    if Path(value).exists() or not _looks_like_a_name(value):
        return value
    configs = packaged_configs()
    name = value
    for suffix in _CONFIG_SUFFIXES:
        name = name.removesuffix(suffix)
    if name in configs:
        return str(configs[name])
    raise ValueError(
        f"Expected argument `--config` to be a config file or the name of a packaged config "
        f"({', '.join(configs)}), but got {value!r}, which is neither."
    )


def resolve_config_args(args: Sequence[str]) -> list[str]:
    """Command-line arguments with every ``--config NAME`` / ``-c NAME`` / ``--config=NAME`` resolved.

    Args:
        args: the arguments after the program name.

    Returns:
        A new list; only the values of ``--config`` change (see :func:`resolve_config`).

    Raises:
        ValueError: as :func:`resolve_config`.

    Example:
        >>> resolved = resolve_config_args(["fit", "--config", "iris_mixup", "--trainer.max_epochs=1"])
        >>> resolved[0], Path(resolved[2]).name, resolved[3]
        ('fit', 'iris_mixup.yaml', '--trainer.max_epochs=1')
    """
    resolved = list(args)
    for i, arg in enumerate(resolved):
        if arg in _CONFIG_FLAGS and i + 1 < len(resolved):
            resolved[i + 1] = resolve_config(resolved[i + 1])
        elif arg.startswith("--config="):
            resolved[i] = "--config=" + resolve_config(arg.removeprefix("--config="))
    return resolved


def _config_help() -> str:
    return (
        "Path to a configuration file in json or yaml format, or the name of a config that ships with "
        f"lightning-mixup: {', '.join(packaged_configs())}. A file that exists wins over a name."
    )


class MixupCLI(LightningCLI):
    """LightningCLI in subclass mode; configs are saved next to the logs, overwriting a previous run's.

    ``--config`` also takes the name of a packaged config (:func:`resolve_config`).
    """

    def __init__(self, args: ArgsType = None, run: bool = True) -> None:
        description = (
            "mixup for PyTorch Lightning. `--config` takes a YAML file or the name of a config that ships with "
            f"lightning-mixup: {', '.join(packaged_configs())}."
        )
        super().__init__(
            LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
            save_config_kwargs={"overwrite": True}, parser_kwargs={"description": description}, args=args, run=run,
            auto_configure_optimizers=False,
        )  # fmt: skip

    @override
    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        parser = super().init_parser(**kwargs)
        for action in parser._actions:
            if "--config" in action.option_strings:
                action.help = _config_help()
        return parser

    @override
    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        if args is not None and not isinstance(args, (list, tuple)):
            super().parse_arguments(parser, args)  # a dict or Namespace: no command line to resolve
            return
        try:
            resolved = resolve_config_args(sys.argv[1:] if args is None else args)
        except ValueError as err:
            parser.error(str(err))  # exits with the usage, as for any other bad argument
        if args is None:
            self.config = parser.parse_args(resolved)
        else:
            super().parse_arguments(parser, resolved)


def main(args: ArgsType = None) -> MixupCLI:
    """Run the CLI from Python, as ``lightning-mixup`` would with these arguments.

    Args:
        args: the command line without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The CLI object, after its subcommand ran (``cli.trainer``, ``cli.model``, ``cli.datamodule``).
    """
    return MixupCLI(args=args)


def entry_point() -> None:
    """The ``lightning-mixup`` command and ``python -m lightning_mixup``; returns nothing, so the exit status is 0."""
    main()


__all__ = ["CONFIG_DIR", "MixupCLI", "entry_point", "main", "packaged_configs", "resolve_config", "resolve_config_args"]
