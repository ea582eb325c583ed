"""``MixupCallback``: mixup, CutMix and Manifold Mixup for an unchanged Lightning model.

A thin adapter: it builds a :class:`~lightning_mixup.engine.MixupEngine` and calls it from Lightning's hooks.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
    - CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899
    - Manifold Mixup: Verma et al., ICML 2019, https://arxiv.org/abs/1806.05236
    - Embedding mixup: Guo, Mao, Zhang, 2019, https://arxiv.org/abs/1905.08941
    - The mixup family of ``method=`` (RegMixup, kernel warping, MIT, C-Mixup): see ``docs/methods.md``
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from typing_extensions import override

from lightning_mixup import _compat
from lightning_mixup._batch import BatchKey
from lightning_mixup._checks import check_bool, check_int
from lightning_mixup.engine import MixupEngine, warn_unused_step
from lightning_mixup.functional import MixMode
from lightning_mixup.functional.discriminator import DiscriminatorMode
from lightning_mixup.functional.labels import LabelReads
from lightning_mixup.functional.warping import Warping
from lightning_mixup.policy import KernelDistance, Method, MixupPolicy, TargetMode

__all__ = ["MixupCallback"]

_CHECKPOINT_KEY = "lightning_mixup"


class MixupCallback(_compat.Callback):
    r"""Train on mixed batches: mixup (default), CutMix, Manifold Mixup or embedding mixup, with no change to the model.

    Every training batch (never a sanity-check, validation, test or predict batch) is replaced, after it reaches
    the device, by a mixed copy: inputs ``x̃ = λ·x[i] + (1-λ)·x[j]`` with ``λ ~ Beta(α, α)`` and targets mixed alike.
    The batch container is copied, never written into, and the dataset's tensors are never touched.

    Where the inputs and targets are: a list/tuple ``(inputs, targets)``; a namedtuple; a dict with
    conventional names (targets ``labels``/``label``/``targets``/``target``/``y``; inputs ``input_ids``/
    ``pixel_values``/``inputs``/``input``/``x``/``images``/``image``/``features``), else set ``input_key`` /
    ``target_key``. Integer inputs (token or category ids) are not blended: the output of the model's
    ``nn.Embedding`` lookups of them is mixed instead (embedding mixup), and a dict batch's ``attention_mask`` of a
    mixed sample becomes the elementwise max of its and its partner's (a position is attended if either sample
    attends it).

    How the targets reach the loss (``target_mode``):

    - ``"auto"`` (default): integer labels become :class:`~lightning_mixup.MixedLabels`. An unchanged
      ``F.cross_entropy(self(x), y)`` (or ``nll_loss``, ``nn.CrossEntropyLoss``, on ``(B,)`` or flattened sequence
      labels, with class weights, ``ignore_index`` and label smoothing) returns the exact mixup loss; a float cast
      (``y.float()``, ``y.type_as(logits)``) gives the mixed targets ``λ·y_i + (1-λ)·y_j`` (exact for BCE);
      ``F.one_hot(y, C)`` the mixed one-hot targets. Reads of label values outside a loss (accuracy, torchmetrics,
      ``.tolist()``) see the per-sample dominant label (``label_reads="strict"`` refuses them). Float targets are
      interpolated.
    - ``"soft"``: integer labels become float32 targets: one-hot over ``num_classes`` and mixed (class ids), or,
      without ``num_classes``, mixed as values (binary or multi-hot labels).

    Args:
        alpha: the Beta(α, α) concentration of the method; ``0`` turns mixing off. ``None`` (default) is the
            method's paper default: mixup 0.2, RegMixup 20, kernel warping 1, MIT 1, C-Mixup 2. Mixup's 0.2 is in
            the range the paper uses on ImageNet (0.1-0.4) and leaves most mixed samples close to one source, so
            short schedules do not underfit; the paper uses α = 1 on CIFAR-10, and a larger α regularises more.
        cutmix_alpha: CutMix's Beta concentration; ``0`` (default) turns CutMix off. Needs image batches
            ``(B, C, H, W)``.
        cutmix_minmax: timm's ``cutmix_minmax``: ``(lo, hi)`` shares of the image's height and width between which
            the CutMix box's sides are drawn uniformly, instead of from λ; λ is then the kept area. ``None``
            (default) sizes the box from λ. Needs ``cutmix_alpha > 0``.
        switch_prob: when both are on, the probability that a batch uses CutMix rather than mixup.
        prob: the probability that a batch (``mode="batch"``), pair or sample is mixed at all. Applied once.
        mode: one λ per ``"batch"``, per ``"pair"`` (samples mixed two by two, symmetrically) or per ``"elem"``;
            ``None`` (default) is the method's: ``"batch"``, or ``"elem"`` for kernel warping (its authors' choice).
        correct_lam: CutMix's λ is the area actually kept after the box is clipped to the image.
        label_smoothing: ε applied once to the targets of every training batch, mixed or not. Leave the loss's own
            ``label_smoothing`` at 0 (mixed labels raise if both are set).
        bce_target_thresh: timm's ``bce_target_thresh``: soft targets are binarised, ``1`` where above it and
            ``0`` elsewhere, for a BCE loss. Needs ``target_mode="soft"``; ``None`` (default) keeps them soft.
        target_mode: ``"auto"`` or ``"soft"``, see above.
        num_classes: the number of classes for ``target_mode="soft"`` one-hot targets.
        label_reads: ``"dominant"`` (default) or ``"strict"``: what reads of mixed label values outside a loss see.
        input_key: where the inputs are: an index of a list/tuple, a namedtuple field, a dict key, or a list of
            them (all mixed alike); ``None`` (default) detects it.
        target_key: where the targets are, likewise; ``None`` detects it.
        manifold_layers: Manifold Mixup: names of submodules (as in ``model.named_modules()``) whose output may be
            mixed, plus ``"input"`` for the input itself. Each batch picks one uniformly; the layer is mixed by a
            forward hook, ``forward`` is not changed. ``None`` (default) mixes the input.
        warmup_epochs: epochs trained without mixing before mixing starts.
        stop_epoch: the epoch from which mixing stops (timm's ``mixup_off_epoch``); ``None`` never stops.
        discriminator_mode: GAN discriminator mixup through ``MixupMixin.mix_discriminator``: ``"paper"`` (real
            and generated samples mixed pairwise, λ ~ Beta(α, α), target λ) or ``"shuffle"`` (the authors' code:
            pairs from the shuffled real+fake batch, λ ~ U(0, α) per sample).
        seed: the seed of the mixing draws; ``None`` takes ``torch.initial_seed()`` at the start of every fit
            (what ``seed_everything`` set), drawing nothing from the global generator, so an ERM and a mixup run with
            the same global seed see the same data order. Saved in checkpoints.
        log: log ``mixup/lam`` (mean λ of the mixed samples) and ``mixup/mixed_share`` (share of training samples
            that were mixed) once per epoch.
        method: the mixup family member (``docs/methods.md``): ``"mixup"`` (default: mixup, CutMix, Manifold and
            embedding mixup), ``"regmixup"`` (the batch becomes ``cat([x, x̃])``, ``2B`` rows, and the unchanged
            ``F.cross_entropy`` is ``(CE_clean + η·mixCE) / 2``), ``"kernel_warping"`` (λ warped per pair by the
            pair's distance), ``"cmixup"`` (regression: partners drawn by a kernel on float targets) or
            ``"mixup_inference_training"`` (MIT: only through ``MixupMixin.mit_loss``; the callback alone refuses
            it). The other methods refuse CutMix, Manifold Mixup, ``prob`` < 1 and ``target_mode="soft"``.
        regmixup_eta: RegMixup's weight η ≥ 0 of the mixup term (paper: 1).
        kernel_tau_max: kernel warping's amplitude τ_max > 0 (authors: 1).
        kernel_tau_std: kernel warping's width τ_std > 0 (authors' CIFAR configs: 0.25).
        kernel_warping: ``"inverse_beta_cdf"`` (authors' configs) or ``"beta_cdf"`` (torch-uncertainty).
        kernel_distance: ``"inputs"`` (flattened inputs) or ``"embeddings"`` (the authors' default; needs the
            mixin's ``self.mix_batch(x, y, features=emb)``).
        cmixup_bandwidth: C-Mixup's label-kernel bandwidth σ > 0 (official default 1; tuned per data set).

    Checks: at the first backward of a training step, the callback raises if the step did not use what was mixed
    — mixed labels that never reached a loss (a model that ignores its labels, a GAN that drops them,
    ``torch.tensor(y)``), a Manifold Mixup layer that was not called, integer inputs no ``nn.Embedding`` looked up.

    Randomness: every batch's draws come from a ``torch.Generator`` seeded from ``(seed, global rank, number of
    training batches fetched before it)``, created on every DDP rank. A run resumed from a checkpoint draws exactly
    as the uninterrupted run would have, and every rank has its own stream (see the README on resuming mid-epoch).

    A LightningModule that derives from :class:`~lightning_mixup.MixupMixin` is not mixed automatically: it calls
    ``self.mix_batch`` (or the GAN/Manifold methods) in its own step, with this callback's engine.

    Example:
        >>> from lightning import Trainer
        >>> trainer = Trainer(callbacks=[MixupCallback(alpha=0.2)], logger=False, enable_progress_bar=False,
        ...                   enable_checkpointing=False, enable_model_summary=False)
    """

    def __init__(
        self,
        alpha: float | None = None,
        cutmix_alpha: float = 0.0,
        cutmix_minmax: tuple[float, float] | None = None,
        switch_prob: float = 0.5,
        prob: float = 1.0,
        mode: MixMode | None = None,
        correct_lam: bool = True,
        label_smoothing: float = 0.0,
        bce_target_thresh: float | None = None,
        target_mode: TargetMode = "auto",
        num_classes: int | None = None,
        label_reads: LabelReads = "dominant",
        input_key: BatchKey | list[BatchKey] | None = None,
        target_key: BatchKey | None = None,
        manifold_layers: list[str] | None = None,
        warmup_epochs: int = 0,
        stop_epoch: int | None = None,
        discriminator_mode: DiscriminatorMode = "paper",
        seed: int | None = None,
        log: bool = True,
        method: Method = "mixup",
        regmixup_eta: float = 1.0,
        kernel_tau_max: float = 1.0,
        kernel_tau_std: float = 0.25,
        kernel_warping: Warping = "inverse_beta_cdf",
        kernel_distance: KernelDistance = "inputs",
        cmixup_bandwidth: float = 1.0,
    ) -> None:
        super().__init__()
        policy = MixupPolicy(
            alpha=alpha,  # type: ignore[arg-type]  # None: the method's default, resolved by the policy
            cutmix_alpha=cutmix_alpha,
            cutmix_minmax=None if cutmix_minmax is None else (float(cutmix_minmax[0]), float(cutmix_minmax[1])),
            switch_prob=switch_prob,
            prob=prob,
            mode=mode,  # type: ignore[arg-type]  # None: the method's default, resolved by the policy
            correct_lam=correct_lam,
            label_smoothing=label_smoothing,
            bce_target_thresh=bce_target_thresh,
            target_mode=target_mode,
            num_classes=num_classes,
            method=method,
            regmixup_eta=regmixup_eta,
            kernel_tau_max=kernel_tau_max,
            kernel_tau_std=kernel_tau_std,
            kernel_warping=kernel_warping,
            kernel_distance=kernel_distance,
            cmixup_bandwidth=cmixup_bandwidth,
        )
        self.engine = MixupEngine(
            policy,
            warmup_epochs=warmup_epochs,
            stop_epoch=stop_epoch,
            manifold_layers=manifold_layers,
            discriminator_mode=discriminator_mode,
            label_reads=label_reads,
            input_key=list(input_key) if isinstance(input_key, (list, tuple)) else input_key,
            target_key=target_key,
        )
        check_int(seed, "seed", minimum=0, optional=True)
        check_bool(log, "log")
        self.seed = seed
        self.log_stats = log  # not `self.log`: Lightning sets `callback.log` to the module's log method
        self._patch: _compat.BatchToDevicePatch | None = None
        self._explicit = False
        self._backward_ran = False

    # ------------------------------------------------------------------ configuration, for the mixin and users

    @property
    def policy(self) -> MixupPolicy:
        """What to mix and how."""
        return self.engine.policy

    @property
    def manifold_layers(self) -> list[str] | None:
        """Manifold Mixup candidate layers."""
        return self.engine.manifold_layers

    @property
    def generator(self) -> torch.Generator:
        """The generator of the current batch's draws."""
        return self.engine.generator

    def should_apply(self, epoch: int, step: int | None = None) -> bool:
        """Whether mixing is on at this epoch: ``warmup_epochs <= epoch < stop_epoch`` (``step`` is deprecated)."""
        warn_unused_step(step, "MixupCallback.should_apply")
        return self.engine.should_apply(epoch)

    # ------------------------------------------------------------------ Lightning hooks

    @override
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        others = [c for c in trainer.callbacks if c is not self and isinstance(getattr(c, "engine", None), MixupEngine)]
        if others:
            raise ValueError(
                f"Expected one MixupCallback in Trainer(callbacks=...), but found {len(others) + 1}: each would mix "
                "the batch again. Keep one (for CutMix and mixup together use MixupCallback(alpha=..., "
                "cutmix_alpha=..., switch_prob=...))."
            )
        # seed=None: read at every fit what seed_everything set; reading it draws nothing, so the data order and
        # dropout of a mixup run stay those of the ERM run with the same global seed
        seed = self.seed if self.seed is not None else int(torch.initial_seed())
        seed = int(trainer.strategy.broadcast(seed, src=0))
        self.engine.start(pl_module, seed=seed, rank=trainer.global_rank)
        self._explicit = bool(getattr(pl_module, "_mixes_explicitly", False))
        if self._explicit:
            return  # the module mixes explicitly through `mix_batch` and friends
        policy = self.engine.policy
        if policy.method == "mixup_inference_training":
            raise ValueError(
                "MixupCallback(method='mixup_inference_training') cannot mix by itself: MIT trains on the model's "
                "outputs for two mixtures of the batch, decoupled before the loss, which one mixed batch and an "
                "unchanged step cannot express. Derive the module from lightning_mixup.MixupMixin and return "
                "`self.mit_loss(x, y)` from its training_step."
            )
        if policy.method == "kernel_warping" and policy.kernel_distance == "embeddings":
            raise ValueError(
                "MixupCallback(kernel_distance='embeddings') cannot mix by itself: the distances need the model's "
                "embeddings of the batch. Derive the module from lightning_mixup.MixupMixin and call "
                "`self.mix_batch(x, y, features=emb)` in its training_step, or set kernel_distance='inputs'."
            )
        if _compat.takes_dataloader_iter(pl_module):
            raise ValueError(
                "MixupCallback cannot mix batches that `training_step(dataloader_iter)` fetches itself. Derive the "
                "module from lightning_mixup.MixupMixin and call `self.mix_batch(x, y)` in the step instead."
            )
        self._patch = _compat.patch_batch_to_device(trainer.strategy, _MixTransform(self, trainer, pl_module))

    @override
    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._backward_ran = False
        if self._explicit:  # a MixupMixin module draws inside its step: same numbering as batch_to_device
            self.engine.reseed(_compat.batches_before_current(trainer))

    @override
    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Tensor) -> None:
        if _compat.is_training_batch(trainer):
            self._backward_ran = True
            self.engine.check_step()

    @override
    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.engine.end_step(backward_ran=self._backward_ran)

    @override
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        stats = self.engine.stats
        if self.log_stats and stats.samples:
            pl_module.log("mixup/lam", stats.lam_mean, sync_dist=True)
            pl_module.log("mixup/mixed_share", stats.mixed_share, sync_dist=True)
        self.engine.stats = type(stats)()

    @override
    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._teardown()

    @override
    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            self._teardown()

    def _teardown(self) -> None:
        if self._patch is not None:
            self._patch.remove()
            self._patch = None
        self.engine.stop()

    # The state lives in the checkpoint under its own key rather than in `state_dict`, so Lightning does not treat
    # the callback as a keyed stateful callback: a second MixupCallback is refused with this package's message.
    @override
    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint[_CHECKPOINT_KEY] = {"seed": self.engine.seed}

    @override
    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        # called after `setup`: the resumed run continues the saved run's random stream
        state = checkpoint.get(_CHECKPOINT_KEY)
        if state is not None and state.get("seed") is not None:
            self.engine.seed = int(state["seed"])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_patch"] = None
        for name in ("log", "log_dict"):  # the module's logging methods, which Lightning attaches to callbacks
            state.pop(name, None)
        return state


class _MixTransform:
    """Mixes a training batch after ``batch_to_device`` (picklable, unlike a closure)."""

    def __init__(self, callback: MixupCallback, trainer: Any, pl_module: Any) -> None:
        self.callback = callback
        self.trainer = trainer
        self.pl_module = pl_module

    def __call__(self, batch: Any) -> Any:
        trainer = self.trainer
        if not _compat.is_training_batch(trainer):
            return batch
        engine = self.callback.engine
        engine.disarm()
        engine.reseed(_compat.batches_fetched(trainer))
        return engine.mix_container(self.pl_module, batch, epoch=trainer.current_epoch)

    def __getstate__(self) -> dict[str, Any]:
        return {"callback": self.callback, "trainer": None, "pl_module": None}
