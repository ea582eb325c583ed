"""Training-stability evaluation for any GAN LightningModule.

:class:`GANStabilityCallback` watches a GAN while it trains and, every ``every_n_steps`` optimizer steps, samples
from its generator and scores the samples:

- mixture targets (``modes`` and ``std``, e.g. the ring and grid of Gaussians): modes captured, high-quality share
  and reverse KL to uniform with the VEEGAN/PacGAN definitions (:class:`~lightning_mixup.gan.ModeCoverage`);
- images (``classifier``): a trained classifier labels the samples, as on stacked MNIST in VEEGAN and PacGAN
  (:func:`~lightning_mixup.gan.classifier_mode_counts`);
- for every GAN: the variance of the discriminator and generator losses and their gradient norms over the last
  ``loss_window`` optimizer steps of each, and a verdict over the last ``window`` evaluations
  (:func:`~lightning_mixup.gan.run_verdict`: converged / mode-collapsed / unconverged / diverged).

**Sampling protocol.** ``sample_fn(pl_module, n, generator) -> Tensor`` returns ``n`` samples, drawing its latent
codes with the given CPU ``torch.Generator`` (seeded with ``seed`` at every evaluation, so every evaluation and every
run of a comparison scores the same codes). The default, :func:`default_sample_fn`, fits modules that expose their
generator network as ``pl_module.generator`` and the latent size as ``pl_module.latent_dim`` or
``pl_module.hparams.latent_dim`` (Lightning's GAN tutorial, :class:`~lightning_mixup.gan.GANModule`): it draws
``z = randn(n, latent_dim)`` and returns ``pl_module.generator(z)``. Sampling runs under ``torch.no_grad()`` with the
module in eval mode (restored afterwards; pass ``eval_mode=False`` to sample in train mode).

**Where losses and gradient norms come from.** No logging keys are needed: the loss of an optimizer step is the tensor
passed to the last backward before it (the ``on_before_backward`` hook: ``manual_backward(loss)`` or the loss returned
by an automatic ``training_step``), and its gradient norm is the 2-norm of the gradients of that optimizer's
parameters just before it steps (``on_before_optimizer_step``). An optimizer whose parameters all belong to
``pl_module.discriminator`` is the discriminator's, one inside ``pl_module.generator`` the generator's.

References:
    - mixup: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412 (§3.5)
    - VEEGAN: Srivastava et al., NeurIPS 2017, https://arxiv.org/abs/1705.07761
    - PacGAN: Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from typing_extensions import override

from lightning_mixup._checks import check_bool, check_int, check_probability
from lightning_mixup._compat import Callback
from lightning_mixup.gan.metrics import (
    VERDICTS,
    VerdictRule,
    _modes_validation,
    _positive,
    classifier_coverage,
    classifier_mode_counts,
    coverage_from_counts,
    mode_histogram,
    run_verdict,
)

__all__ = [
    "GANStabilityCallback",
    "SampleFn",
    "StabilityReport",
    "default_sample_fn",
]

SampleFn = Callable[[pl.LightningModule, int, torch.Generator], Tensor]
_ROLES = ("discriminator", "generator")


def default_sample_fn(pl_module: pl.LightningModule, n: int, generator: torch.Generator) -> Tensor:
    """``pl_module.generator(randn(n, latent_dim))`` with the codes drawn from ``generator`` (on the CPU).

    Raises:
        TypeError: if the module has no ``generator`` network or no ``latent_dim`` (attribute or hparam).

    Example:
        >>> from lightning_mixup.gan import GANModule
        >>> model = GANModule(g_hidden=8, d_hidden=8, g_depth=1, d_depth=1)
        >>> default_sample_fn(model, 5, torch.Generator().manual_seed(0)).shape
        torch.Size([5, 2])
    """
    network = getattr(pl_module, "generator", None)
    latent = getattr(pl_module, "latent_dim", None)
    if latent is None:
        latent = getattr(pl_module, "hparams", {}).get("latent_dim")
    if not isinstance(network, nn.Module) or not isinstance(latent, int):
        raise TypeError(
            f"GANStabilityCallback's default sample_fn needs `pl_module.generator` (an nn.Module) and an int "
            f"`latent_dim` (attribute or hparam), but {type(pl_module).__name__} has generator="
            f"{type(network).__name__} and latent_dim={latent!r}. Pass `sample_fn=lambda module, n, generator: ...`."
        )
    z = torch.randn(n, latent, generator=generator).to(pl_module.device)
    return network(z)


@dataclass
class StabilityReport:
    """What :class:`GANStabilityCallback` measured in one run.

    Attributes:
        verdict: the verdict over the last ``window`` evaluations (``"n/a"`` before the first one).
        num_modes: the number of modes of the target.
        steps: ``trainer.global_step`` at every evaluation.
        modes_captured: modes captured at every evaluation.
        high_quality_share: high-quality (images: confidently classified) share at every evaluation.
        reverse_kl: reverse KL to uniform at every evaluation.
        d_loss_var: variance of the discriminator loss over the last ``loss_window`` steps, at every evaluation.
        g_loss_var: the same for the generator.
        d_grad_norm: mean discriminator gradient norm over the last ``loss_window`` steps, at every evaluation.
        g_grad_norm: the same for the generator.
        finite: whether every loss, gradient norm and sample stayed finite.
    """

    verdict: str = "n/a"
    num_modes: int = 0
    steps: list[int] = field(default_factory=list)
    modes_captured: list[float] = field(default_factory=list)
    high_quality_share: list[float] = field(default_factory=list)
    reverse_kl: list[float] = field(default_factory=list)
    d_loss_var: list[float] = field(default_factory=list)
    g_loss_var: list[float] = field(default_factory=list)
    d_grad_norm: list[float] = field(default_factory=list)
    g_grad_norm: list[float] = field(default_factory=list)
    finite: bool = True

    def final(self) -> dict[str, Any]:
        """The last evaluation's numbers and the verdict (``nan`` where nothing was evaluated)."""
        keys = ("modes_captured", "high_quality_share", "reverse_kl", "d_loss_var", "g_loss_var")
        last = {key: (getattr(self, key) or [math.nan])[-1] for key in keys}
        return {"verdict": self.verdict, "finite": self.finite, **last}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _var(values: Sequence[float]) -> float:
    if len(values) < 2:
        return math.nan
    mean = _mean(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


class GANStabilityCallback(Callback):
    """Scores a GAN's samples during training and gives a converged / mode-collapsed / diverged verdict.

    Works on any LightningModule that can produce samples through ``sample_fn`` (see the module docstring for the
    protocol and for where losses and gradient norms are read). Targets, one of:

    - ``modes`` and ``std`` (or neither, when the datamodule has ``modes`` and ``std`` attributes, like
      the study's ``experiments.gan.data.RingDataModule``): samples ``(n, D)`` scored against the mixture;
    - ``classifier``: an ``nn.Module`` (or callable) mapping samples to logits ``(n, K)`` or per-channel logits
      ``(n, C, k)`` (e.g. the study's ``experiments.gan.digits.StackedDigitClassifier``, 1,000 modes).

    Logged at every evaluation (``log_prefix`` + name): ``modes_captured``, ``high_quality_share``, ``reverse_kl``,
    ``d_loss_var``, ``g_loss_var``, ``d_grad_norm``, ``g_grad_norm`` and ``verdict`` (the index into
    :data:`~lightning_mixup.gan.VERDICTS`). Everything is kept in :meth:`report`.

    Args:
        every_n_steps: evaluate whenever ``trainer.global_step`` (optimizer steps; both optimizers' in manual
            optimization) has passed another multiple of this, and once more when training ends.
        num_samples: samples per evaluation (2,500 in PacGAN's 2D protocol; 26,000 for stacked MNIST).
        sample_fn: the sampling protocol; ``None`` is :func:`default_sample_fn`.
        modes: ``(K, D)`` mixture means (nested lists or a tensor).
        std: the mixture's component standard deviation.
        threshold: high quality = within ``threshold · std`` of the nearest mode (3 in VEEGAN/PacGAN).
        classifier: the mode counter for images.
        confidence: images: a sample counts as high quality if the classifier's top probability is at least this on
            every channel.
        window: evaluations the verdict looks at.
        min_modes_share: see :class:`~lightning_mixup.gan.VerdictRule`.
        max_reverse_kl: see :class:`~lightning_mixup.gan.VerdictRule`.
        min_high_quality: see :class:`~lightning_mixup.gan.VerdictRule`.
        diverged_high_quality: see :class:`~lightning_mixup.gan.VerdictRule`.
        loss_window: optimizer steps (per network) over which loss variance and mean gradient norm are taken.
        seed: seed of the evaluation latent codes.
        eval_mode: sample with the module in eval mode (restored afterwards).
        log_prefix: prefix of the logged names.

    Raises:
        ValueError: for invalid arguments; at fit start, if there is neither a classifier nor mixture modes.

    Example::

        trainer = Trainer(callbacks=[GANStabilityCallback(every_n_steps=600, modes=ring_modes(), std=0.01)])
        trainer.fit(gan, datamodule)
        callback.report().verdict       # "converged", "mode-collapsed", "unconverged" or "diverged"
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        num_samples: int = 2500,
        sample_fn: SampleFn | None = None,
        modes: list[list[float]] | Tensor | None = None,
        std: float | None = None,
        threshold: float = 3.0,
        classifier: nn.Module | Callable[[Tensor], Tensor] | None = None,
        confidence: float = 0.5,
        window: int = 3,
        min_modes_share: float = 1.0,
        max_reverse_kl: float = 0.1,
        min_high_quality: float = 0.5,
        diverged_high_quality: float = 0.05,
        loss_window: int = 100,
        seed: int = 0,
        eval_mode: bool = True,
        log_prefix: str = "stability/",
    ) -> None:
        super().__init__()
        check_int(every_n_steps, "every_n_steps", minimum=1)
        check_int(num_samples, "num_samples", minimum=1)
        check_int(loss_window, "loss_window", minimum=2)
        check_int(seed, "seed", minimum=0)
        _positive(threshold, "threshold")
        check_probability(confidence, "confidence")
        check_bool(eval_mode, "eval_mode")
        for name, value in (("sample_fn", sample_fn), ("classifier", classifier)):
            if value is not None and not callable(value):
                raise ValueError(f"Expected argument `{name}` to be callable or None, but got {value!r}.")
        if (modes is None) != (std is None):
            raise ValueError("Expected arguments `modes` and `std` together (or neither), but got only one of them.")
        if classifier is not None and modes is not None:
            raise ValueError("Expected either mixture `modes`/`std` or a `classifier`, but got both.")
        self._modes = None if modes is None else torch.as_tensor(modes, dtype=torch.float32)
        if self._modes is not None:
            _modes_validation(self._modes)
        if std is not None:
            _positive(std, "std")
        self._std = None if std is None else float(std)
        self.rule = VerdictRule(window, diverged_high_quality, min_high_quality, max_reverse_kl, min_modes_share)
        self.every_n_steps, self.num_samples = every_n_steps, num_samples
        self.sample_fn: SampleFn = sample_fn if sample_fn is not None else default_sample_fn
        self.threshold = float(threshold)
        self.classifier = classifier
        self.confidence = float(confidence)
        self.loss_window, self.seed, self.eval_mode, self.log_prefix = loss_window, seed, eval_mode, log_prefix
        self._reset()

    def _reset(self) -> None:
        self._report = StabilityReport()
        self._history: dict[str, deque[tuple[float, float]]] = {r: deque(maxlen=self.loss_window) for r in _ROLES}
        self._roles: dict[int, str] = {}
        self._pending_loss: float | None = None
        self._last_eval_step = -1
        self._next_eval_step = self.every_n_steps

    # ------------------------------------------------------------------ setup

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._reset()
        if self.classifier is None and self._modes is None:
            datamodule = getattr(trainer, "datamodule", None)
            modes, std = getattr(datamodule, "modes", None), getattr(datamodule, "std", None)
            if not (isinstance(modes, Tensor) and isinstance(std, float)):
                raise ValueError(
                    "GANStabilityCallback needs a target: `modes` and `std` for a mixture (or a datamodule with "
                    "`modes` and `std` attributes), or a `classifier` that labels image samples."
                )
            self._modes, self._std = modes.float(), std
        if self._modes is not None:
            self._report.num_modes = int(self._modes.shape[0])

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        nets = {role: getattr(pl_module, role, None) for role in _ROLES}
        owners = {role: {id(p) for p in net.parameters()} for role, net in nets.items() if isinstance(net, nn.Module)}
        for optimizer in trainer.optimizers:
            params = {id(p) for group in optimizer.param_groups for p in group["params"]}
            for role, ids in owners.items():
                if params and params <= ids:
                    self._roles[id(optimizer)] = role

    # ------------------------------------------------------------------ losses and gradient norms

    @override
    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor) -> None:
        self._pending_loss = float(loss.detach().float().mean())

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        role = self._roles.get(id(optimizer))
        loss, self._pending_loss = self._pending_loss, None
        grads = [p.grad.detach() for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        if not math.isfinite(norm) or (loss is not None and not math.isfinite(loss)):
            self._report.finite = False
        if role is not None:
            self._history[role].append((math.nan if loss is None else loss, norm))

    # ------------------------------------------------------------------ evaluation schedule

    @override
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step >= self._next_eval_step:
            self._evaluate(trainer, pl_module, log=True)
            self._next_eval_step = (trainer.global_step // self.every_n_steps + 1) * self.every_n_steps

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        max_epochs = trainer.max_epochs
        last_epoch = max_epochs is not None and max_epochs > 0 and trainer.current_epoch + 1 >= max_epochs
        finished = (trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps) or last_epoch
        if finished and trainer.global_step != self._last_eval_step:
            self._evaluate(trainer, pl_module, log=True, on_step=False)

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self._last_eval_step:
            self._evaluate(trainer, pl_module, log=False)  # Lightning refuses `log` here; kept in the report

    def _sample(self, pl_module: pl.LightningModule) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        states = {module: module.training for module in pl_module.modules()}
        try:
            with torch.no_grad():
                samples = self.sample_fn(pl_module.eval() if self.eval_mode else pl_module, self.num_samples, generator)
        finally:
            for module, training in states.items():
                module.training = training
        if not isinstance(samples, Tensor) or samples.ndim < 1 or samples.shape[0] != self.num_samples:
            shape = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
            raise ValueError(f"Expected `sample_fn` to return {self.num_samples} samples (n, ...), but got {shape}.")
        return samples.detach()

    @torch.no_grad()
    def _coverage(self, samples: Tensor) -> dict[str, float]:
        if self.classifier is not None:
            device = samples.device
            if isinstance(self.classifier, nn.Module):
                device = next(iter(self.classifier.parameters()), samples).device
            logits = self.classifier(torch.nan_to_num(samples.to(device)))
            counts, confident, total = classifier_mode_counts(logits, confidence=self.confidence)
            finite_rows = torch.isfinite(samples).flatten(1).all(1)
            confident = torch.minimum(confident, finite_rows.sum())
            self._report.num_modes = int(counts.numel())
            values = classifier_coverage(counts, confident, total)
        else:
            if self._modes is None or self._std is None:
                raise RuntimeError("GANStabilityCallback has no mixture modes: it is set up in `Trainer.fit`.")
            counts, total = mode_histogram(samples.flatten(1).float(), self._modes, self._std, threshold=self.threshold)
            values = coverage_from_counts(counts.cpu(), total.cpu())
        return {k: float(v) for k, v in values.items()}

    def _evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *, log: bool, on_step: bool = True) -> None:
        samples = self._sample(pl_module)
        if not bool(torch.isfinite(samples).all()):
            self._report.finite = False
        metrics = self._coverage(samples)
        for role, history in self._history.items():  # "d_...", then "g_..."
            metrics[f"{role[0]}_loss_var"] = _var([loss for loss, _ in history if math.isfinite(loss)])
            metrics[f"{role[0]}_grad_norm"] = _mean([norm for _, norm in history])
        report = self._report
        report.steps.append(int(trainer.global_step))
        for key, value in metrics.items():  # every metric is a list field of the report
            getattr(report, key).append(value)
        report.verdict = run_verdict(
            report.modes_captured, report.high_quality_share, report.reverse_kl, num_modes=report.num_modes,
            finite=report.finite, rule=self.rule,
        )
        self._last_eval_step = int(trainer.global_step)
        if log:
            values = {f"{self.log_prefix}{k}": v for k, v in metrics.items() if math.isfinite(v)}
            values[f"{self.log_prefix}verdict"] = float(VERDICTS.index(report.verdict))
            pl_module.log_dict(values, on_step=on_step, on_epoch=not on_step)

    def report(self) -> StabilityReport:
        """Everything measured so far in the current (or last) fit."""
        return self._report

    @property
    def verdict(self) -> str:
        """The current verdict (``"n/a"`` before the first evaluation)."""
        return self._report.verdict

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"report": asdict(self._report), "next_eval_step": self._next_eval_step}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._report = StabilityReport(**state_dict["report"])
        self._next_eval_step = int(state_dict["next_eval_step"])
