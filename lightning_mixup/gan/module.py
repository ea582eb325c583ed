"""A small reference GAN LightningModule with discriminator mixup, for 2D Gaussian mixtures.

The defaults are the mixup authors' GAN experiment (Zhang et al., "mixup: Beyond Empirical Risk Minimization",
ICLR 2018, https://arxiv.org/abs/1710.09412, §3.5; their ``gan/example_gan.py``): generator and discriminator are MLPs
with 3 hidden layers of 512 ReLU units, a 2D latent code, Adam with its default parameters (lr 1e-3) and five
discriminator steps before every generator step. Their generator loss is the *saturating* one
(``g_objective="saturating"``); the default here is the non-saturating loss of most later work (PacGAN, VEEGAN).

Discriminator mixup goes through :meth:`~lightning_mixup.MixupMixin.mix_discriminator`, configured by the
:class:`~lightning_mixup.MixupCallback` in the trainer (``alpha``, ``discriminator_mode``); the generator step is
never mixed. Without a ``MixupCallback`` (or with ``alpha=0``) the module trains the plain (ERM) GAN. Score its
training with :class:`~lightning_mixup.gan.GANStabilityCallback`.

Random streams: the latent codes come from the module's own CPU generator (:func:`noise_generator` of
``(noise_seed, rank)``, checkpointed), so a run is reproducible draw for draw and an ERM and a mixup run with the
same seeds see the same codes; the mixing draws come from the callback's per-batch stream.
"""

from __future__ import annotations

import hashlib
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn
from typing_extensions import override

from lightning_mixup._checks import check_choice, check_finite_float, check_int
from lightning_mixup.gan.losses import GENERATOR_OBJECTIVES, GeneratorObjective, generator_loss, soft_label_loss
from lightning_mixup.mixin import MixupMixin

__all__ = ["GANModule", "mlp", "noise_generator"]


def mlp(in_features: int, out_features: int, hidden: int, depth: int) -> nn.Sequential:
    """An MLP with ``depth`` hidden layers of ``hidden`` ReLU units and a linear output layer.

    Example:
        >>> mlp(2, 1, hidden=8, depth=1)
        Sequential(
          (0): Linear(in_features=2, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=1, bias=True)
        )
    """
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, out_features))


