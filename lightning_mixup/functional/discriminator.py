"""Mixup for a GAN discriminator: train it on mixed real and generated samples with mixed soft labels.

Two forms, both for a discriminator trained with binary cross-entropy on logits (real = 1, fake = 0):

- ``"paper"`` (Zhang et al. 2018, §3.5): ``x̃ = λ·x_real + (1-λ)·G(z)`` with target ``λ``, λ ~ Beta(α, α) per
  sample, each real sample paired with one generated sample. The discriminator sees ``B`` mixed samples.
- ``"shuffle"`` (the authors' released GAN code): real and generated samples are concatenated with labels 1 and 0,
  every sample is mixed with a random partner from that shuffled ``2B`` batch, the labels alike, with a λ per
  sample drawn from U(0, α).

Losses that cannot take soft labels (hinge, Wasserstein) have no mixup form here; callers must refuse them.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from lightning_mixup._checks import check_choice, check_tensor
from lightning_mixup._device import to_device
from lightning_mixup.functional.apply import apply_mix, blend_pair, mix_values
from lightning_mixup.functional.sampling import MixParams, _alpha_arg_validation, sample_beta

DiscriminatorMode = Literal["paper", "shuffle"]
DISCRIMINATOR_MODES: tuple[str, ...] = ("paper", "shuffle")


def _discriminator_tensor_validation(real: Tensor, fake: Tensor) -> None:
    check_tensor(real, "real", floating=True)
    check_tensor(fake, "fake", floating=True)
    if real.shape != fake.shape or real.ndim < 1:
        raise ValueError(
            f"Expected `real` and `fake` of the same shape (B, ...), but got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}."
        )


def sample_discriminator_mix(
    batch_size: int,
    *,
    alpha: float,
    mode: DiscriminatorMode = "paper",
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> MixParams:
    """Draw the mixing parameters of a discriminator batch.

    Args:
        batch_size: the number ``B`` of real (and of generated) samples.
        alpha: Beta(α, α) concentration (``"paper"``) or the upper bound of U(0, α) (``"shuffle"``).
        mode: ``"paper"`` or ``"shuffle"``.
        generator: the source of randomness.
        validate_args: check the arguments.

    Returns:
        ``"paper"``: ``B`` parameters where sample ``i`` is real ``i`` (weight λ) mixed with fake ``i``
        (``index[i] = B + i`` into ``cat([real, fake])``). ``"shuffle"``: ``2B`` parameters over
        ``cat([real, fake])``.

    Example:
        >>> p = sample_discriminator_mix(3, alpha=1.0, generator=torch.Generator().manual_seed(0))
        >>> p.index.tolist()
        [3, 4, 5]
    """
    if validate_args:
        _alpha_arg_validation(alpha)
        check_choice(mode, "mode", DISCRIMINATOR_MODES)
        if mode == "shuffle" and alpha > 1:
            raise ValueError(
                f"Expected argument `alpha` in [0, 1] for mode='shuffle' (λ ~ U(0, α)), but got {alpha!r}."
            )
    if mode == "paper":
        lam = sample_beta(alpha, batch_size, generator=generator) if alpha > 0 else torch.ones(batch_size)
        return MixParams._trusted(lam, torch.arange(batch_size, 2 * batch_size))
    lam = torch.rand(2 * batch_size, generator=generator) * alpha if alpha > 0 else torch.ones(2 * batch_size)
    return MixParams._trusted(lam, torch.randperm(2 * batch_size, generator=generator))


def apply_discriminator_mix(real: Tensor, fake: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
    """Mixed discriminator inputs and their float32 soft labels (1 = real) from sampled parameters.

    Example:
        >>> real, fake = torch.ones(2, 1), torch.zeros(2, 1)
        >>> params = MixParams(lam=torch.tensor([0.25, 1.0]), index=torch.tensor([2, 3]))
        >>> inputs, labels = apply_discriminator_mix(real, fake, params)
        >>> inputs.squeeze(1).tolist(), labels.tolist()
        ([0.25, 1.0], [0.25, 1.0])
    """
    _discriminator_tensor_validation(real, fake)
    if not isinstance(params, MixParams):
        raise TypeError(f"Expected argument `params` to be a MixParams, but got {type(params).__name__}.")
    batch_size = real.shape[0]
    if params.index.numel() and int(params.index.max()) >= 2 * batch_size:
        raise ValueError(
            f"Expected `params.index` values in [0, {2 * batch_size}) (positions in cat([real, fake])), but got a "
            f"maximum of {int(params.index.max())}."
        )
    if params.batch_size == batch_size and torch.equal(params.index, torch.arange(batch_size, 2 * batch_size)):
        # the paper's form, directly: real i with fake i, target λ (real = 1, fake = 0)
        lam = to_device(params.lam, real.device)
        return blend_pair(real, fake, lam.view(-1, *([1] * (real.ndim - 1)))), lam.float()
    both = torch.cat([real, fake])
    labels = torch.cat([torch.ones(batch_size, device=real.device), torch.zeros(batch_size, device=real.device)])
    if params.batch_size == 2 * batch_size:
        full = params
    elif params.batch_size == batch_size:
        # paper form: only the first B rows (the real samples) are mixed and kept
        full = MixParams(
            lam=torch.cat([params.lam, torch.ones(batch_size)]),
            index=torch.cat([params.index, torch.arange(batch_size)]),
        )
    else:
        raise ValueError(
            f"Expected parameters for {batch_size} or {2 * batch_size} samples, but got {params.batch_size}."
        )
    mixed_labels = mix_values(labels, full)
    mixed = apply_mix(both, full, validate_args=False)
    if params.batch_size == batch_size:
        return mixed[:batch_size], mixed_labels[:batch_size]
    return mixed, mixed_labels


def mix_discriminator(
    real: Tensor,
    fake: Tensor,
    *,
    alpha: float,
    mode: DiscriminatorMode = "paper",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Discriminator mixup in one call: ``(inputs, soft labels)`` for ``F.binary_cross_entropy_with_logits``.

    Args:
        real: real samples ``(B, ...)``; not modified.
        fake: generated samples ``(B, ...)`` (detach them for the discriminator step); not modified.
        alpha: see :func:`sample_discriminator_mix`.
        mode: ``"paper"`` (B outputs) or ``"shuffle"`` (2B outputs).
        generator: the source of randomness.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> inputs, labels = mix_discriminator(torch.ones(4, 2), torch.zeros(4, 2), alpha=0.5, generator=g)
        >>> bool(torch.allclose(inputs[:, 0], labels))
        True
    """
    _discriminator_tensor_validation(real, fake)
    params = sample_discriminator_mix(real.shape[0], alpha=alpha, mode=mode, generator=generator)
    return apply_discriminator_mix(real, fake, params)
