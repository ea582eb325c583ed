"""The Lightning-free mixing engine shared by :class:`~lightning_mixup.MixupCallback` and the mixin.

:class:`MixupEngine` owns everything mixing needs between steps: the policy (:class:`MixupPolicy`), the random
stream and its reseeding, the schedule (``warmup_epochs``, ``stop_epoch``), the statistics, the label wrapping
(:class:`~lightning_mixup.MixedLabels` and its tracking), the forward hooks of Manifold Mixup and embedding mixup,
and the checks at the end of a step. The callback and the mixin are thin adapters that find the engine and call it.

Random stream: every training batch's draws come from a ``torch.Generator`` seeded with :func:`batch_seed`
``(seed, rank, batch_number)``, where ``batch_number`` counts the training batches fetched before this one in the
fit (0 for the first). Within a batch the draws are made in call order: for an automatically mixed batch
``[layer choice, if several Manifold layers]`` then exactly ``MixupPolicy.sample(x, g)``; for a discriminator batch
``[torch.rand(()) if prob < 1]`` then :func:`~lightning_mixup.functional.discriminator.sample_discriminator_mix`.
With ``method`` other than ``"mixup"`` a batch's draws are exactly its functional sampler's (``MixupPolicy.sample``
with the targets and features, or ``MixupPolicy.sample_mit`` for MIT), see ``docs/methods.md``.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - Manifold Mixup: Verma et al., ICML 2019, https://arxiv.org/abs/1806.05236
    - Embedding mixup for token inputs: Guo, Mao, Zhang, "Augmenting Data with Mixup for Sentence
      Classification: An Empirical Study", 2019, https://arxiv.org/abs/1905.08941
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from lightning_mixup import _batch
from lightning_mixup._checks import check_choice, check_int, check_key, check_tensor, describe
from lightning_mixup._device import to_device
from lightning_mixup.functional import MixParams, apply_mix
from lightning_mixup.functional.apply import blend_pair
from lightning_mixup.functional.discriminator import (
    DISCRIMINATOR_MODES,
    DiscriminatorMode,
    apply_discriminator_mix,
    sample_discriminator_mix,
)
from lightning_mixup.functional.labels import LABEL_READS, LabelReads, LabelTracker, MixedLabels, MixedLabelsError
from lightning_mixup.functional.mit import MitParams
from lightning_mixup.policy import MixupPolicy

__all__ = ["INPUT_LAYER", "MixStats", "MixupEngine", "batch_generator", "batch_seed", "unmixed_discriminator_batch"]

INPUT_LAYER = "input"
_PREMIX_CHECKS = 8  # batches of float class-distribution targets checked for a mixing done before the callback
_EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)


def batch_seed(seed: int, rank: int, batch_number: int) -> int:
    """The seed of the generator that draws the mixing parameters of one training batch.

    Example:
        >>> batch_seed(0, 0, 0) == batch_seed(0, 0, 0) != batch_seed(0, 0, 1)
        True
    """
    key = f"{seed}:{rank}:{batch_number}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def warn_unused_step(step: int | None, method: str) -> None:
    """Warn that ``method`` got the deprecated ``step`` argument (mixing is scheduled by epoch)."""
    if step is not None:
        message = f"The `step` argument of {method} is deprecated and unused: mixing is scheduled by epoch."
        warnings.warn(message, DeprecationWarning, stacklevel=3)


def unmixed_discriminator_batch(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """The plain (ERM) discriminator batch: inputs ``cat([real, fake])`` and labels ``cat([1, 0])`` (1 = real).

    The one place that builds it: the engine when it does not mix, the mixin outside training or without a callback.

    Example:
        >>> unmixed_discriminator_batch(torch.ones(2, 1), torch.zeros(1, 1))[1]
        tensor([1., 1., 0.])
    """
    labels = torch.cat([torch.ones(len(real), device=real.device), torch.zeros(len(fake), device=real.device)])
    return torch.cat([real, fake]), labels


def batch_generator(seed: int, rank: int, batch_number: int) -> torch.Generator:
    """A CPU generator seeded with :func:`batch_seed`: the source of one training batch's draws."""
    return torch.Generator().manual_seed(batch_seed(seed, rank, batch_number))


class MixStats:
    """Per-epoch sums for logging λ and the share of mixed samples."""

    def __init__(self) -> None:
        self.samples = 0
        self.mixed = 0
        self.lam_sum = 0.0

    def add(self, params: MixParams | None, batch_size: int) -> None:
        """Count a batch of ``batch_size`` samples mixed with ``params`` (``None``: not mixed)."""
        self.samples += batch_size
        if params is not None:
            # plain Python on B numbers: cheaper than a handful of tiny tensor ops on every training step
            for i, (lam, j) in enumerate(zip(params.lam.tolist(), params.index.tolist(), strict=True)):
                if lam < 1.0 and i != j:
                    self.mixed += 1
                    self.lam_sum += lam

    @property
    def lam_mean(self) -> float:
        """Mean λ of the mixed samples (1 when none was mixed)."""
        return self.lam_sum / self.mixed if self.mixed else 1.0

    @property
    def mixed_share(self) -> float:
        """Share of the counted samples that were mixed."""
        return self.mixed / self.samples if self.samples else 0.0


