"""Every Lightning contact point that is not public API, in one place (``tests/test_compat.py`` pins them).

- Both distributions: ``lightning`` (``lightning.pytorch``) and the standalone ``pytorch_lightning``. The
  package's callbacks (``MixupCallback``, ``RobustnessCallback``, ``GANStabilityCallback``) derive from
  :data:`Callback`, the ``Callback`` of each one installed, so a Trainer of either accepts them, and the mixin
  recognises a LightningModule of either.
- ``Strategy.batch_to_device(batch, device=None, dataloader_idx=0)`` is wrapped so a training batch is mixed
  right after it reaches the device (after the module's ``on_after_batch_transfer``).
- ``trainer.fit_loop.epoch_loop.batch_progress.total.ready``: training batches fetched in this fit, restored
  from checkpoints; at ``batch_to_device`` time it counts the batches before the current one.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from lightning_utilities.core.imports import module_available

_NAMESPACES = tuple(name for name in ("lightning.pytorch", "pytorch_lightning") if module_available(name))
if not _NAMESPACES:
    raise ModuleNotFoundError(
        "lightning_mixup needs PyTorch Lightning: `pip install lightning` (or the standalone `pytorch-lightning`)."
    )


def _callback_base() -> Any:
    """A ``Callback`` base that is an instance of every installed distribution's ``Callback``.

    A Trainer checks callbacks with ``isinstance(callback, <its own> Callback)`` (Lightning < 2.6's
    ``is_overridden`` raises "Expected a parent" otherwise), so with both ``lightning`` and ``pytorch_lightning``
    installed the callback derives from both; their hook methods are the same no-ops.
    """
    bases = tuple(importlib.import_module(name).Callback for name in _NAMESPACES)
    if len(bases) == 1:
        return bases[0]
    return type("Callback", bases, {"__module__": __name__, "__doc__": _callback_base.__doc__})


Callback: Any = _callback_base()

__all__ = [
    "Callback",
    "batches_before_current",
    "batches_fetched",
    "is_lightning_module",
    "is_training_batch",
    "lightning_module_types",
    "patch_batch_to_device",
]


def lightning_module_types() -> tuple[type, ...]:
    """``LightningModule`` of every installed distribution (only those already imported, plus the first)."""
    names = [_NAMESPACES[0], *(name for name in _NAMESPACES[1:] if name in sys.modules)]
    return tuple(importlib.import_module(name).LightningModule for name in names)


def is_lightning_module(obj: Any) -> bool:
    """Whether ``obj`` is a LightningModule of ``lightning.pytorch`` or ``pytorch_lightning``."""
    return isinstance(obj, lightning_module_types())


def batches_fetched(trainer: Any) -> int:
    """Training batches fetched so far in this fit (restored with the loops from a checkpoint)."""
    return int(trainer.fit_loop.epoch_loop.batch_progress.total.ready)


def batches_before_current(trainer: Any) -> int:
    """Inside a training step (and its batch hooks): the number of training batches fetched before this one."""
    return batches_fetched(trainer) - 1


def is_training_batch(trainer: Any) -> bool:
    """Whether the trainer is fitting on a training batch (not a sanity check, validation, test or predict)."""
    return bool(trainer.training) and not bool(trainer.sanity_checking)


def takes_dataloader_iter(module: Any) -> bool:
    """Whether ``training_step`` takes ``dataloader_iter`` (it then fetches its batches itself)."""
    signature_utils = importlib.import_module(f"{_NAMESPACES[0]}.utilities.signature_utils")
    step = getattr(module, "training_step", None)
    return step is not None and bool(signature_utils.is_param_in_hook_signature(step, "dataloader_iter", explicit=True))


class BatchToDevicePatch:
    """``strategy.batch_to_device`` wrapped by ``transform(batch)`` for training batches; removable in any order.

    The wrapper is installed on the strategy instance. :meth:`remove` restores the previous attribute when the
    wrapper is still the outermost one; when another patch was installed on top since, the wrapper stays in the
    chain but turns into a plain pass-through, so no mixing survives the fit in either order of teardown.
    Picklable state only (no closures), so a trainer holding it can be pickled.
    """

    def __init__(self, strategy: Any, transform: Callable[[Any], Any]) -> None:
        self.strategy = strategy
        self.transform: Callable[[Any], Any] | None = transform
        self._had_instance_attr = "batch_to_device" in vars(strategy)
        self._previous = vars(strategy).get("batch_to_device")
        self._original = strategy.batch_to_device
        strategy.batch_to_device = self

    def __call__(self, batch: Any, device: Any = None, dataloader_idx: int = 0) -> Any:
        batch = self._original(batch, device, dataloader_idx)
        transform = self.transform
        if transform is not None:
            batch = transform(batch)
        return batch

    @property
    def active(self) -> bool:
        """Whether the wrapper still transforms batches."""
        return self.transform is not None

    def remove(self) -> None:
        """Stop transforming and take the wrapper out when it is still the outermost."""
        self.transform = None
        if vars(self.strategy).get("batch_to_device") is self:
            if self._had_instance_attr:
                self.strategy.batch_to_device = self._previous
            else:
                del self.strategy.batch_to_device

    def __getstate__(self) -> dict[str, Any]:
        return {"transform": None, "_had_instance_attr": False, "_previous": None, "_original": None, "strategy": None}


def patch_batch_to_device(strategy: Any, transform: Callable[[Any], Any]) -> BatchToDevicePatch:
    """Wrap ``strategy.batch_to_device`` so every batch it returns goes through ``transform``."""
    return BatchToDevicePatch(strategy, transform)
