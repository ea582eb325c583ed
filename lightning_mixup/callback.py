"""``MixupCallback``: mixup, CutMix and Manifold Mixup for an unchanged Lightning classifier.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899
    - Manifold Mixup: Verma et al., ICML 2019, https://arxiv.org/abs/1806.05236
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.signature_utils import is_param_in_hook_signature
from torch import Tensor, nn
from typing_extensions import override

from lightning_mixup.engine import batch_seed
from lightning_mixup.functional import MixMode, MixParams, apply_mix
from lightning_mixup.functional.discriminator import (
    DISCRIMINATOR_MODES,
    DiscriminatorMode,
    apply_discriminator_mix,
    sample_discriminator_mix,
)
from lightning_mixup.policy import MixupPolicy, TargetMode

BatchKey = int | str
INPUT_LAYER = "input"


class MixupCallback(Callback):
    r"""Train on mixed batches: mixup (default), CutMix, or Manifold Mixup, with no change to the model.

    Every training batch (never a sanity-check, validation, test or predict batch) is replaced, after it is moved
    to the device, by a mixed copy: inputs ``x̃ = λ·x[i] + (1-λ)·x[j]`` with ``λ ~ Beta(α, α)`` and targets mixed
    alike. The batch container is copied, never written into, and the dataset's tensors are never touched.

    How the targets reach the loss (``target_mode``):

    - ``"auto"`` (default): integer labels become :class:`~lightning_mixup.MixedLabels`, a tensor of the labels
      that carries the partner labels and λ. An unchanged ``F.cross_entropy(self(x), y)`` (or ``nll_loss``,
      ``nn.CrossEntropyLoss``) then returns ``mean_i[λ_i·CE(f(x̃)_i, y_i) + (1-λ_i)·CE(f(x̃)_i, y_j)]``; no number
      of classes is needed. Anything else that reads the label values raises a ``MixedLabelsError`` saying what to do
      (use :class:`~lightning_mixup.MixupAccuracy` for a training accuracy). Float targets (multi-hot for BCE, or
      soft targets) are interpolated, which is exact for losses linear in the target, as BCE and soft CE are.
    - ``"soft"``: integer labels become float32 one-hot targets ``(B, num_classes)``, mixed and smoothed, for
      losses that take probabilities (``F.cross_entropy`` does).

    Args:
        alpha: mixup's Beta(α, α) concentration; ``0`` turns mixup off. The default 0.2 is in the range the paper
            uses on ImageNet (0.1-0.4) and leaves most mixed samples close to one source, so short schedules do not
            underfit; the paper uses α = 1 on CIFAR-10, and a larger α regularises more.
        cutmix_alpha: CutMix's Beta concentration; ``0`` (default) turns CutMix off. Needs image batches
            ``(B, C, H, W)``.
        switch_prob: when both are on, the probability that a batch uses CutMix rather than mixup.
        prob: the probability that a batch (``mode="batch"``), pair or sample is mixed at all. Applied once.
        mode: one λ per ``"batch"``, per ``"pair"`` (samples mixed two by two, symmetrically) or per ``"elem"``.
        correct_lam: CutMix's λ is the area actually kept after the box is clipped to the image.
        label_smoothing: ε applied once to the targets of every training batch, mixed or not. Leave the loss's own
            ``label_smoothing`` at 0 (mixed labels raise if both are set).
        target_mode: ``"auto"`` or ``"soft"``, see above.
        num_classes: the number of classes, required by ``target_mode="soft"``.
        input_key: where the inputs are in the batch: an index of a list/tuple, a namedtuple field or a dict key.
        target_key: where the targets are, likewise.
        manifold_layers: Manifold Mixup: names of submodules (as in ``model.named_modules()``) whose output may be
            mixed, plus ``"input"`` for the input itself. Each batch picks one uniformly; the layer is mixed by a
            forward hook, ``forward`` is not changed. ``None`` (default) mixes the input.
        warmup_epochs: epochs trained without mixing before mixing starts.
        stop_epoch: the epoch from which mixing stops (timm's ``mixup_off_epoch``); ``None`` never stops.
        discriminator_mode: GAN discriminator mixup through ``MixupMixin.mix_discriminator``: ``"paper"`` (real
            and generated samples mixed pairwise, λ ~ Beta(α, α), target λ) or ``"shuffle"`` (the authors' code:
            pairs from the shuffled real+fake batch, λ ~ U(0, α) per sample).
        seed: the seed of the mixing draws; ``None`` takes ``torch.initial_seed()`` at setup (what
            ``seed_everything`` set), drawing nothing from the global generator, so an ERM and a mixup run with the
            same global seed see the same data order. Saved in checkpoints.
        log: log ``mixup/lam`` (mean λ of the mixed samples) and ``mixup/mixed_share`` (share of training samples
            that were mixed) once per epoch.

    Randomness: every batch's draws come from a ``torch.Generator`` seeded from ``(seed, global rank, number of
    training batches seen so far)``, created in ``setup`` on every DDP rank. A run resumed from a checkpoint
    therefore draws exactly as the uninterrupted run would have, and every rank has its own stream.

    A LightningModule that derives from :class:`~lightning_mixup.MixupMixin` is not mixed automatically: it calls
    ``self.mix_batch`` (or the GAN/Manifold methods) in its own step, with this callback's configuration, random
    stream, schedule and logging.

    Example:
        >>> from lightning import Trainer
        >>> trainer = Trainer(callbacks=[MixupCallback(alpha=0.2)], logger=False, enable_progress_bar=False,
        ...                   enable_checkpointing=False, enable_model_summary=False)
    """

    def __init__(
        self,
        alpha: float = 0.2,
        cutmix_alpha: float = 0.0,
        switch_prob: float = 0.5,
        prob: float = 1.0,
        mode: MixMode = "batch",
        correct_lam: bool = True,
        label_smoothing: float = 0.0,
        target_mode: TargetMode = "auto",
        num_classes: int | None = None,
        input_key: BatchKey = 0,
        target_key: BatchKey = 1,
        manifold_layers: list[str] | None = None,
        warmup_epochs: int = 0,
        stop_epoch: int | None = None,
        discriminator_mode: DiscriminatorMode = "paper",
        seed: int | None = None,
        log: bool = True,
    ) -> None:
        super().__init__()
        self.policy = MixupPolicy(
            alpha=alpha,
            cutmix_alpha=cutmix_alpha,
            switch_prob=switch_prob,
            prob=prob,
            mode=mode,
            correct_lam=correct_lam,
            label_smoothing=label_smoothing,
            target_mode=target_mode,
            num_classes=num_classes,
        )
        for name, key in (("input_key", input_key), ("target_key", target_key)):
            if not isinstance(key, (int, str)) or isinstance(key, bool):
                raise TypeError(f"Expected argument `{name}` to be an int index or a str key, but got {key!r}.")
        if input_key == target_key:
            raise ValueError(f"Expected `input_key` and `target_key` to differ, but both are {input_key!r}.")
        if manifold_layers is not None and (
            isinstance(manifold_layers, str)
            or not manifold_layers
            or not all(isinstance(name, str) for name in manifold_layers)
        ):
            raise ValueError(
                "Expected argument `manifold_layers` to be a non-empty list of module names (and/or 'input'), but got "
                f"{manifold_layers!r}."
            )
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f"Expected argument `warmup_epochs` to be a non-negative int, but got {warmup_epochs!r}.")
        if stop_epoch is not None and (not isinstance(stop_epoch, int) or stop_epoch < warmup_epochs):
            raise ValueError(
                f"Expected argument `stop_epoch` to be None or an int >= warmup_epochs ({warmup_epochs}), but got "
                f"{stop_epoch!r}."
            )
        if discriminator_mode not in DISCRIMINATOR_MODES:
            raise ValueError(
                f"Expected argument `discriminator_mode` to be one of {DISCRIMINATOR_MODES}, but got "
                f"{discriminator_mode!r}."
            )
        if discriminator_mode == "shuffle" and alpha > 1:
            raise ValueError(
                "Expected argument `alpha` in [0, 1] with discriminator_mode='shuffle' (λ ~ U(0, α)), but got "
                f"{alpha!r}."
            )
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"Expected argument `seed` to be a non-negative int or None, but got {seed!r}.")
        self.input_key = input_key
        self.target_key = target_key
        self.manifold_layers = list(manifold_layers) if manifold_layers is not None else None
        self.warmup_epochs = warmup_epochs
        self.stop_epoch = stop_epoch
        self.discriminator_mode = discriminator_mode
        self.seed = seed
        self.log = log
        # created per rank in `setup` (a generator made here cannot cross a DDP spawn)
        self._generator: torch.Generator | None = None
        self._rank = 0
        self._explicit = False  # whether the module is a MixupMixin that mixes in its own step (set in setup)
        self._restore: list[Callable[[], None]] = []
        self._pending_hook: _LayerMixHook | None = None
        self._stats = _MixStats()

    # ------------------------------------------------------------------ policy

    def should_apply(self, epoch: int, step: int) -> bool:
        """Whether mixing is on at this epoch (``warmup_epochs <= epoch < stop_epoch``) and global step."""
        if not self.policy.enabled or epoch < self.warmup_epochs:
            return False
        return self.stop_epoch is None or epoch < self.stop_epoch

    @property
    def generator(self) -> torch.Generator:
        """The generator of the current batch's draws (after ``setup``)."""
        if self._generator is None:
            raise RuntimeError(
                "MixupCallback has no generator yet: it is created in `setup`. Use the callback inside Trainer.fit."
            )
        return self._generator

    def _reseed(self, batch_number: int) -> None:
        self.generator.manual_seed(batch_seed(int(self.seed or 0), self._rank, batch_number))

    # ------------------------------------------------------------------ Lightning hooks

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if self.manifold_layers is not None:
            _check_layers(pl_module, self.manifold_layers)
        self._rank = trainer.global_rank
        if self.seed is None:
            # torch.initial_seed() is what seed_everything set; reading it draws nothing, so the data order and
            # dropout of a mixup run stay those of the ERM run with the same global seed
            self.seed = int(torch.initial_seed())
        self.seed = int(trainer.strategy.broadcast(self.seed, src=0))
        self._generator = torch.Generator()
        self._stats = _MixStats()
        from lightning_mixup.mixin import MixupMixin

        self._explicit = isinstance(pl_module, MixupMixin)
        if self._explicit:
            return  # the module mixes explicitly through `mix_batch` and friends
        if is_param_in_hook_signature(pl_module.training_step, "dataloader_iter", explicit=True):
            raise ValueError(
                "MixupCallback cannot mix batches that `training_step(dataloader_iter)` fetches itself. Derive the "
                "module from lightning_mixup.MixupMixin and call `self.mix_batch(x, y)` in the step instead."
            )
        self._patch(trainer.strategy, "batch_to_device", self._wrap_batch_to_device(trainer, pl_module))

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._explicit:  # a MixupMixin module draws inside its step: same numbering as batch_to_device
            self._reseed(_batches_seen(trainer) - 1)

    @override
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        hook, self._pending_hook = self._pending_hook, None
        if hook is not None:
            hook.remove()
            if not hook.fired:
                raise RuntimeError(
                    f"Manifold Mixup mixed the targets for layer {hook.name!r}, but that layer was not called during "
                    "training_step, so its output was never mixed. List only layers the forward pass uses in "
                    "`manifold_layers`."
                )

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.log and self._stats.samples:
            pl_module.log("mixup/lam", self._stats.lam_mean, sync_dist=True)
            pl_module.log("mixup/mixed_share", self._stats.mixed_share, sync_dist=True)
        self._stats = _MixStats()

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._unpatch()

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._unpatch()

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seed = state_dict["seed"]

    # ------------------------------------------------------------------ mixing

    def _wrap_batch_to_device(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Callable[..., Any]:
        original = trainer.strategy.batch_to_device

        def batch_to_device(*args: Any, **kwargs: Any) -> Any:
            batch = original(*args, **kwargs)
            if trainer.training and not trainer.sanity_checking:
                self._reseed(_batches_seen(trainer))
                batch = self._mix_container(trainer, pl_module, batch)
            return batch

        return batch_to_device

    def _mix_container(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any) -> Any:
        x, y = _get(batch, self.input_key, "input_key"), _get(batch, self.target_key, "target_key")
        x, y = self.mix(pl_module, x, y, epoch=trainer.current_epoch, step=trainer.global_step)
        return _replace(batch, {self.input_key: x, self.target_key: y})

    def mix(
        self,
        pl_module: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        epoch: int,
        step: int,
        layers: Sequence[str] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Mix one batch with this callback's policy, schedule and random stream; the engine of the callback and mixin.

        Args:
            pl_module: the model, for Manifold Mixup's hooks.
            x: inputs ``(B, ...)``.
            y: targets ``(B, ...)``.
            epoch: the current epoch, for the schedule.
            step: the current global step, for the schedule.
            layers: Manifold Mixup layers overriding ``manifold_layers`` for this call.

        Returns:
            ``(inputs, targets)``: mixed when the schedule and the apply probability say so, else the inputs as
            they are and :meth:`MixupPolicy.unmixed_targets`.
        """
        if not isinstance(x, Tensor):
            raise TypeError(
                f"Expected the batch's inputs (input_key={self.input_key!r}) to be a torch.Tensor, but got "
                f"{type(x).__name__}. Set `input_key` to where the input tensor is."
            )
        if not isinstance(y, Tensor):
            raise TypeError(
                f"Expected the batch's targets (target_key={self.target_key!r}) to be a torch.Tensor, but got "
                f"{type(y).__name__}. Set `target_key` to where the target tensor is."
            )
        if y.ndim < 1 or x.ndim < 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"Expected inputs and targets with the same batch size, but got shapes {tuple(x.shape)} and "
                f"{tuple(y.shape)}. Check `input_key` and `target_key`."
            )
        if x.shape[0] < 2 or not self.should_apply(epoch, step):
            self._stats.add(None, int(x.shape[0]))
            return x, self.policy.unmixed_targets(y)
        layer_names = list(layers) if layers is not None else self.manifold_layers
        layer = INPUT_LAYER
        if layer_names is not None:
            if layers is not None:
                _check_layers(pl_module, layer_names)
            layer = layer_names[int(torch.randint(len(layer_names), (), generator=self.generator))]
        params = self.policy.sample(x, self.generator, spatial=layer == INPUT_LAYER)
        self._stats.add(params, int(x.shape[0]))
        targets = self.policy.targets(y, params)
        if layer == INPUT_LAYER:
            return apply_mix(x, params), targets
        self._mix_layer(pl_module, layer, params)
        return x, targets

    def mix_discriminator(self, real: Tensor, fake: Tensor, *, epoch: int, step: int) -> tuple[Tensor, Tensor]:
        """Discriminator inputs and soft labels (1 = real) for one discriminator step; the engine of the mixin.

        Mixed as ``discriminator_mode`` says when the schedule is on (and, with ``prob`` < 1, for that share of
        discriminator batches); otherwise the plain ERM batch ``cat([real, fake])`` with labels ``cat([1, 0])``.
        The logged mixed share counts discriminator inputs: ``B`` mixed ones in the paper's form, ``2B`` in the
        shuffled form, ``2B`` unmixed ones otherwise.
        """
        batch_size = int(real.shape[0])
        apply = self.should_apply(epoch, step) and self.policy.alpha > 0 and batch_size > 0
        if apply and self.policy.prob < 1.0:  # `prob` decides per discriminator batch; `mode` does not apply here
            apply = bool(torch.rand((), generator=self.generator) < self.policy.prob)
        if apply:
            params = sample_discriminator_mix(
                batch_size, alpha=self.policy.alpha, mode=self.discriminator_mode, generator=self.generator
            )
            self._stats.add(params, params.batch_size)
            return apply_discriminator_mix(real, fake, params)
        self._stats.add(None, 2 * batch_size)
        unmixed = MixParams(lam=torch.ones(2 * batch_size), index=torch.arange(2 * batch_size))
        return apply_discriminator_mix(real, fake, unmixed)

    def _mix_layer(self, pl_module: nn.Module, name: str, params: MixParams) -> None:
        if self._pending_hook is not None:
            self._pending_hook.remove()
        self._pending_hook = _LayerMixHook(pl_module.get_submodule(name), name, params)

    @contextmanager
    def layer_mixing(self) -> Any:
        """Context in which a pending Manifold Mixup hook must fire; it is removed on exit. For the mixin."""
        try:
            yield
        finally:
            hook, self._pending_hook = self._pending_hook, None
            if hook is not None:
                hook.remove()
                if not hook.fired:
                    raise RuntimeError(
                        f"Manifold Mixup chose layer {hook.name!r}, but it was not called inside the `with` block."
                    )

    # ------------------------------------------------------------------ patching

    def _patch(self, obj: Any, name: str, replacement: Callable[..., Any]) -> None:
        had_instance_attr = name in vars(obj)
        previous = vars(obj).get(name)
        setattr(obj, name, replacement)

        def restore() -> None:
            if had_instance_attr:
                setattr(obj, name, previous)
            else:
                delattr(obj, name)

        self._restore.append(restore)

    def _unpatch(self) -> None:
        while self._restore:
            self._restore.pop()()
        if self._pending_hook is not None:
            self._pending_hook.remove()
            self._pending_hook = None


class _MixStats:
    """Per-epoch sums for logging λ and the share of mixed samples."""

    def __init__(self) -> None:
        self.samples = 0
        self.mixed = 0
        self.lam_sum = 0.0

    def add(self, params: MixParams | None, batch_size: int) -> None:
        self.samples += batch_size
        if params is not None:
            # plain Python on B numbers: cheaper than a handful of tiny tensor ops on every training step
            for i, (lam, j) in enumerate(zip(params.lam.tolist(), params.index.tolist(), strict=True)):
                if lam < 1.0 and i != j:
                    self.mixed += 1
                    self.lam_sum += lam

    @property
    def lam_mean(self) -> float:
        return self.lam_sum / self.mixed if self.mixed else 1.0

    @property
    def mixed_share(self) -> float:
        return self.mixed / self.samples if self.samples else 0.0


class _LayerMixHook:
    """A one-shot forward hook that mixes a layer's output (Manifold Mixup)."""

    def __init__(self, module: nn.Module, name: str, params: MixParams) -> None:
        self.name = name
        self.params = params
        self.fired = False
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: Any) -> Any:
        if self.fired:
            return None
        self.fired = True
        if not isinstance(output, Tensor):
            raise TypeError(
                f"Manifold Mixup can mix a layer that returns one tensor, but {self.name!r} returned "
                f"{type(output).__name__}. Choose another layer."
            )
        return apply_mix(output, self.params)

    def remove(self) -> None:
        self._handle.remove()


def _batches_seen(trainer: pl.Trainer) -> int:
    """Training batches fetched so far in this fit (restored from checkpoints with the loops)."""
    return int(trainer.fit_loop.epoch_loop.batch_progress.total.ready)


def _check_layers(module: nn.Module, names: Sequence[str]) -> None:
    available = {name for name, _ in module.named_modules() if name}
    missing = [name for name in names if name != INPUT_LAYER and name not in available]
    if missing:
        raise ValueError(
            f"Expected `manifold_layers` to name submodules of {type(module).__name__} or 'input', but {missing} "
            f"are not among its modules: {sorted(available)}."
        )


def _get(batch: Any, key: BatchKey, what: str) -> Any:
    try:
        if isinstance(batch, Mapping):
            return batch[key]
        if isinstance(batch, Sequence) and not isinstance(batch, (str, Tensor)):
            if isinstance(key, str):
                if not hasattr(batch, "_fields"):
                    raise KeyError(key)
                return getattr(batch, key)
            return batch[key]
    except (KeyError, IndexError, AttributeError):
        pass
    raise ValueError(
        f"Expected the training batch to have an entry at {what}={key!r}, but got {_describe(batch)}. Set "
        f"MixupCallback(input_key=..., target_key=...) to where the inputs and targets are."
    )


def _replace(batch: Any, updates: dict[BatchKey, Any]) -> Any:
    """A copy of the batch container with some entries replaced; the original container is not changed."""
    if isinstance(batch, Mapping):
        new = copy.copy(batch)
        for key, value in updates.items():
            new[key] = value  # type: ignore[index]
        return new
    if hasattr(batch, "_fields"):  # namedtuple
        fields = batch._fields
        return batch._replace(**{(fields[k] if isinstance(k, int) else k): v for k, v in updates.items()})
    items = list(batch)
    for key, value in updates.items():
        items[key] = value  # type: ignore[index]
    if isinstance(batch, tuple):
        return tuple(items)
    new_list = copy.copy(batch)
    new_list[:] = items
    return new_list


def _describe(batch: Any) -> str:
    if isinstance(batch, Mapping):
        return f"a {type(batch).__name__} with keys {list(batch.keys())}"
    if hasattr(batch, "_fields"):
        return f"a {type(batch).__name__} with fields {list(batch._fields)}"
    if isinstance(batch, Sequence) and not isinstance(batch, (str, Tensor)):
        return f"a {type(batch).__name__} of length {len(batch)}"
    return f"a {type(batch).__name__}"