@dataclass
class _Armed:
    """A mixing of a module's output waiting for its forward pass (Manifold Mixup or embedding mixup)."""

    name: str
    params: MixParams
    match: list[Tensor] | None = None  # embedding mixup: the integer inputs whose lookups are mixed
    fired: bool = False


@dataclass
class _StepState:
    tracker: LabelTracker | None = None
    armed: list[_Armed] = field(default_factory=list)
    checked: bool = False


class MixupEngine:
    """Mixing between steps: policy, random stream, schedule, statistics, label wrapping and hooks.

    Args:
        policy: what to mix and how.
        warmup_epochs: epochs trained without mixing before mixing starts.
        stop_epoch: the epoch from which mixing stops; ``None`` never stops.
        manifold_layers: Manifold Mixup candidate layers (module names and/or ``"input"``), or ``None``.
        discriminator_mode: ``"paper"`` or ``"shuffle"``, the GAN discriminator mixup form.
        label_reads: ``"dominant"`` or ``"strict"``, see :class:`~lightning_mixup.MixedLabels`.
        input_key: where the inputs are in a batch (an index, field or key, or a list of them), ``None`` to detect.
        target_key: where the targets are, ``None`` to detect.

    Example:
        >>> engine = MixupEngine(MixupPolicy(alpha=1.0))
        >>> engine.start(nn.Linear(2, 2), seed=0, rank=0)
        >>> engine.reseed(0)
        >>> x, y = engine.mix(nn.Linear(2, 2), torch.rand(4, 2), torch.tensor([0, 1, 1, 0]), epoch=0)
        >>> type(y).__name__
        'MixedLabels'
        >>> engine.stop()
    """

    _premix_checks = 0  # batches checked by _warn_if_premixed (a class default, so older pickled engines load)

    def __init__(
        self,
        policy: MixupPolicy,
        *,
        warmup_epochs: int = 0,
        stop_epoch: int | None = None,
        manifold_layers: Sequence[str] | None = None,
        discriminator_mode: DiscriminatorMode = "paper",
        label_reads: LabelReads = "dominant",
        input_key: _batch.BatchKey | list[_batch.BatchKey] | None = None,
        target_key: _batch.BatchKey | None = None,
    ) -> None:
        if not isinstance(policy, MixupPolicy):
            raise TypeError(f"Expected argument `policy` to be a MixupPolicy, but got {type(policy).__name__}.")
        check_int(warmup_epochs, "warmup_epochs", minimum=0)
        check_int(stop_epoch, "stop_epoch", minimum=warmup_epochs, optional=True)
        if manifold_layers is not None and (
            isinstance(manifold_layers, str)
            or not isinstance(manifold_layers, Sequence)
            or not manifold_layers
            or not all(isinstance(name, str) for name in manifold_layers)
        ):
            raise ValueError(
                "Expected argument `manifold_layers` to be a non-empty list of module names (and/or 'input'), but got "
                f"{manifold_layers!r}."
            )
        if manifold_layers is not None and policy.method != "mixup":
            raise ValueError(
                f"Expected manifold_layers=None with method={policy.method!r}, but got {list(manifold_layers)!r}: "
                "Manifold Mixup is a form of method='mixup' only."
            )
        check_choice(discriminator_mode, "discriminator_mode", DISCRIMINATOR_MODES)
        if discriminator_mode == "shuffle" and policy.method == "mixup" and policy.alpha > 1:
            raise ValueError(
                "Expected argument `alpha` in [0, 1] with discriminator_mode='shuffle' (λ ~ U(0, α)), but got "
                f"{policy.alpha!r}."
            )
        check_choice(label_reads, "label_reads", LABEL_READS)
        keys = input_key if isinstance(input_key, list) else [input_key]
        if isinstance(input_key, list) and not input_key:
            raise ValueError("Expected argument `input_key` to be a key, a non-empty list of keys or None, but got [].")
        for key in keys:
            check_key(key, "input_key")
        check_key(target_key, "target_key")
        if target_key is not None and target_key in keys:
            raise ValueError(f"Expected `input_key` and `target_key` to differ, but both name {target_key!r}.")
        self.policy = policy
        self.warmup_epochs = warmup_epochs
        self.stop_epoch = stop_epoch
        self.manifold_layers = list(manifold_layers) if manifold_layers is not None else None
        self.discriminator_mode = discriminator_mode
        self.label_reads = label_reads
        self.input_key = input_key
        self.target_key = target_key
        self.seed: int | None = None  # the seed of this fit, set by `start`
        self.rank = 0
        self.stats = MixStats()
        self._generator = torch.Generator()
        self._step = _StepState()
        self._handles: dict[str, Any] = {}
        self._module: nn.Module | None = None
        self._keys: tuple[list[_batch.BatchKey], _batch.BatchKey, list[_batch.BatchKey]] | None = None

    # ------------------------------------------------------------------ lifecycle and randomness

    def start(self, module: nn.Module, *, seed: int, rank: int) -> None:
        """Begin a fit: the seed and rank of the random stream, fresh statistics, hooks on ``module``'s layers."""
        check_int(seed, "seed", minimum=0)
        self.stop()
        self.seed, self.rank = int(seed), int(rank)
        self.stats = MixStats()
        self._module = module
        self._keys = None
        if self.manifold_layers is not None:
            check_layers(module, self.manifold_layers)
            for name in self.manifold_layers:
                if name != INPUT_LAYER:
                    self._hook(name)
        # embedding hooks go in now, before any hook a user adds later, so those see the mixed output
        for name in _embedding_names(module):
            self._hook(name)

    def stop(self) -> None:
        """End a fit: remove every hook and forget the step's state."""
        for handle in self._handles.values():
            handle.remove()
        self._handles.clear()
        self._step = _StepState()
        self._module = None

    def reseed(self, batch_number: int) -> None:
        """Seed the generator for training batch ``batch_number`` (batches fetched before it in this fit)."""
        if self.seed is None:
            raise RuntimeError("The mixing engine has no seed yet: it gets one when the fit starts (`start`).")
        self._generator.manual_seed(batch_seed(self.seed, self.rank, batch_number))

    @property
    def generator(self) -> torch.Generator:
        """The generator of the current batch's draws."""
        return self._generator

    def should_apply(self, epoch: int, step: int | None = None) -> bool:
        """Whether mixing is on at this epoch: ``warmup_epochs <= epoch < stop_epoch`` (``step`` is deprecated)."""
        warn_unused_step(step, "MixupEngine.should_apply")
        if not self.policy.enabled or epoch < self.warmup_epochs:
            return False
        return self.stop_epoch is None or epoch < self.stop_epoch

    # ------------------------------------------------------------------ mixing a batch

    def mix_container(self, module: nn.Module, batch: Any, *, epoch: int) -> Any:
        """A copy of the batch container with its inputs and targets mixed (the one place that builds it).

        The inputs and targets are found once (explicit keys, else conventional names, see
        :func:`lightning_mixup._batch.detect_keys`); ``attention_mask`` of a dict batch is combined for mixed pairs.
        """
        if self._keys is None:
            self._keys = _batch.detect_keys(batch, self.input_key, self.target_key)
        input_keys, target_key, mask_keys = self._keys
        inputs = [_batch.get(batch, key, "input_key") for key in input_keys]
        target = _batch.get(batch, target_key, "target_key")
        masks = [_batch.get(batch, key, "mask") for key in mask_keys]
        inputs, target, masks = self._mix(module, inputs, target, masks, epoch=epoch, layers=None)
        updates = {**dict(zip(input_keys, inputs, strict=True)), **dict(zip(mask_keys, masks, strict=True))}
        return _batch.replace(batch, {**updates, target_key: target})

    def mix_batch(self, module: nn.Module, batch: Any, *, epoch: int, step: int | None = None) -> Any:
        """Deprecated alias of :meth:`mix_container` (not the mixin's ``mix_batch(x, y)``)."""
        message = "MixupEngine.mix_batch(module, batch) is deprecated: use MixupEngine.mix_container(module, batch)."
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        warn_unused_step(step, "MixupEngine.mix_batch")
        return self.mix_container(module, batch, epoch=epoch)

    def mix(
        self,
        module: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        epoch: int,
        step: int | None = None,
        layers: Sequence[str] | None = None,
        features: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Mix one batch: ``(inputs, targets)``, mixed when the schedule says so (the mixin's ``mix_batch``).

        Args:
            module: the model, for Manifold Mixup's and embedding mixup's hooks.
            x: inputs ``(B, ...)``; integer inputs (token or category ids) are mixed at the embedding output.
            y: targets ``(B, ...)``.
            epoch: the current epoch, for the schedule.
            step: deprecated, unused (the schedule is by epoch).
            layers: Manifold Mixup layers overriding ``manifold_layers`` for this call.
            features: ``(B, ...)`` what kernel warping measures pair distances on (``kernel_distance=
                "embeddings"``); only with ``method="kernel_warping"``.
        """
        warn_unused_step(step, "MixupEngine.mix")
        if layers is not None:
            if self.policy.method != "mixup":
                raise ValueError(
                    f"Expected no Manifold Mixup `layers` with method={self.policy.method!r}, but got "
                    f"{list(layers)!r}: Manifold Mixup is a form of method='mixup' only."
                )
            check_layers(module, list(layers))
        if features is not None:
            if self.policy.method != "kernel_warping":
                raise ValueError(
                    f"Expected `features` only with method='kernel_warping', but got them with "
                    f"method={self.policy.method!r}."
                )
            check_tensor(features, "features", min_ndim=1, floating=True)
            if features.shape[0] != x.shape[0]:
                raise ValueError(
                    f"Expected `features` with the batch size of the inputs, {x.shape[0]}, in their first dimension, "
                    f"but got shape {tuple(features.shape)}."
                )
        inputs, targets, _ = self._mix(module, [x], y, [], epoch=epoch, layers=layers, features=features)
        return inputs[0], targets

    def mit_params(self, x: Tensor, y: Tensor, *, epoch: int) -> MitParams | None:
        """MIT's parameters for batch ``(x, y)`` when the schedule mixes it, else ``None``.

        For the mixin's ``mit_loss``; draws exactly :meth:`MixupPolicy.sample_mit`.

        Raises:
            ValueError: if the method is not ``"mixup_inference_training"``, or the labels are not integer ``(B,)``.
        """
        if self.policy.method != "mixup_inference_training":
            raise ValueError(
                f"Expected method='mixup_inference_training' for `mit_loss`, but the MixupCallback has "
                f"method={self.policy.method!r}."
            )
        check_tensor(x, "x", min_ndim=1, floating=True, shape_hint="(B, ...)")
        check_tensor(y, "y", min_ndim=1, floating=False, shape_hint="(B,)")
        batch_size = int(x.shape[0])
        if y.ndim != 1 or y.shape[0] != batch_size:
            raise ValueError(
                f"Expected integer class labels of shape ({batch_size},) for MIT, but got shape {tuple(y.shape)}."
            )
        if batch_size < 2 or not self.should_apply(epoch):
            self.stats.add(None, batch_size)
            return None
        params = self.policy.sample_mit(batch_size, self._generator)
        lam = torch.full((batch_size,), params.lam1)
        self.stats.add(MixParams._trusted(lam, params.index), batch_size)
        return params

    def _mix(
        self,
        module: nn.Module,
        inputs: list[Tensor],
        y: Any,
        masks: list[Tensor],
        *,
        epoch: int,
        layers: Sequence[str] | None,
        features: Tensor | None = None,
    ) -> tuple[list[Tensor], Tensor, list[Tensor]]:
        if self.policy.method == "mixup_inference_training":
            raise ValueError(
                "method='mixup_inference_training' (MIT) trains on the model's outputs for two mixtures of the batch, "
                "recovered before the loss, which one mixed batch and an unchanged step cannot express. Derive the "
                "module from lightning_mixup.MixupMixin and return `self.mit_loss(x, y)` from its training_step."
            )
        for value in inputs:
            if not isinstance(value, Tensor) or value.ndim < 1:
                raise TypeError(
                    f"Expected the batch's inputs to be tensors of shape (B, ...), but got {describe(value)}. Set "
                    "`input_key` to where the input tensors are."
                )
        if not isinstance(y, Tensor) or y.ndim < 1:
            raise TypeError(
                f"Expected the batch's targets to be a tensor of shape (B, ...), but got {describe(y)}. Set "
                "`target_key` to where the target tensor is."
            )
        self._warn_if_premixed(y)
        batch_size = int(inputs[0].shape[0])
        if any(int(value.shape[0]) != batch_size for value in [*inputs, y, *masks]):
            shapes = [tuple(v.shape) for v in [*inputs, y, *masks]]
            raise ValueError(
                f"Expected inputs and targets with the same batch size, but got shapes {shapes}. Check `input_key` "
                "and `target_key`."
            )
        if batch_size < 2 or not self.should_apply(epoch):
            self.stats.add(None, batch_size)
            return inputs, self.policy.unmixed_targets(y), masks
        if self.policy.method != "mixup":
            return self._mix_method(inputs, y, masks, features)
        names = list(layers) if layers is not None else self.manifold_layers
        layer = INPUT_LAYER
        if names is not None:
            layer = names[int(torch.randint(len(names), (), generator=self._generator))] if len(names) > 1 else names[0]
        tokens = [value for value in inputs if _is_ids(value)]
        reference = next((value for value in inputs if not _is_ids(value)), inputs[0])
        spatial = layer == INPUT_LAYER and not tokens
        params = self.policy.sample(reference, self._generator, spatial=spatial)
        self.stats.add(params, batch_size)
        targets = self.policy.targets(y, params, label_reads=self.label_reads)
        if isinstance(targets, MixedLabels):
            self._step.tracker = targets.tracker
        if layer != INPUT_LAYER:
            self._arm(module, _Armed(layer, params))
            return inputs, targets, masks
        if tokens:
            self._arm_embeddings(module, tokens, params)
        mixed = [value if _is_ids(value) else apply_mix(value, params, validate_args=False) for value in inputs]
        return mixed, targets, [_combine_mask(mask, params) for mask in masks]

    def _mix_method(
        self, inputs: list[Tensor], y: Tensor, masks: list[Tensor], features: Tensor | None
    ) -> tuple[list[Tensor], Tensor, list[Tensor]]:
        """RegMixup, kernel warping or C-Mixup: draw with the policy, mix every input tensor and mask alike.

        RegMixup returns ``2B`` rows, ``cat([x, x̃])`` for every input and ``cat([mask, mask̃])`` for every mask.
        """
        method = self.policy.method
        tokens = [value for value in inputs if not value.is_floating_point()]
        if tokens:
            raise ValueError(
                f"Expected floating-point inputs with method={method!r}, but got {tokens[0].dtype} inputs of shape "
                f"{tuple(tokens[0].shape)}: mixing token or category ids at their embeddings is a form of "
                "method='mixup' only."
            )
        params = self.policy.sample(inputs[0], self._generator, y=y, features=features)
        self.stats.add(params, int(inputs[0].shape[0]))
        targets = self.policy.targets(y, params, label_reads=self.label_reads)
        if isinstance(targets, MixedLabels):
            self._step.tracker = targets.tracker
        mixed = [apply_mix(value, params, validate_args=False) for value in inputs]
        mixed_masks = [_combine_mask(mask, params) for mask in masks]
        if method == "regmixup":
            mixed = [torch.cat([value, m]) for value, m in zip(inputs, mixed, strict=True)]
            mixed_masks = [torch.cat([mask, m]) for mask, m in zip(masks, mixed_masks, strict=True)]
        return mixed, targets, mixed_masks

    def _warn_if_premixed(self, y: Tensor) -> None:
        """Warn once if the batch's float targets look mixed already (a mixup in the data pipeline or the model).

        Checked on the first few batches of float ``(B, C)`` targets, ``C >= 3``: rows of non-negative values
        summing to 1 of which some are neither one-hot nor smoothed one-hot (every value but the largest equal).
        ``C = 2`` cannot tell a mixed row from a smoothed one; a mixup inside the step (after this callback) is not
        seen here (see the README, "Mixed twice").
        """
        checks = self._premix_checks
        if checks >= _PREMIX_CHECKS or not y.is_floating_point() or y.ndim != 2 or y.shape[1] < 3 or not y.numel():
            return
        self._premix_checks = checks + 1
        with torch.no_grad():
            rows = y.detach().float()
            ordered = rows.sort(dim=1, descending=True).values
            distribution = bool((rows >= 0).all()) and bool(torch.allclose(rows.sum(1), torch.ones_like(rows[:, 0])))
            blended = bool((ordered[:, 1] - ordered[:, -1] > 1e-6).any())
        if distribution and blended:
            self._premix_checks = _PREMIX_CHECKS
            warnings.warn(
                "The batch's targets are class distributions that are neither one-hot nor smoothed one-hot (some rows "
                "spread over several classes): they look mixed already, e.g. by torchvision's v2.MixUp / v2.CutMix in "
                "the collate function or timm's Mixup in the data pipeline. MixupCallback mixes them again, so the "
                "batch is mixed twice. Remove one of the two mixings; if these are soft targets on purpose "
                "(distillation, label distributions), ignore this warning.",
                UserWarning,
                stacklevel=2,
            )

    # ------------------------------------------------------------------ GAN discriminator

    def mix_discriminator(
        self, real: Tensor, fake: Tensor, *, epoch: int, step: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Discriminator inputs and soft labels (1 = real) for one discriminator step.

        Mixed as ``discriminator_mode`` says when the schedule is on (and, with ``prob`` < 1, for that share of
        discriminator batches); otherwise the plain ERM batch ``cat([real, fake])`` with labels ``cat([1, 0])``.
        The logged mixed share counts discriminator inputs: ``B`` mixed ones in the paper's form, ``2B`` in the
        shuffled form, ``2B`` unmixed ones otherwise.

        Raises:
            ValueError: if only CutMix is configured (``alpha=0``, ``cutmix_alpha > 0``): it has no discriminator form.
        """
        warn_unused_step(step, "MixupEngine.mix_discriminator")
        check_tensor(real, "real", min_ndim=1, floating=True)
        check_tensor(fake, "fake", min_ndim=1, floating=True)
        if self.policy.method != "mixup":
            raise ValueError(
                f"Expected method='mixup' for GAN discriminator mixup, but got method={self.policy.method!r}: the "
                "other methods have no discriminator form."
            )
        if self.policy.alpha == 0 and self.policy.cutmix_alpha > 0:
            raise ValueError(
                "Expected `alpha` > 0 for GAN discriminator mixup, but got alpha=0 with cutmix_alpha="
                f"{self.policy.cutmix_alpha}: CutMix has no discriminator form, so the discriminator would never be "
                "mixed. Set alpha (mixup's α) for discriminator mixup."
            )
        batch_size = int(real.shape[0])
        apply = self.should_apply(epoch) and batch_size > 0
        if apply and self.policy.prob < 1.0:  # `prob` decides per discriminator batch; `mode` does not apply here
            apply = bool(torch.rand((), generator=self._generator) < self.policy.prob)
        if apply:
            params = sample_discriminator_mix(
                batch_size, alpha=self.policy.alpha, mode=self.discriminator_mode, generator=self._generator
            )
            self.stats.add(params, params.batch_size)
            return apply_discriminator_mix(real, fake, params)
        self.stats.add(None, 2 * batch_size)
        return unmixed_discriminator_batch(real, fake)

    # ------------------------------------------------------------------ hooks

    def _hook(self, name: str) -> None:
        if name in self._handles or self._module is None:
            return
        target = self._module.get_submodule(name) if name else self._module
        self._handles[name] = target.register_forward_hook(_ForwardHook(self, name))

    def _arm(self, module: nn.Module, armed: _Armed) -> None:
        if self._module is None:
            self._module = module
        self._hook(armed.name)
        self._step.armed.append(armed)

    def _arm_embeddings(self, module: nn.Module, tokens: list[Tensor], params: MixParams) -> None:
        names = _embedding_names(module)
        if not names:
            raise ValueError(
                f"Expected the model to look up its integer inputs ({', '.join(str(t.dtype) for t in tokens)}, shapes "
                f"{[tuple(t.shape) for t in tokens]}) in an nn.Embedding, whose output is then mixed (embedding "
                f"mixup), but {type(module).__name__} has no nn.Embedding or nn.EmbeddingBag. Set "
                "MixupCallback(manifold_layers=[...]) to the layer whose output should be mixed, or give the model "
                "float inputs."
            )
        if self._module is None:
            self._module = module
        for name in names:
            self._hook(name)
        self._step.armed.append(_Armed("embedding", params, match=tokens))

    def on_forward(self, name: str, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        """A hooked module's forward ran: mix its output if a pending mixing is armed for it."""
        for armed in self._step.armed:
            if armed.match is not None:
                if isinstance(module, _EMBEDDINGS) and args and _shares_memory(args[0], armed.match):
                    armed.fired = True
                    lookup = args[0] if isinstance(module, nn.Embedding) else None
                    return _mix_output(output, armed.params, name, lookup=lookup, ids=armed.match)
            elif armed.name == name and not armed.fired:
                armed.fired = True
                return _mix_output(output, armed.params, name)
        return None

    # ------------------------------------------------------------------ checks at the end of a step

    def check_step(self) -> None:
        """Check, once per step (at its first backward), that the step used what was mixed.

        Raises:
            RuntimeError: if a Manifold Mixup layer was chosen but not called.
            ValueError: if integer inputs were never looked up by an ``nn.Embedding``.
            MixedLabelsError: if mixed labels never reached a loss (see the message for likely causes).
        """
        state = self._step
        if state.checked:
            return
        state.checked = True
        for armed in state.armed:
            if armed.fired:
                continue
            if armed.match is not None:
                raise ValueError(
                    "The batch's integer inputs (token or category ids) were mixed by embedding mixup, but no "
                    "nn.Embedding of the model looked them up during the training step (the model may convert or "
                    "copy them first, e.g. `.long()` on int32 ids). Set MixupCallback(manifold_layers=[...]) to the "
                    "layer whose output should be mixed, or pass int64 ids the embedding receives as they are."
                )
            raise RuntimeError(
                f"Manifold Mixup mixed the targets for layer {armed.name!r}, but that layer was not called during the "
                "training step, so its output was never mixed. List only layers the forward pass uses in "
                "`manifold_layers`."
            )
        tracker = state.tracker
        if tracker is not None and not tracker.consumed and tracker.read_ops:
            reads = ", ".join(f"`{op}` ×{count}" for op, count in tracker.read_ops.items())
            raise MixedLabelsError(
                f"The mixed labels of this training batch never reached a loss: the step only read them ({reads}), "
                "and a read sees the dominant label of each element (y_a where λ ≥ 0.5, else y_b), so a loss built "
                "from it ignores the partner's label while the inputs are mixed — e.g. a loss that compares the "
                "labels (`y == c` per class, then a float cast, as segmentation_models' FocalLoss does). Compute "
                "such a loss on both sides: `loss = y.mix_loss(criterion, output, reduction=None)` gives "
                "λ·criterion(output, y_a) + (1-λ)·criterion(output, y_b) exactly (one λ per batch, the default "
                "mode='batch'); F.cross_entropy / F.nll_loss take the labels as they are."
            )
        if tracker is not None and not tracker.consumed:
            raise MixedLabelsError(
                "The mixed labels of this training batch never reached a loss: the inputs were mixed, but no "
                "F.cross_entropy / F.nll_loss (or nn.CrossEntropyLoss / nn.NLLLoss), float cast, F.one_hot or "
                "`mix_loss` used the labels before backward, so the loss does not match the mixed inputs. Likely "
                "causes: the model ignores its labels (an autoencoder: remove MixupCallback); a GAN that drops them "
                "(`imgs, _ = batch`) should derive from lightning_mixup.MixupMixin and mix its discriminator with "
                "`self.mix_discriminator(real, fake)`; `torch.tensor(y)` or `y.numpy()` copies only one side of the "
                "labels — pass `y` itself to the loss."
            )

    def end_step(self, *, backward_ran: bool) -> None:
        """Finish the step: check it (when a backward ran) and disarm what is pending."""
        try:
            if backward_ran:
                self.check_step()
        finally:
            self._step = _StepState()

    def disarm(self) -> None:
        """Forget pending mixings without checking them (outside training, or after an error)."""
        self._step = _StepState()

    def pending(self) -> list[str]:
        """Names of armed layer mixings (Manifold Mixup) that have not fired yet (for the mixin's ``with`` block)."""
        return [armed.name for armed in self._step.armed if not armed.fired and armed.match is None]

    def disarm_layers(self) -> None:
        """Forget pending Manifold Mixup layers (the end of the mixin's ``with`` block)."""
        self._step.armed = [armed for armed in self._step.armed if armed.match is not None]

    # ------------------------------------------------------------------ state

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None
        state["_handles"] = {}
        state["_module"] = None
        state["_step"] = _StepState()
        state["_keys"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._generator = torch.Generator()


class _ForwardHook:
    """A persistent forward hook that asks the engine whether to mix the module's output (picklable)."""

    def __init__(self, engine: MixupEngine, name: str) -> None:
        self.engine = engine
        self.name = name

    def __call__(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if not self.engine._step.armed:
            return None
        return self.engine.on_forward(self.name, module, args, output)


def _embedding_names(module: nn.Module) -> list[str]:
    return [name for name, sub in module.named_modules() if name and isinstance(sub, _EMBEDDINGS)]


def _is_ids(x: Tensor) -> bool:
    """Integer inputs of at most two dimensions: token or category ids (integer images have three or more)."""
    return not (x.is_floating_point() or x.is_complex()) and x.ndim <= 2


def _shares_memory(value: Any, tensors: list[Tensor]) -> bool:
    if not isinstance(value, Tensor):
        return False
    ptr = value.untyped_storage().data_ptr()
    return any(t.untyped_storage().data_ptr() == ptr and t.device == value.device for t in tensors)


def _mix_output(
    output: Any, params: MixParams, name: str, *, lookup: Any = None, ids: list[Tensor] | None = None
) -> Tensor:
    """The output of a hooked module, mixed with ``params``.

    A Manifold Mixup layer's output (and an ``nn.EmbeddingBag``'s) has the batch in its first dimension. An
    ``nn.Embedding`` lookup (``lookup``, its input) of the batch's ids (``ids``) may be any view of them:
    ``(B, T)`` as they are, a column ``x_cat[:, i]``, sequence-first ``ids.t()`` or a flat ``ids.view(1, -1)``
    (``(1, B·T)``, a ``(1, B·T, E)`` output). Its elements are mapped back to their sample through the view's
    strides, so each looked-up row is mixed with the row of the same position in the partner sample.
    """
    if not isinstance(output, Tensor):
        raise TypeError(
            f"Manifold Mixup can mix a layer that returns one tensor, but {name!r} returned {type(output).__name__}. "
            "Choose another layer."
        )
    batch_size = params.batch_size
    source = _looked_up(lookup, ids)
    if source is not None and output.shape[: lookup.ndim] == lookup.shape and not _batch_first(lookup, source):
        return _mix_lookup(output, params, lookup, source, name)
    if output.ndim >= 1 and output.shape[0] == batch_size:
        return apply_mix(output, params, validate_args=False)
    if source is None and output.ndim >= 1 and output.shape[0] % batch_size == 0:  # a layer's (B·T, ...) output
        mixed = apply_mix(output.reshape(batch_size, -1, *output.shape[1:]), params, validate_args=False)
        return mixed.reshape(output.shape)
    raise ValueError(
        f"Expected the output of {name!r} to have the batch size {batch_size} in its first dimension, but got shape "
        f"{tuple(output.shape)}. Choose another layer in `manifold_layers`."
    )


def _looked_up(lookup: Any, ids: list[Tensor] | None) -> Tensor | None:
    """The batch's id tensor that ``lookup`` is a view of (shares memory with), if any."""
    if not isinstance(lookup, Tensor) or not ids or lookup.ndim < 1:
        return None
    ptr = lookup.untyped_storage().data_ptr()
    return next((t for t in ids if t.untyped_storage().data_ptr() == ptr and t.ndim >= 1), None)


def _batch_first(lookup: Tensor, source: Tensor) -> bool:
    """Whether the lookup's first dimension walks the samples as the ids' does (``ids``, ``ids[:, i]``, slices)."""
    return (
        lookup.shape[0] == source.shape[0]
        and lookup.stride(0) == source.stride(0)
        and (source.shape[0] == 1 or source.stride(0) != 0)
        and 0 <= lookup.storage_offset() - source.storage_offset() < max(source.stride(0), 1)
    )


def _mix_lookup(output: Tensor, params: MixParams, lookup: Tensor, source: Tensor, name: str) -> Tensor:
    """Mix the rows of an embedding output whose lookup is a view of the ids other than batch-first.

    From the strides alone (no data is read): every looked-up element's position in the ids ``(B, ...)`` gives
    its sample ``i`` and the element at the same position in sample ``index[i]``, which must be looked up too.
    """
    batch_size = params.batch_size
    per_sample = source.numel() // batch_size if batch_size else 0
    low = source.storage_offset()
    span = 1 + sum((size - 1) * stride for size, stride in zip(source.shape, source.stride(), strict=True))
    offsets = torch.arange(span)
    in_ids = torch.full((span,), -1, dtype=torch.long)
    in_ids[torch.as_strided(offsets, source.shape, source.stride(), 0).reshape(-1)] = torch.arange(source.numel())
    relative = lookup.storage_offset() - low
    try:
        where = torch.as_strided(offsets, lookup.shape, lookup.stride(), relative).reshape(-1)
    except RuntimeError:
        where = torch.full((lookup.numel(),), -1, dtype=torch.long)
    position = in_ids[where.clamp(0, span - 1)].masked_fill((where < 0) | (where >= span), -1)
    row_of = torch.full((source.numel(),), -1, dtype=torch.long)
    row_of[position.clamp_min(0)] = torch.arange(position.numel())
    sample = position.clamp_min(0) // max(per_sample, 1)
    partner = row_of[params.index[sample] * per_sample + position.clamp_min(0) % max(per_sample, 1)]
    if bool((position < 0).any()) or bool((partner < 0).any()):
        raise ValueError(
            f"Expected {name!r} to look up every id of the samples it mixes, but its input (shape "
            f"{tuple(lookup.shape)}, strides {lookup.stride()}) covers only part of the batch's ids (shape "
            f"{tuple(source.shape)}), so a looked-up position has no partner to mix with. Look up the whole id "
            "tensor (or a view of all of it), or set MixupCallback(manifold_layers=[...]) to a layer to mix instead."
        )
    rows = output.reshape(lookup.numel(), -1)
    lam = to_device(params.lam[sample], output.device).view(-1, 1)
    mixed = blend_pair(rows, rows[to_device(partner, output.device)], lam)
    return mixed.reshape(output.shape)


def _combine_mask(mask: Tensor, params: MixParams) -> Tensor:
    """A mixed sample attends a position when either it or its partner does (elementwise max)."""
    if not isinstance(mask, Tensor) or params.is_cutmix:
        return mask
    mixed = to_device(params.mixed_mask(), mask.device).view(-1, *([1] * (mask.ndim - 1)))
    return torch.where(mixed, torch.maximum(mask, mask[to_device(params.index, mask.device)]), mask)


def check_layers(module: nn.Module, names: Sequence[str]) -> None:
    """Check that every name is ``"input"`` or a submodule of ``module``.

    Raises:
        ValueError: naming the missing layers and listing the available ones.
    """
    available = {name for name, _ in module.named_modules() if name}
    missing = [name for name in names if name != INPUT_LAYER and name not in available]
    if missing:
        raise ValueError(
            f"Expected `manifold_layers` to name submodules of {type(module).__name__} or 'input', but {missing} "
            f"are not among its modules: {sorted(available)}."
        )
