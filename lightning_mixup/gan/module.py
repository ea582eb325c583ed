"""A reference GAN LightningModule with discriminator mixup, for the 2D Gaussian mixtures and stacked digits.

The architecture and schedule default to the mixup authors' GAN experiment (Zhang et al., "mixup: Beyond
Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412, §3.5; their ``gan/example_gan.py``):
generator and discriminator are MLPs with 3 hidden layers of 512 ReLU units, a 2D latent code, Adam with its
default parameters (lr 1e-3, betas (0.9, 0.999)) and five discriminator steps before every generator step, on
batches of 128. Their generator loss is the *saturating* one (``g_objective="saturating"``); the default here is
the non-saturating loss of most later work (PacGAN, VEEGAN). Options for PacGAN's 2D architecture (Lin et al.,
NeurIPS 2018, https://arxiv.org/abs/1712.04086): batch-normalised generator layers, maxout discriminator units,
``N(0, 0.02²)`` initial weights and simultaneous updates (``updates="simultaneous"``: both networks step once per
batch, from one generated batch, each on the gradient taken at the other's weights before either step).

Discriminator mixup goes through :meth:`~lightning_mixup.MixupMixin.mix_discriminator`, configured by the
:class:`~lightning_mixup.MixupCallback` in the trainer (``alpha``, ``discriminator_mode``); the generator step is
never mixed. Without a ``MixupCallback`` (or with ``alpha=0``) the module trains the plain (ERM) GAN.

Random streams: the latent codes come from the module's own CPU generator (:func:`noise_generator` of
``(noise_seed, rank)``, checkpointed), so a run is reproducible draw for draw and an ERM and a mixup run with the
same seeds see the same codes; the mixing draws come from the callback's per-batch stream.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn
from typing_extensions import override

from lightning_mixup._checks import check_bool, check_choice, check_finite_float, check_int
from lightning_mixup.gan.losses import (
    GAN_LOSSES,
    GENERATOR_OBJECTIVES,
    SOFT_LABEL_LOSSES,
    GANLoss,
    GeneratorObjective,
    discriminator_loss,
    generator_loss,
    soft_label_loss,
)
from lightning_mixup.gan.metrics import ModeCoverage
from lightning_mixup.mixin import MixupMixin

__all__ = ["OUTPUT_ACTIVATIONS", "UPDATE_SCHEDULES", "GANModule", "Maxout", "mlp", "noise_generator"]

OutputActivation = Literal["linear", "sigmoid", "tanh"]
OUTPUT_ACTIVATIONS: tuple[str, ...] = ("linear", "sigmoid", "tanh")
UpdateSchedule = Literal["alternating", "simultaneous"]
UPDATE_SCHEDULES: tuple[str, ...] = ("alternating", "simultaneous")


class Maxout(nn.Module):
    """A maxout layer (Goodfellow et al. 2013): ``Linear(in, out · pieces)``, then the max over each unit's pieces.

    Example:
        >>> Maxout(2, 3, pieces=5)(torch.zeros(4, 2)).shape
        torch.Size([4, 3])
    """

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        """``(…, in) -> (…, out)``."""
        # max, not amax: the same values, and a backward that routes through the argmax instead of comparing every
        # piece with the max (a third less time per step of PacGAN's discriminator in the batched engine)
        return self.linear(x).unflatten(-1, (self.out_features, self.pieces)).max(-1).values


def mlp(
    in_features: int,
    out_features: int,
    hidden: int,
    depth: int,
    *,
    batchnorm: bool = False,
    maxout: int = 1,
    output: OutputActivation = "linear",
) -> nn.Sequential:
    """An MLP with ``depth`` hidden layers of ``hidden`` units.

    Args:
        in_features: input size.
        out_features: output size.
        hidden: units per hidden layer.
        depth: hidden layers.
        batchnorm: ``Linear`` (without bias) → ``BatchNorm1d`` → ``ReLU`` hidden layers (PacGAN's generator).
        maxout: ``> 1``: maxout hidden units with this many pieces instead of ReLU (PacGAN's discriminator: 5).
        output: activation of the output layer.

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
        if maxout > 1:
            layers.append(Maxout(width, hidden, maxout))
        elif batchnorm:
            layers += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        else:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_features))
    if output == "sigmoid":
        layers.append(nn.Sigmoid())
    elif output == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def noise_generator(seed: int, rank: int = 0) -> torch.Generator:
    """The CPU generator of a GAN's latent codes in one process, seeded from ``(seed, rank)``.

    Example:
        >>> bool(torch.equal(torch.rand(2, generator=noise_generator(0)), torch.rand(2, generator=noise_generator(0))))
        True
    """
    digest = hashlib.blake2b(f"gan-noise:{seed}:{rank}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def _grad_norm(parameters: Any) -> float:
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0


class GANModule(MixupMixin, pl.LightningModule):
    """An MLP GAN trained with manual optimization; discriminator mixup via ``MixupCallback``.

    Every ``training_step`` (one batch of real samples) is one discriminator step; after every ``d_steps``
    discriminator steps comes one generator step (``updates="alternating"``, the default: the generator step draws
    its own latent batch and sees the discriminator after its step). With ``updates="simultaneous"`` (PacGAN's
    code; ``d_steps=1``) each batch updates both networks from one latent batch: the discriminator's loss on the
    real batch and that generated batch, the generator's loss on the same generated batch, both gradients taken
    before either network steps. Both optimizers' steps count: ``trainer.global_step`` advances once per
    *optimizer* step, so one generator iteration (``d_steps`` + 1 optimizer steps) advances it by ``d_steps + 1``
    and ``Trainer(max_steps=N)`` bounds the sum of discriminator and generator steps. The position inside the cycle
    is derived from ``global_step``, so a resumed run continues the cycle where it stopped.

    Per discriminator step the draws are: one latent batch ``randn(B, latent_dim)`` from the noise generator (and,
    with a ``MixupCallback``, that batch's mixing parameters from the callback's stream); per generator step one
    more latent batch (none with ``updates="simultaneous"``). Batches are ``(x,)`` tuples or tensors
    ``(B, data_dim)`` of real samples, e.g. from :class:`~lightning_mixup.gan.RingDataModule`. When the
    datamodule has ``modes`` and ``std`` the module logs the mode-coverage metrics of ``eval_samples`` generated
    samples every ``eval_every`` generator steps (``gan/modes_captured``, ``gan/high_quality_share``,
    ``gan/reverse_kl``), and always the losses and gradient norms (``gan/d_loss``, ``gan/g_loss``,
    ``gan/d_grad_norm``, ``gan/g_grad_norm``). For the windowed stability verdict on any GAN use
    :class:`~lightning_mixup.gan.GANStabilityCallback`.

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
        updates: ``"alternating"`` or ``"simultaneous"`` (needs ``d_steps=1``), see above.
        loss: ``"bce"`` (the only one that takes mixup's soft labels), ``"hinge"`` or ``"wasserstein"`` (with
            weight clipping).
        g_objective: ``"non_saturating"`` or ``"saturating"`` (the mixup authors' code); ``"bce"`` only.
        g_batchnorm: batch-normalised generator hidden layers (PacGAN).
        d_maxout: maxout pieces of the discriminator's hidden units (1: ReLU; PacGAN: 5).
        g_output: the generator's output activation (``"sigmoid"`` for images in [0, 1]).
        init_std: initial weights ``N(0, init_std²)`` and zero biases for every linear layer (PacGAN: 0.02);
            ``None`` keeps PyTorch's default initialisation.
        wgan_clip: the discriminator weights are clipped to ``[-wgan_clip, wgan_clip]`` with ``"wasserstein"``.
        noise_seed: seed of the latent codes (with the rank); ``None``: ``torch.initial_seed()`` at fit start (what
            ``seed_everything`` set), so ERM and mixup runs with the same global seed share their codes.
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
        updates: UpdateSchedule = "alternating",
        loss: GANLoss = "bce",
        g_objective: GeneratorObjective = "non_saturating",
        g_batchnorm: bool = False,
        d_maxout: int = 1,
        g_output: OutputActivation = "linear",
        init_std: float | None = None,
        wgan_clip: float = 0.01,
        noise_seed: int | None = None,
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
            ("d_maxout", d_maxout, 1),
            ("eval_every", eval_every, 0),
            ("eval_samples", eval_samples, 1),
            ("eval_seed", eval_seed, 0),
        ):
            check_int(value, name, minimum=low)
        check_int(noise_seed, "noise_seed", minimum=0, optional=True)
        for name, rate in (("lr_g", lr_g), ("lr_d", lr_d), ("wgan_clip", wgan_clip)):
            check_finite_float(rate, name, minimum=0.0, allow_zero=False, min_positive=1e-12)
        if init_std is not None:
            check_finite_float(init_std, "init_std", minimum=0.0, allow_zero=False, min_positive=1e-12)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Expected argument `betas` to be two floats in [0, 1), but got {betas!r}.")
        check_choice(loss, "loss", GAN_LOSSES)
        check_choice(updates, "updates", UPDATE_SCHEDULES)
        if updates == "simultaneous" and d_steps != 1:
            raise ValueError(
                f"Expected `d_steps=1` with updates='simultaneous' (each batch steps both networks once), but got "
                f"d_steps={d_steps}. Use d_steps=1, or updates='alternating' for several discriminator steps."
            )
        check_choice(g_objective, "g_objective", GENERATOR_OBJECTIVES)
        check_choice(g_output, "g_output", OUTPUT_ACTIVATIONS)
        check_bool(g_batchnorm, "g_batchnorm")
        if g_objective == "saturating" and loss != "bce":
            raise ValueError(f"Expected `g_objective='non_saturating'` for loss={loss!r}, but got 'saturating'.")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.latent_dim = latent_dim
        self.d_steps = d_steps
        self.updates = updates
        self.loss = loss
        self.g_objective = g_objective
        self.lr_g, self.lr_d = float(lr_g), float(lr_d)
        self.betas = (float(betas[0]), float(betas[1]))
        self.wgan_clip = float(wgan_clip)
        self.noise_seed = noise_seed
        self.eval_every = eval_every
        self.eval_samples = eval_samples
        self.eval_seed = eval_seed
        self.generator = mlp(latent_dim, data_dim, g_hidden, g_depth, batchnorm=g_batchnorm, output=g_output)
        self.discriminator = mlp(data_dim, 1, d_hidden, d_depth, maxout=d_maxout)
        if init_std is not None:
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, 0.0, init_std)
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)
        self.coverage: ModeCoverage | None = None
        self._noise_generator: torch.Generator | None = None

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

    @property
    def noise(self) -> torch.Generator:
        """The generator of the latent codes (created at fit start; on first use outside a fit)."""
        if self._noise_generator is None:
            seed = self.noise_seed if self.noise_seed is not None else torch.initial_seed()
            rank = self.trainer.global_rank if self._trainer is not None else 0
            self._noise_generator = noise_generator(int(seed), rank)
        return self._noise_generator

    @override
    def setup(self, stage: str) -> None:
        """Check the loss against the trainer's ``MixupCallback``, seed the codes, build the coverage metric."""
        callback = self.mixup_callback
        mixing = callback is not None and callback.policy.alpha > 0 and callback.policy.prob > 0
        if mixing and self.loss not in SOFT_LABEL_LOSSES:
            raise ValueError(
                f"Expected GANModule(loss=...) to be one of {SOFT_LABEL_LOSSES} when a MixupCallback with alpha > 0 "
                f"mixes the discriminator, but got loss={self.loss!r}, which cannot take mixup's soft labels. Use "
                "loss='bce', or train without discriminator mixup (remove the MixupCallback or set alpha=0)."
            )
        if stage == "fit":
            self._noise_generator = None
            _ = self.noise
        datamodule = getattr(self.trainer, "datamodule", None)
        modes, std = getattr(datamodule, "modes", None), getattr(datamodule, "std", None)
        if self.coverage is None and isinstance(modes, Tensor) and isinstance(std, float) and self.eval_every:
            self.coverage = ModeCoverage(modes, std)

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
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d, betas=self.betas)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas)
        return [opt_d, opt_g]

    def sample_noise(self, n: int) -> Tensor:
        """``n`` latent codes ``(n, latent_dim)`` from the module's noise generator, on the module's device."""
        return torch.randn(n, self.latent_dim, generator=self.noise).to(self.device)

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
        if self.updates == "simultaneous":
            self._simultaneous_step(real, opt_d, opt_g)
            return
        position = self.global_step % (self.d_steps + 1)  # read before the steps below advance global_step
        self._discriminator_step(real, opt_d)
        if position == self.d_steps - 1:
            self._generator_step(len(real), opt_g)

    def _discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        if self.loss == "bce":
            inputs, labels = self.discriminator_batch(real, fake)
            return soft_label_loss(self.discriminate(inputs), labels)
        return discriminator_loss(self.discriminate(real), self.discriminate(fake), self.loss)

    def _step_discriminator(self, opt: LightningOptimizer, loss: Tensor) -> None:
        """Step on the gradient already in ``.grad`` (then clip for ``"wasserstein"``) and log."""
        self.log("gan/d_grad_norm", _grad_norm(self.discriminator.parameters()))
        opt.step()
        if self.loss == "wasserstein":
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.wgan_clip, self.wgan_clip)
        self.log("gan/d_loss", loss.detach(), prog_bar=True)

    def _step_generator(self, opt: LightningOptimizer, loss: Tensor) -> None:
        """Step on the gradient already in ``.grad``, log, and evaluate when due."""
        self.log("gan/g_grad_norm", _grad_norm(self.generator.parameters()))
        opt.step()
        self.log("gan/g_loss", loss.detach(), prog_bar=True)
        g_steps = self.global_step // (self.d_steps + 1)  # global_step already counts this generator step
        if self.coverage is not None and g_steps % self.eval_every == 0:
            self.log_dict({f"gan/{k}": v for k, v in self.evaluate().items()})

    def _discriminator_step(self, real: Tensor, opt: LightningOptimizer) -> None:
        self.toggle_optimizer(opt)
        with torch.no_grad():
            fake = self.generate(self.sample_noise(len(real)))
        loss = self._discriminator_loss(real, fake)
        opt.zero_grad()
        self.manual_backward(loss)
        self._step_discriminator(opt, loss)
        self.untoggle_optimizer(opt)

    def _generator_step(self, batch_size: int, opt: LightningOptimizer) -> None:
        self.toggle_optimizer(opt)
        logits = self.discriminate(self.generate(self.sample_noise(batch_size)))
        loss = generator_loss(logits, self.loss, objective=self.g_objective)
        opt.zero_grad()
        self.manual_backward(loss)
        self.untoggle_optimizer(opt)
        self._step_generator(opt, loss)

    def _simultaneous_step(self, real: Tensor, opt_d: LightningOptimizer, opt_g: LightningOptimizer) -> None:
        fake = self.generate(self.sample_noise(len(real)))
        self.toggle_optimizer(opt_g)  # the generator's loss gives the discriminator's weights no gradient
        g_loss = generator_loss(self.discriminate(fake), self.loss, objective=self.g_objective)
        self.untoggle_optimizer(opt_g)
        d_loss = self._discriminator_loss(real, fake.detach())
        opt_d.zero_grad()
        opt_g.zero_grad()
        self.manual_backward(d_loss)
        self.manual_backward(g_loss)  # both gradients at the weights before either step
        self._step_discriminator(opt_d, d_loss)
        self._step_generator(opt_g, g_loss)

    @torch.no_grad()
    def evaluate(self) -> dict[str, Tensor]:
        """Mode coverage of ``eval_samples`` samples from fixed latent codes (generator in eval mode).

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
        was_training = self.generator.training
        self.generator.eval()
        try:
            samples = self.generate(z)
        finally:
            self.generator.train(was_training)
        self.coverage.reset()
        self.coverage.update(samples)
        return self.coverage.compute()
