"""GAN losses for the discriminator and the generator, on raw discriminator outputs (logits / critic values).

- ``"bce"``: the standard GAN loss (Goodfellow et al., NeurIPS 2014, https://arxiv.org/abs/1406.2661) with the
  non-saturating generator loss ``-log σ(D(G(z)))`` or, with ``objective="saturating"``, the original minimax one
  ``log(1 - σ(D(G(z))))`` that the mixup authors' GAN code trains (it maximises the discriminator's cross-entropy);
  the discriminator loss is binary cross-entropy with logits, which takes *soft*
  labels and so is the one loss that mixup (Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412, §3.5) can
  train with.
- ``"hinge"``: ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]`` (Lim & Ye 2017, https://arxiv.org/abs/1705.02894).
- ``"wasserstein"``: ``E[D(G(z))] - E[D(x)]`` with weight clipping (Arjovsky et al. 2017,
  https://arxiv.org/abs/1701.07875).

Hinge and Wasserstein losses treat real and fake as two separate expectations; a mixed sample with a label of 0.3
has no meaning for them, so they cannot be combined with discriminator mixup.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "GAN_LOSSES",
    "GENERATOR_OBJECTIVES",
    "SOFT_LABEL_LOSSES",
    "GANLoss",
    "GeneratorObjective",
    "discriminator_loss",
    "generator_loss",
    "soft_label_loss",
]

GANLoss = Literal["bce", "hinge", "wasserstein"]
GAN_LOSSES: tuple[str, ...] = ("bce", "hinge", "wasserstein")
SOFT_LABEL_LOSSES: tuple[str, ...] = ("bce",)
GeneratorObjective = Literal["non_saturating", "saturating"]
GENERATOR_OBJECTIVES: tuple[str, ...] = ("non_saturating", "saturating")


def _loss_arg_validation(loss: str) -> None:
    if loss not in GAN_LOSSES:
        raise ValueError(f"Expected argument `loss` to be one of {GAN_LOSSES}, but got {loss!r}.")


def soft_label_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """The discriminator loss on (possibly mixed) inputs with soft labels in [0, 1] (1 = real): mean BCE with logits.

    Example:
        >>> import torch
        >>> round(float(soft_label_loss(torch.zeros(2), torch.tensor([1.0, 0.3]))), 4)
        0.6931
    """
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, loss: GANLoss = "bce") -> Tensor:
    """The unmixed discriminator loss of real and generated outputs ``(B,)`` each.

    For ``"bce"`` it is the mean over the ``2B`` outputs, ``soft_label_loss(cat([r, f]), cat([1, 0]))``.

    Example:
        >>> import torch
        >>> float(discriminator_loss(torch.tensor([2.0]), torch.tensor([-2.0]), "hinge"))
        0.0
    """
    _loss_arg_validation(loss)
    if loss == "bce":
        real = F.binary_cross_entropy_with_logits(real_logits, real_logits.new_ones(real_logits.shape))
        fake = F.binary_cross_entropy_with_logits(fake_logits, fake_logits.new_zeros(fake_logits.shape))
        return (real * real_logits.numel() + fake * fake_logits.numel()) / (real_logits.numel() + fake_logits.numel())
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return fake_logits.mean() - real_logits.mean()


def generator_loss(
    fake_logits: Tensor, loss: GANLoss = "bce", *, objective: GeneratorObjective = "non_saturating"
) -> Tensor:
    """The generator loss on the discriminator's outputs for generated samples.

    - ``"bce"``, ``objective="non_saturating"``: ``mean(-log σ(D(G(z))))``.
    - ``"bce"``, ``objective="saturating"``: ``mean(log(1 - σ(D(G(z))))) = mean(-softplus(D(G(z))))``. The mixup
      authors' code minimises ``-BCE`` over a shuffled batch of real and generated samples, which is this loss on
      the generated half divided by two (the real half has no gradient); Adam is invariant to that factor.
    - ``"hinge"``, ``"wasserstein"``: ``-mean(D(G(z)))`` (``objective`` must stay ``"non_saturating"``).

    Example:
        >>> import torch
        >>> logits = torch.zeros(3)
        >>> round(float(generator_loss(logits)), 4), round(float(generator_loss(logits, objective="saturating")), 4)
        (0.6931, -0.6931)
    """
    _loss_arg_validation(loss)
    if objective not in GENERATOR_OBJECTIVES:
        raise ValueError(f"Expected argument `objective` to be one of {GENERATOR_OBJECTIVES}, but got {objective!r}.")
    if loss == "bce":
        if objective == "saturating":
            return -F.softplus(fake_logits).mean()
        return F.binary_cross_entropy_with_logits(fake_logits, fake_logits.new_ones(fake_logits.shape))
    if objective != "non_saturating":
        raise ValueError(f"Expected `objective='non_saturating'` for loss={loss!r}, but got {objective!r}.")
    return -fake_logits.mean()
