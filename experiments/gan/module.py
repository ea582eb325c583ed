"""The study's GAN: :class:`~lightning_mixup.gan.GANModule` with PacGAN's architecture and update options.

The package's ``GANModule`` is one small reference GAN (ReLU MLPs, BCE, alternating updates, Adam with its default
betas). The study also trains PacGAN's 2D GAN (Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086, and
fjxmlzn/PacGAN): batch-normalised generator layers, maxout discriminator units, ``N(0, 0.02²)`` initial weights, Adam
with β1 0.8 and simultaneous updates (``updates="simultaneous"``: both networks step once per batch, from one
generated batch, each on the gradient taken at the other's weights before either step), and stacked digits with a
sigmoid output. :class:`StudyGAN` adds those options; with its defaults it is ``GANModule`` draw for draw. The
batched engine (:mod:`experiments.gan.batched`) builds these modules' networks and is tested against their
Lightning runs.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn
from typing_extensions import override

from lightning_mixup._checks import check_bool, check_choice, check_finite_float, check_int
from lightning_mixup.gan import GANModule, generator_loss, soft_label_loss
from lightning_mixup.gan.losses import GeneratorObjective

__all__ = ["OUTPUT_ACTIVATIONS", "UPDATE_SCHEDULES", "Maxout", "StudyGAN", "mlp"]

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
    """An MLP with ``depth`` hidden layers of ``hidden`` units (with the defaults: :func:`lightning_mixup.gan.mlp`).

    Args:
        in_features: input size.
        out_features: output size.
        hidden: units per hidden layer.
        depth: hidden layers.
        batchnorm: ``Linear`` (without bias) → ``BatchNorm1d`` → ``ReLU`` hidden layers (PacGAN's generator).
        maxout: ``> 1``: maxout hidden units with this many pieces instead of ReLU (PacGAN's discriminator: 5).
        output: activation of the output layer.

    Example:
        >>> mlp(2, 1, hidden=8, depth=1, maxout=5)
        Sequential(
          (0): Maxout(
            (linear): Linear(in_features=2, out_features=40, bias=True)
          )
          (1): Linear(in_features=8, out_features=1, bias=True)
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


class StudyGAN(GANModule):
    """:class:`~lightning_mixup.gan.GANModule` with the study's options (PacGAN's GAN, stacked digits).

    With ``updates="simultaneous"`` (PacGAN's code; ``d_steps=1``) each batch updates both networks from one latent
    batch: the discriminator's loss on the real batch and that generated batch, the generator's loss on the same
    generated batch, both gradients taken before either network steps (one latent draw per batch). The generator's
    batch-norm statistics then move once per batch instead of twice.

    Args:
        data_dim: see ``GANModule``.
        latent_dim: see ``GANModule``.
        g_hidden: see ``GANModule``.
        g_depth: see ``GANModule``.
        d_hidden: see ``GANModule``.
        d_depth: see ``GANModule``.
        lr_g: see ``GANModule``.
        lr_d: see ``GANModule``.
        d_steps: see ``GANModule``.
        g_objective: see ``GANModule``.
        noise_seed: see ``GANModule``.
        betas: Adam betas of both optimizers (PacGAN: (0.8, 0.999)).
        updates: ``"alternating"`` (``GANModule``'s schedule) or ``"simultaneous"`` (needs ``d_steps=1``).
        g_batchnorm: batch-normalised generator hidden layers (PacGAN).
        d_maxout: maxout pieces of the discriminator's hidden units (1: ReLU; PacGAN: 5).
        g_output: the generator's output activation (``"sigmoid"`` for images in [0, 1]).
        init_std: initial weights ``N(0, init_std²)`` and zero biases for every linear layer (PacGAN: 0.02);
            ``None`` keeps PyTorch's default initialisation.

    Example:
        >>> model = StudyGAN(g_hidden=16, d_hidden=16, g_depth=1, d_depth=1, d_maxout=5, g_output="tanh")
        >>> model(torch.zeros(4, 2)).abs().max() <= 1
        tensor(True)
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
        betas: tuple[float, float] = (0.9, 0.999),
        updates: UpdateSchedule = "alternating",
        g_batchnorm: bool = False,
        d_maxout: int = 1,
        g_output: OutputActivation = "linear",
        init_std: float | None = None,
    ) -> None:
        check_int(d_maxout, "d_maxout", minimum=1)
        if init_std is not None:
            check_finite_float(init_std, "init_std", minimum=0.0, allow_zero=False, min_positive=1e-12)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Expected argument `betas` to be two floats in [0, 1), but got {betas!r}.")
        check_choice(updates, "updates", UPDATE_SCHEDULES)
        if updates == "simultaneous" and d_steps != 1:
            raise ValueError(
                f"Expected `d_steps=1` with updates='simultaneous' (each batch steps both networks once), but got "
                f"d_steps={d_steps}. Use d_steps=1, or updates='alternating' for several discriminator steps."
            )
        check_choice(g_output, "g_output", OUTPUT_ACTIVATIONS)
        check_bool(g_batchnorm, "g_batchnorm")
        super().__init__(
            data_dim, latent_dim, g_hidden, g_depth, d_hidden, d_depth, lr_g, lr_d, d_steps, g_objective, noise_seed
        )
        self.betas = (float(betas[0]), float(betas[1]))
        self.updates = updates

    @override
    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """PacGAN's options on top of GANModule's MLPs; ``init_std`` re-initialises generator, then discriminator."""
        hp = self.hparams
        generator = mlp(
            hp.latent_dim, hp.data_dim, hp.g_hidden, hp.g_depth, batchnorm=hp.g_batchnorm, output=hp.g_output
        )
        discriminator = mlp(hp.data_dim, 1, hp.d_hidden, hp.d_depth, maxout=hp.d_maxout)
        if hp.init_std is not None:
            for layer in [*generator.modules(), *discriminator.modules()]:
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, 0.0, hp.init_std)
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)
        return generator, discriminator

    @override
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam with ``betas`` for the discriminator (first) and the generator (second)."""
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d, betas=self.betas)
        return [opt_d, torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas)]

    @override
    def training_step(self, batch: Any, batch_idx: int) -> None:
        """``GANModule``'s step, or with ``updates="simultaneous"`` both networks' steps from one latent batch."""
        if self.updates != "simultaneous":
            return super().training_step(batch, batch_idx)
        real = batch[0] if isinstance(batch, (list, tuple)) else batch
        opt_d, opt_g = self.optimizers()  # type: ignore[attr-defined]
        fake = self(self.sample_noise(len(real)))
        self.toggle_optimizer(opt_g)  # the generator's loss gives the discriminator's weights no gradient
        g_loss = generator_loss(self.discriminate(fake), objective=self.g_objective)
        self.untoggle_optimizer(opt_g)
        inputs, labels = self.mix_discriminator(real, fake.detach())
        d_loss = soft_label_loss(self.discriminate(inputs), labels)
        opt_d.zero_grad()
        opt_g.zero_grad()
        self.manual_backward(d_loss)
        self.manual_backward(g_loss)  # both gradients at the weights before either step
        opt_d.step()
        opt_g.step()
        self.log_dict({"gan/d_loss": d_loss.detach(), "gan/g_loss": g_loss.detach()}, prog_bar=True)
        return None