def noise_generator(seed: int, rank: int = 0) -> torch.Generator:
    """The CPU generator of a GAN's latent codes in one process, seeded from ``(seed, rank)``.

    Example:
        >>> bool(torch.equal(torch.rand(2, generator=noise_generator(0)), torch.rand(2, generator=noise_generator(0))))
        True
    """
    digest = hashlib.blake2b(f"gan-noise:{seed}:{rank}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


class GANModule(MixupMixin, pl.LightningModule):
    """An MLP GAN trained with manual optimization and binary cross-entropy; discriminator mixup via ``MixupCallback``.

    Every ``training_step`` (one batch of real samples ``(x,)`` or ``x``, shape ``(B, data_dim)``) is one
    discriminator step on a fresh latent batch; after every ``d_steps`` discriminator steps comes one generator step
    on its own latent batch. ``trainer.global_step`` counts both optimizers' steps, so ``Trainer(max_steps=N)``
    bounds their sum; the position in the cycle comes from ``global_step``, so a resumed run continues it. Logged:
    ``gan/d_loss`` and ``gan/g_loss``.

    Args:
        data_dim: the dimension of the data.
        latent_dim: the dimension of the generator's Gaussian input (2 in the mixup authors' code).
        g_hidden: units per hidden layer of the generator.
        g_depth: hidden layers of the generator.
        d_hidden: units per hidden layer of the discriminator.
        d_depth: hidden layers of the discriminator.
        lr_g: Adam learning rate of the generator.
        lr_d: Adam learning rate of the discriminator.
        d_steps: discriminator steps per generator step.
        g_objective: ``"non_saturating"`` or ``"saturating"`` (the mixup authors' code).
        noise_seed: seed of the latent codes (with the rank); ``None``: ``torch.initial_seed()`` at fit start (what
            ``seed_everything`` set), so ERM and mixup runs with the same global seed share their codes.

    Raises:
        ValueError: for invalid arguments.

    Example:
        >>> model = GANModule(g_hidden=16, d_hidden=16, g_depth=1, d_depth=1)
        >>> model(torch.zeros(4, 2)).shape, model.discriminate(torch.zeros(4, 2)).shape
        (torch.Size([4, 2]), torch.Size([4]))
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
        d_steps: int = 5,
        g_objective: GeneratorObjective = "non_saturating",
        noise_seed: int | None = None,
    ) -> None:
        super().__init__()
        sizes = {"data_dim": data_dim, "latent_dim": latent_dim, "g_hidden": g_hidden, "g_depth": g_depth,
                 "d_hidden": d_hidden, "d_depth": d_depth, "d_steps": d_steps}  # fmt: skip
        for name, value in sizes.items():
            check_int(value, name, minimum=0 if name.endswith("_depth") else 1)  # a depth may be 0: a linear network
        check_int(noise_seed, "noise_seed", minimum=0, optional=True)
        for name, rate in (("lr_g", lr_g), ("lr_d", lr_d)):
            check_finite_float(rate, name, minimum=0.0, allow_zero=False, min_positive=1e-12)
        check_choice(g_objective, "g_objective", GENERATOR_OBJECTIVES)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.latent_dim, self.d_steps, self.g_objective, self.noise_seed = latent_dim, d_steps, g_objective, noise_seed
        self.lr_g, self.lr_d = float(lr_g), float(lr_d)
        self.generator, self.discriminator = self.build_networks()
        self._noise_generator: torch.Generator | None = None

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """The generator ``(B, latent_dim) -> (B, data_dim)`` and the discriminator ``(B, data_dim) -> (B, 1)``.

        Called once in ``__init__``, after ``save_hyperparameters`` (a subclass reads its own options from
        ``self.hparams``); the generator is built first.
        """
        hp = self.hparams
        generator = mlp(hp["latent_dim"], hp["data_dim"], hp["g_hidden"], hp["g_depth"])
        return generator, mlp(hp["data_dim"], 1, hp["d_hidden"], hp["d_depth"])

    @override
    def forward(self, z: Tensor) -> Tensor:
        """Generated samples ``(B, data_dim)`` from latent codes ``(B, latent_dim)``."""
        return self.generator(z)

    def discriminate(self, x: Tensor) -> Tensor:
        """Discriminator logits ``(B,)``."""
        return self.discriminator(x).squeeze(-1)

    @property
    def noise(self) -> torch.Generator:
        """The generator of the latent codes (created at fit start; on first use outside a fit)."""
        if self._noise_generator is None:
            seed = self.noise_seed if self.noise_seed is not None else torch.initial_seed()
            rank = self.trainer.global_rank if self._trainer is not None else 0
            self._noise_generator = noise_generator(int(seed), rank)
        return self._noise_generator

    def sample_noise(self, n: int) -> Tensor:
        """``n`` latent codes ``(n, latent_dim)`` from the module's noise generator, on the module's device."""
        return torch.randn(n, self.latent_dim, generator=self.noise).to(self.device)

    @override
    def setup(self, stage: str) -> None:
        """Seed the latent codes of this process at fit start."""
        if stage == "fit":
            self._noise_generator = None
            _ = self.noise

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save the state of the latent-code generator."""
        checkpoint["gan_noise_generator_state"] = self.noise.get_state()

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the state of the latent-code generator."""
        state = checkpoint.get("gan_noise_generator_state")
        if state is not None:
            self.noise.set_state(state)

    @override
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam for the discriminator (first) and the generator (second)."""
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d)
        return [opt_d, torch.optim.Adam(self.generator.parameters(), lr=self.lr_g)]

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """The discriminator's BCE on ``cat([real, fake])`` with labels ``cat([1, 0])``, or on the mixed batch.

        The trainer's ``MixupCallback``, when there is one and its schedule is on, mixes the batch and gives the soft
        labels (:meth:`~lightning_mixup.MixupMixin.mix_discriminator`).
        """
        inputs, labels = self.mix_discriminator(real, fake)
        return soft_label_loss(self.discriminate(inputs), labels)

    @override
    def training_step(self, batch: Any, batch_idx: int) -> None:
        """One discriminator step on this batch, and a generator step after every ``d_steps`` of them."""
        real = batch[0] if isinstance(batch, (list, tuple)) else batch
        opt_d, opt_g = self.optimizers()  # type: ignore[attr-defined]
        position = self.global_step % (self.d_steps + 1)  # read before the steps below advance global_step
        self.toggle_optimizer(opt_d)
        with torch.no_grad():
            fake = self(self.sample_noise(len(real)))
        self._step(opt_d, self.discriminator_loss(real, fake), "gan/d_loss")
        self.untoggle_optimizer(opt_d)
        if position == self.d_steps - 1:
            self.toggle_optimizer(opt_g)
            logits = self.discriminate(self(self.sample_noise(len(real))))
            self._step(opt_g, generator_loss(logits, objective=self.g_objective), "gan/g_loss")
            self.untoggle_optimizer(opt_g)

    def _step(self, opt: LightningOptimizer, loss: Tensor, name: str) -> None:
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        self.log(name, loss.detach(), prog_bar=True)
