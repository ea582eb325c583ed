"""``MixupMixin``: the explicit mixup API for LightningModules with custom training steps.

A thin adapter over the :class:`~lightning_mixup.engine.MixupEngine` of the trainer's ``MixupCallback`` (found
by its ``engine`` attribute: the mixin never imports the callback). Works with ``lightning.pytorch`` and
``pytorch_lightning`` modules alike.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - Manifold Mixup: Verma et al., ICML 2019, https://arxiv.org/abs/1806.05236
    - Kernel-warping mixup: Bouniot et al., ICLR 2025, https://arxiv.org/abs/2311.01434
    - MIT: Wang et al., "On the Pitfall of Mixup for Uncertainty Calibration", CVPR 2023; official code
      https://github.com/dengbaowang/Mixup-Inference-in-Training
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from lightning_mixup import _compat
from lightning_mixup.engine import INPUT_LAYER, MixupEngine, unmixed_discriminator_batch
from lightning_mixup.functional import MixedLabels
from lightning_mixup.functional.mit import apply_mit
from lightning_mixup.functional.mit import mit_loss as _mit_loss

__all__ = ["MixupMixin"]


class MixupMixin:
    """Mixin for a LightningModule that mixes in its own ``training_step``.

    The configuration, random stream, schedule, checkpointed state and logging are those of the
    :class:`~lightning_mixup.MixupCallback` in ``Trainer(callbacks=[...])``, so one CLI config drives both the
    callback and the mixin. With the mixin the callback does not mix batches by itself.

    Without a ``MixupCallback`` (an ERM baseline of the same module), and outside training (sanity check,
    validation, test, predict), every method returns its inputs unmixed, so a step shared between stages and
    between ERM and mixup runs may call them unconditionally.

    Example::

        class Model(MixupMixin, LightningModule):
            def training_step(self, batch, batch_idx):
                x, y = batch
                x, y = self.mix_batch(x, y)                      # mixed inputs, MixedLabels
                return self.mixup_loss(F.cross_entropy, self(x), y)

            def manifold_step(self, batch):
                x, y = batch
                with self.manifold_mixup(x, y, layers=["features.2", "features.5"]) as (x, y):
                    logits = self(x)                             # one of the layers' outputs is mixed
                return F.cross_entropy(logits, y)
    """

    _mixes_explicitly = True  # read by MixupCallback: this module mixes in its own step

    @property
    def mixup_engine(self) -> MixupEngine | None:
        """The mixing engine of the trainer's ``MixupCallback``, or ``None`` (no mixing)."""
        trainer = getattr(self, "_trainer", None)
        for callback in getattr(trainer, "callbacks", None) or []:
            engine = getattr(callback, "engine", None)
            if isinstance(engine, MixupEngine):
                return engine
        return None

    @property
    def mixup_callback(self) -> Any:
        """The trainer's ``MixupCallback``, or ``None``."""
        trainer = getattr(self, "_trainer", None)
        for callback in getattr(trainer, "callbacks", None) or []:
            if isinstance(getattr(callback, "engine", None), MixupEngine):
                return callback
        return None

    def _active_engine(self) -> MixupEngine | None:
        """The engine to mix with now: only in training steps, never in sanity checks or evaluation."""
        self._module()
        trainer = getattr(self, "_trainer", None)
        if trainer is None or not _compat.is_training_batch(trainer):
            return None
        return self.mixup_engine

    def _module(self) -> Any:
        if not _compat.is_lightning_module(self):
            raise TypeError(
                f"MixupMixin must be mixed into a LightningModule (of lightning.pytorch or pytorch_lightning), but "
                f"{type(self).__name__} is not one."
            )
        return self

    def _epoch(self) -> int:
        return int(self._module().current_epoch)

    def mix_batch(
        self, x: Tensor, y: Tensor, *, layers: Sequence[str] | None = None, features: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Mix a batch with the callback's policy: ``(mixed inputs, targets)``.

        Targets are :class:`~lightning_mixup.MixedLabels` for integer labels (``target_mode="auto"``) or float
        soft targets. Integer inputs (ids) are returned as they are and the model's ``nn.Embedding`` output is mixed
        in the next forward pass. With ``layers`` (or the callback's ``manifold_layers``) one layer is chosen and its
        output is mixed in the next forward pass instead of the input; prefer :meth:`manifold_mixup`, which checks
        that it was.

        With the callback's ``method`` (``docs/methods.md``): RegMixup returns ``2B`` rows ``cat([x, x̃])``;
        kernel warping measures the pair distances on ``features`` (``kernel_distance="embeddings"``: pass the
        batch's embeddings, computed under ``torch.no_grad()``, as the authors do) or on ``x``; C-Mixup mixes float
        targets. MIT goes through :meth:`mit_loss`.

        Args:
            x: inputs ``(B, ...)``; not modified.
            y: targets ``(B, ...)``; not modified.
            layers: Manifold Mixup candidate layers (module names, or ``"input"``) for this call.
            features: ``(B, ...)`` embeddings for kernel warping's distances (``method="kernel_warping"`` only).
        """
        engine = self._active_engine()
        if engine is None:
            return x, y
        return engine.mix(self._module(), x, y, layers=layers, epoch=self._epoch(), features=features)

    def mit_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Mixup Inference in Training (MIT-L): the paper's loss of the batch, forward passes through ``self``.

        With the callback's ``method="mixup_inference_training"``: draws ``λ₁ ≥ 0.5 ≥ λ₂`` and one partner
        permutation, runs ``self`` once on the ``2B`` mixtures ``cat([λ₁x + (1-λ₁)x[j], λ₂x + (1-λ₂)x[j]])``,
        recovers each raw sample's logits ``f_a``, ``f_b`` by the 2×2 solve and returns
        ``½·CE(f_a, y) + ½·CE(f_b, y[j])`` (:func:`~lightning_mixup.functional.mit.mit_loss`). Without a callback,
        outside training or when the schedule is off: ``F.cross_entropy(self(x), y)``.

        Args:
            x: inputs ``(B, ...)``, floating point.
            y: integer class labels ``(B,)``.

        Raises:
            ValueError: if the callback's method is not ``"mixup_inference_training"``, or the labels are not
                integer ``(B,)``.
        """
        engine = self._active_engine()
        module = self._module()
        params = None if engine is None else engine.mit_params(x, y, epoch=self._epoch())
        if params is None:
            return F.cross_entropy(module(x), y)
        return _mit_loss(module(apply_mit(x, params)), y, params)

    @contextmanager
    def manifold_mixup(
        self, x: Tensor, y: Tensor, layers: Sequence[str] | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Manifold Mixup for the forward pass inside the ``with`` block.

        One of ``layers`` (module names as in ``named_modules()``, or ``"input"``; default: the callback's
        ``manifold_layers``) is drawn uniformly and its output is mixed by a forward hook; the mixing is disarmed
        when the block ends. Yields ``(inputs, targets)``.

        Raises:
            ValueError: if no layers are given here or on the callback, or a name is not a submodule.
            RuntimeError: if the chosen layer was not called inside the block.
        """
        engine = self._active_engine()
        if engine is None:
            yield x, y
            return
        names = list(layers) if layers is not None else engine.manifold_layers
        if not names:
            raise ValueError(
                "Expected Manifold Mixup layers: pass `layers=[...]` or MixupCallback(manifold_layers=[...]), but got "
                "none."
            )
        mixed = engine.mix(self._module(), x, y, layers=names, epoch=self._epoch())
        try:
            yield mixed
            missing = [name for name in engine.pending() if name != INPUT_LAYER]
            if missing:
                raise RuntimeError(
                    f"Manifold Mixup chose layer {missing[0]!r}, but it was not called inside the `with` block."
                )
        finally:
            engine.disarm_layers()

    def mix_discriminator(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """GAN discriminator mixup: ``(inputs, soft labels)`` for ``F.binary_cross_entropy_with_logits``.

        The form (``"paper"`` or the authors' ``"shuffle"``) and α come from the callback. Outside training, or
        when the schedule is off, the plain batch ``cat([real, fake])`` with labels ``cat([1, 0])``. Detach
        ``fake`` for the discriminator step; keep the generator step unmixed.

        Args:
            real: real samples ``(B, ...)``.
            fake: generated samples ``(B, ...)``.
        """
        engine = self._active_engine()
        if engine is None:
            return unmixed_discriminator_batch(real, fake)
        return engine.mix_discriminator(real, fake, epoch=self._epoch())

    def mixup_loss(
        self, loss_fn: Callable[..., Tensor], output: Tensor, target: Tensor, reduction: str = "mean", **kwargs: Any
    ) -> Tensor:
        """The loss of a mixed batch, interpolated per sample before the reduction.

        For :class:`~lightning_mixup.MixedLabels` this is ``λ·loss(output, y_a) + (1-λ)·loss(output, y_b)``, for
        any ``loss_fn(output, target, reduction="none", **kwargs)``; other targets (soft, unmixed) go to the loss
        as they are.

        Example:
            >>> import torch, torch.nn.functional as F
            >>> labels = MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([0.5, 1.0]))
            >>> loss = MixupMixin().mixup_loss(F.cross_entropy, torch.zeros(2, 2), labels)
            >>> round(float(loss), 4)
            0.6931
        """
        if isinstance(target, MixedLabels):
            return target.mix_loss(loss_fn, output, reduction=reduction, **kwargs)
        return loss_fn(output, target, reduction=reduction, **kwargs)
