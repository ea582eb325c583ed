"""A reference GAN LightningModule with discriminator mixup, for the 2D Gaussian-mixture benchmarks.

The architecture and schedule default to the mixup authors' GAN experiment (Zhang et al., "mixup: Beyond
Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412, §3.5 and appendix): generator and
discriminator are MLPs with 3 hidden layers of 512 ReLU units, a 2D latent code, Adam with its default parameters
(lr 1e-3, betas (0.9, 0.999)) and five discriminator steps before every generator step, on batches of 128.

Discriminator mixup goes through :meth:`~lightning_mixup.MixupMixin.mix_discriminator`, configured by the
:class:`~lightning_mixup.MixupCallback` in the trainer (``alpha``, ``discriminator_mode``); the generator step is
never mixed. Without a ``MixupCallback`` (or with ``alpha=0``) the module trains the plain (ERM) GAN.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn
from typing_extensions import override

from lightning_mixup.gan.losses import (
    GAN_LOSSES,
    SOFT_LABEL_LOSSES,
    GANLoss,
    discriminator_loss,
    generator_loss,
    soft_label_loss,
)
from lightning_mixup.gan.metrics import ModeCoverage
from lightning_mixup.mixin import MixupMixin

__all__ = ["GANModule", "mlp"]


def mlp(in_features: int, out_features: int, hidden: int, depth: int) -> nn.Sequential:
    """A ReLU MLP with ``depth`` hidden layers of ``hidden`` units.

    Example:
        >>> mlp(2, 1, hidden=8, depth=2)
        Sequential(
          (0): Linear(in_features=2, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=8, bias=True)
          (3): ReLU()
          (4): Linear(in_features=8, out_features=1, bias=True)
        )
    """
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def _grad_norm(parameters: Any) -> float:
    grads = [p.grad.detach().pow(2).sum() for p in parameters if p.grad is not None]
    return float(torch.stack(grads).sum().sqrt()) if grads else 0.0


class GANModule(MixupMixin, pl.LightningModule):
    """An MLP GAN for 2D toy data, trained with manual optimization; discriminator mixup via ``MixupCallback``.

    Every ``training_step`` (one batch of real samples) is one discriminator step; after every ``d_steps``
    discriminator steps comes one generator step. Both optimizers' steps count: ``trainer.global_step`` advances
    once per *optimizer* step, so one generator iteration (``d_steps`` + 1 optimizer steps) advances it by
    ``d_steps + 1`` and ``Trainer(max_steps=N)`` bounds the sum of discriminator and generator steps. The position
    inside the cycle is derived from ``global_step``, so a resumed run continues the cycle where it stopped.

    Batches are ``(x,)`` tuples or tensors ``(B, data_dim)`` of real samples, e.g. from
    :class:`~lightning_mixup.gan.RingDataModule`. When the datamodule has ``modes`` and ``std`` the module
    logs the mode-coverage metrics of ``eval_samples`` generated samples every ``eval_every`` generator steps
    (``gan/modes_captured``, ``gan/high_quality_share``, ``gan/reverse_kl``), and always the losses and
    gradient norms (``gan/d_loss``, ``gan/g_loss``, ``gan/d_grad_norm``, ``gan/g_grad_norm``).

    Args:
        data_dim: the dimension of the data.
        latent_dim: the dimension of the generator's Gaussian input (2 in the mixup authors' code).
        g_hidden: units per hidden layer of the generator.
        g_depth: hidden layers of the generator.
        d_hidden: units per hidden layer of the discriminator.
        d_depth: hidden layers of the discriminator.
        lr_g: Adam learning rate of the generator.
        lr_d: Adam learning rate of the discriminator.
        betas: Adam betas of both optimizers.
        d_steps: discriminator steps per generator step.
        loss: ``"bce"`` (non-saturating GAN; the only one that takes mixup's soft labels), ``"hinge"`` or
            ``"wasserstein"`` (with weight clipping).
        wgan_clip: the discriminator weights are clipped to ``[-wgan_clip, wgan_clip]`` with ``"wasserstein"``.
        eval_every: evaluate the coverage metrics every this many generator steps (0: never).
        eval_samples: generated samples per evaluation.
        eval_seed: seed of the fixed latent codes used for evaluation.

    Raises:
        ValueError: for invalid arguments; in ``setup``, if a loss other than ``"bce"`` meets a ``MixupCallback``
            whose mixing is enabled.

    Example:
        >>> model = GANModule(g_hidden=16, d_hidden=16, g_depth=1, d_depth=1)
        >>> model.generate(torch.zeros(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        data_dim: int = 2,
        latent_dim: int = 2,
        g_hidden: int = 512,
        g_depth: int = 3,
        d_hidden: int = 512,
        d_depth: int = 3,
        lr_g: float = 1e-3,
        lr_d: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        d_steps: int = 5,
        loss: GANLoss = "bce",
        wgan_clip: float = 0.01,
        eval_every: int = 100,
        eval_samples: int = 2048,
        eval_seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("data_dim", data_dim, 1),
            ("latent_dim", latent_dim, 1),
            ("g_hidden", g_hidden, 1),
            ("g_depth", g_depth, 0),
            ("d_hidden", d_hidden, 1),
            ("d_depth", d_depth, 0),
            ("d_steps", d_steps, 1),
            ("eval_every", eval_every, 0),
            ("eval_samples", eval_samples, 1),
            ("eval_seed", eval_seed, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"Expected argument `{name}` to be an int >= {low}, but got {value!r}.")
        for name, rate in (("lr_g", lr_g), ("lr_d", lr_d), ("wgan_clip", wgan_clip)):
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not rate > 0:
                raise ValueError(f"Expected argument `{name}` to be a positive float, but got {rate!r}.")
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Expected argument `betas` to be two floats in [0, 1), but got {betas!r}.")
        if loss not in GAN_LOSSES:
            raise ValueError(f"Expected argument `loss` to be one of {GAN_LOSSES}, but got {loss!r}.")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.latent_dim = latent_dim
        self.d_steps = d_steps
        self.loss = loss
        self.lr_g, self.lr_d = float(lr_g), float(lr_d)
        self.betas = (float(betas[0]), float(betas[1]))
        self.wgan_clip = float(wgan_clip)
        self.eval_every = eval_every
        self.eval_samples = eval_samples
        self.eval_seed = eval_seed
        self.generator = mlp(latent_dim, data_dim, g_hidden, g_depth)
        self.discriminator = mlp(data_dim, 1, d_hidden, d_depth)
        self.coverage: ModeCoverage | None = None

    def generate(self, z: Tensor) -> Tensor:
        """Generated samples ``(B, data_dim)`` from latent codes ``(B, latent_dim)``."""
        return self.generator(z)

    @override
    def forward(self, z: Tensor) -> Tensor:
        """Same as :meth:`generate`."""
        return self.generate(z)

    def discriminate(self, x: Tensor) -> Tensor:
        """Discriminator outputs (logits for ``"bce"``) ``(B,)``."""
        return self.discriminator(x).squeeze(-1)

    @override
    def setup(self, stage: str) -> None:
        """Check the loss against the trainer's ``MixupCallback`` and build the coverage metric from the data."""
        callback = self.mixup_callback
        mixing = callback is not None and callback.policy.alpha > 0 and callback.policy.prob > 0
        if mixing and self.loss not in SOFT_LABEL_LOSSES:
            raise ValueError(
                f"Expected GANModule(loss=...) to be one of {SOFT_LABEL_LOSSES} when a MixupCallback with alpha > 0 "
                f"mixes the discriminator, but got loss={self.loss!r}, which cannot take mixup's soft labels. Use "
                "loss='bce', or train without discriminator mixup (remove the MixupCallback or set alpha=0)."
            )
        datamodule = getattr(self.trainer, "datamodule", None)
        modes, std = getattr(datamodule, "modes", None), getattr(datamodule, "std", None)
        if self.coverage is None and isinstance(modes, Tensor) and isinstance(std, float) and self.eval_every:
            self.coverage = ModeCoverage(modes, std)

    @override
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam for the discriminator (first) and the generator (second)."""
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d, betas=self.betas)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas)
        return [opt_d, opt_g]

    def _noise(self, n: int) -> Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def discriminator_batch(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """Inputs and soft labels (1 = real) of a discriminator step.

        Mixed by the trainer's ``MixupCallback`` when there is one and its schedule is on (through
        :meth:`~lightning_mixup.MixupMixin.mix_discriminator`), else ``cat([real, fake])`` with labels
        ``cat([1, 0])``.
        """
        return self.mix_discriminator(real, fake)

    @override
    def training_step(self, batch: Any, batch_idx: int) -> None:
        """One discriminator step on this batch, and a generator step after every ``d_steps`` of them."""
        real = batch[0] if isinstance(batch, (list, tuple)) else batch
        opt_d, opt_g = self.optimizers()  # type: ignore[attr-defined]
        position = self.global_step % (self.d_steps + 1)  # read before the steps below advance global_step
        self._discriminator_step(real, opt_d)
        if position == self.d_steps - 1:
            self._generator_step(len(real), opt_g)

    def _discriminator_step(self, real: Tensor, opt: LightningOptimizer) -> None:
        self.toggle_optimizer(opt)
        with torch.no_grad():
            fake = self.generate(self._noise(len(real)))
        if self.loss == "bce":
            inputs, labels = self.discriminator_batch(real, fake)
            loss = soft_label_loss(self.discriminate(inputs), labels)
        else:
            loss = discriminator_loss(self.discriminate(real), self.discriminate(fake), self.loss)
        opt.zero_grad()
        self.manual_backward(loss)
        self.log("gan/d_grad_norm", _grad_norm(self.discriminator.parameters()))
        opt.step()
        if self.loss == "wasserstein":
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.wgan_clip, self.wgan_clip)
        self.untoggle_optimizer(opt)
        self.log("gan/d_loss", loss.detach(), prog_bar=True)

    def _generator_step(self, batch_size: int, opt: LightningOptimizer) -> None:
        self.toggle_optimizer(opt)
        loss = generator_loss(self.discriminate(self.generate(self._noise(batch_size))), self.loss)
        opt.zero_grad()
        self.manual_backward(loss)
        self.log("gan/g_grad_norm", _grad_norm(self.generator.parameters()))
        opt.step()
        self.untoggle_optimizer(opt)
        self.log("gan/g_loss", loss.detach(), prog_bar=True)
        g_steps = self.global_step // (self.d_steps + 1)  # global_step already counts this generator step
        if self.coverage is not None and g_steps % self.eval_every == 0:
            self.log_dict({f"gan/{k}": v for k, v in self.evaluate().items()})

    @torch.no_grad()
    def evaluate(self) -> dict[str, Tensor]:
        """Mode coverage of ``eval_samples`` samples from fixed latent codes (needs a mixture datamodule).

        Raises:
            RuntimeError: if the module has no coverage metric (no datamodule with ``modes`` and ``std``).
        """
        if self.coverage is None:
            raise RuntimeError(
                "GANModule.evaluate() needs the mixture's modes: fit with a datamodule that has `modes` and `std` "
                "(e.g. lightning_mixup.gan.RingDataModule) and eval_every > 0."
            )
        g = torch.Generator().manual_seed(self.eval_seed)
        z = torch.randn(self.eval_samples, self.latent_dim, generator=g).to(self.device)
        self.coverage.reset()
        self.coverage.update(self.generate(z))
        return self.coverage.compute()
