"""GAN losses on raw discriminator logits: the standard (binary cross-entropy) GAN loss and its soft-label form.

The discriminator loss is binary cross-entropy with logits (Goodfellow et al., NeurIPS 2014,
https://arxiv.org/abs/1406.2661), which takes *soft* labels and so is the GAN loss that mixup (Zhang et al., ICLR 2018,
https://arxiv.org/abs/1710.09412, §3.5) trains with: a mixed sample with label 0.3 has no meaning for the hinge or
Wasserstein losses, which treat real and fake as two separate expectations. The generator loss is the non-saturating
``-log σ(D(G(z)))`` or, with ``objective="saturating"``, the original minimax ``log(1 - σ(D(G(z))))`` that the mixup
authors' GAN code trains (it maximises the discriminator's cross-entropy).
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._checks import check_choice

__all__ = ["GENERATOR_OBJECTIVES", "GeneratorObjective", "generator_loss", "soft_label_loss"]

GeneratorObjective = Literal["non_saturating", "saturating"]
GENERATOR_OBJECTIVES: tuple[str, ...] = ("non_saturating", "saturating")


def soft_label_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """The discriminator loss on (possibly mixed) inputs with soft labels in [0, 1] (1 = real): mean BCE with logits.

    Example:
        >>> import torch
        >>> round(float(soft_label_loss(torch.zeros(2), torch.tensor([1.0, 0.3]))), 4)
        0.6931
    """
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def generator_loss(fake_logits: Tensor, *, objective: GeneratorObjective = "non_saturating") -> Tensor:
    """The generator loss on the discriminator's logits for generated samples.

    - ``objective="non_saturating"``: ``mean(-log σ(D(G(z))))``.
    - ``objective="saturating"``: ``mean(log(1 - σ(D(G(z))))) = mean(-softplus(D(G(z))))``. The mixup authors' code
      minimises ``-BCE`` over a shuffled batch of real and generated samples, which is this loss on the generated
      half divided by two (the real half has no gradient); Adam is invariant to that factor.

    Example:
        >>> import torch
        >>> logits = torch.zeros(3)
        >>> round(float(generator_loss(logits)), 4), round(float(generator_loss(logits, objective="saturating")), 4)
        (0.6931, -0.6931)
    """
    check_choice(objective, "objective", GENERATOR_OBJECTIVES)
    if objective == "saturating":
        return -F.softplus(fake_logits).mean()
    return F.binary_cross_entropy_with_logits(fake_logits, fake_logits.new_ones(fake_logits.shape))
