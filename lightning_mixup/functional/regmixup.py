"""RegMixup: mixup as a regulariser, the cross-entropy of the clean batch plus the mixup loss of a mixed copy.

The paper's objective for a batch of ``B`` samples is ``CE(x, y) + η · mixCE(x̃, y, y[j], λ)`` with
``x̃ = λ·x + (1-λ)·x[j]`` and λ ~ Beta(α, α) with a large α (λ near 0.5). The official code concatenates the clean
and the mixed batch, runs one forward pass on the ``2B`` samples and takes
``λ · CE(logits, cat(y, y)) + (1-λ) · CE(logits, cat(y, y[j]))`` with torch's mean over the ``2B`` rows
(``models/regmixup.py`` lines 32-43): that is ``(CE_clean + mixCE) / 2``, i.e. the paper's loss with η = 1 times
the constant 1/2. :func:`apply_regmixup` builds exactly that batch, with labels such that the unchanged step
``F.cross_entropy(model(x), y)`` computes it: integer labels become
``MixedLabels(cat(y, y), cat(y, y[j]), cat(1, λ))`` (a clean row has λ = 1 and is plain cross-entropy), float
targets ``cat(y, λ·y + (1-λ)·y[j])``.

η ≠ 1 cannot be expressed by a plain mean over the ``2B`` rows: every row has weight ``1/2B`` in that mean, and
:class:`~lightning_mixup.functional.labels.MixedLabels` only splits a row's weight between its two labels, it does
not scale it. :func:`regmixup_loss` computes the paper's ``CE + η·mixCE`` from the logits of the ``2B`` rows, for a
training step that calls it (the mixin's route).

Defaults: α = 20 (the official commands for CIFAR-10, ``commands.sh``; CIFAR-100 uses α = 10), one λ per batch
and a random permutation of partners, as in the official ``mixup_data`` (``models/regularizers/mixup.py``).

References:
    - Pinto et al., "RegMixup: Mixup as a Regularizer Can Surprisingly Improve Accuracy and Out Distribution
      Robustness", NeurIPS 2022, https://arxiv.org/abs/2206.14502
    - Official code: https://github.com/FrancescoPinto/RegMixup (``models/regmixup.py``, ``commands.sh``)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._checks import check_finite_float, check_tensor, check_two_halves
from lightning_mixup.functional.apply import apply_mix, mix_values
from lightning_mixup.functional.labels import MixedLabels
from lightning_mixup.functional.sampling import MixMode, MixParams, sample_mixup

__all__ = ["REGMIXUP_ALPHA", "apply_regmixup", "regmixup_loss", "sample_regmixup"]

#: The official code's α for CIFAR-10 (``commands.sh``); the paper's CIFAR-100 runs use 10.
REGMIXUP_ALPHA = 20.0


def sample_regmixup(
    batch_size: int,
    *,
    alpha: float = REGMIXUP_ALPHA,
    mode: MixMode = "batch",
    generator: torch.Generator | None = None,
    validate_args: bool = True,
) -> MixParams:
    """Draw RegMixup's parameters: λ ~ Beta(α, α) and a partner for each of the ``B`` clean samples.

    The draws are those of :func:`~lightning_mixup.functional.sampling.sample_mixup` (same generator, same order),
    only with RegMixup's large default α: the clean half of the batch needs no random parameters.

    Args:
        batch_size: the number of clean samples ``B``.
        alpha: the Beta concentration α (paper: 20 for CIFAR-10, 10 for CIFAR-100); ``0`` gives λ = 1 (the mixed
            half is a copy of the clean half).
        mode: one λ per ``"batch"`` (official code), per ``"pair"`` or per ``"elem"``ent.
        generator: the source of randomness; ``None`` uses torch's global generator.
        validate_args: check the arguments.

    Returns:
        :class:`MixParams` for the ``B`` mixed samples.

    Raises:
        ValueError: if an argument is out of range.

    Example:
        >>> p = sample_regmixup(4, generator=torch.Generator().manual_seed(0))
        >>> p.lam.shape, bool(abs(float(p.lam[0]) - 0.5) < 0.3)
        (torch.Size([4]), True)
    """
    return sample_mixup(batch_size, alpha=alpha, mode=mode, generator=generator, validate_args=validate_args)


def _regmixup_tensor_validation(x: Tensor, y: Tensor, params: MixParams) -> None:
    check_tensor(x, "x", min_ndim=1, shape_hint="(B, ...)")
    check_tensor(y, "y", min_ndim=1, shape_hint="(B, ...)")
    if not isinstance(params, MixParams):
        raise TypeError(f"Expected argument `params` to be a MixParams, but got {type(params).__name__}.")
    if params.is_cutmix:
        raise ValueError("Expected mixup parameters (boxes=None) for RegMixup, but got CutMix parameters.")
    if x.shape[0] != params.batch_size or y.shape[0] != params.batch_size:
        raise ValueError(
            f"Expected `x` and `y` with the batch size of the mixing parameters, {params.batch_size}, in their first "
            f"dimension, but got shapes {tuple(x.shape)} and {tuple(y.shape)}."
        )


def apply_regmixup(x: Tensor, y: Tensor, params: MixParams, *, validate_args: bool = True) -> tuple[Tensor, Tensor]:
    """RegMixup's batch: the clean samples followed by their mixed copies, with labels over the ``2B`` rows.

    With integer labels the returned labels are ``MixedLabels(cat(y, y), cat(y, y[j]), cat(1, λ))``, so that
    ``F.cross_entropy(model(x2), y2)`` (mean reduction) is ``(CE_clean + mixCE) / 2``: the paper's
    ``CE + η·mixCE`` with η = 1, times 1/2, exactly what the official code computes. Float targets (soft or
    multi-label) become ``cat(y, λ·y + (1-λ)·y[j])``.

    Args:
        x: inputs ``(B, ...)``, floating point. Not modified.
        y: integer class labels ``(B, ...)`` or float targets ``(B, ...)``. Not modified.
        params: from :func:`sample_regmixup`.
        validate_args: check shapes.

    Returns:
        ``(x2, y2)``: inputs ``(2B, ...)`` and the labels of the ``2B`` rows.

    Raises:
        TypeError: if ``x`` or ``y`` is not a tensor, or ``params`` not a MixParams.
        ValueError: on a batch-size mismatch or CutMix parameters.

    Example:
        >>> x, y = torch.tensor([[0.0], [4.0]]), torch.tensor([0, 1])
        >>> params = MixParams(lam=torch.tensor([0.75, 0.75]), index=torch.tensor([1, 0]))
        >>> x2, y2 = apply_regmixup(x, y, params)
        >>> x2.flatten().tolist(), y2.y_b.tolist(), y2.lam.tolist()
        ([0.0, 4.0, 1.0, 3.0], [0, 1, 1, 0], [1.0, 1.0, 0.75, 0.75])
    """
    if validate_args:
        _regmixup_tensor_validation(x, y, params)
    mixed = apply_mix(x, params, validate_args=validate_args)
    inputs = torch.cat([x, mixed])
    if y.is_floating_point():
        return inputs, torch.cat([y, mix_values(y, params)])
    partner = y[params.index.to(y.device)]
    lam = torch.cat([torch.ones_like(params.lam), params.lam])
    return inputs, MixedLabels(torch.cat([y, y]), torch.cat([y, partner]), lam)


def regmixup_loss(
    logits: Tensor, y: Tensor, params: MixParams, *, eta: float = 1.0, validate_args: bool = True
) -> Tensor:
    """The paper's RegMixup loss ``CE(x, y) + η · mixCE(x̃)`` from the logits of :func:`apply_regmixup`'s batch.

    ``mixCE = mean_i [λ_i · CE(x̃_i, y_i) + (1 - λ_i) · CE(x̃_i, y_j)]`` with ``j = index[i]``; both terms are means
    over the ``B`` samples. With η = 1 this is twice ``F.cross_entropy(logits, labels)`` of the drop-in route.

    Args:
        logits: ``(2B, C)`` outputs for ``cat([x, x̃])``.
        y: integer class labels ``(B,)``.
        params: the parameters that built the batch.
        eta: the weight η ≥ 0 of the mixup term (paper: 1).
        validate_args: check arguments and shapes.

    Returns:
        The scalar loss.

    Raises:
        ValueError: if ``eta`` is negative or not finite, or on a shape mismatch.

    Example:
        >>> logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.0], [0.0, 0.5]])
        >>> params = MixParams(lam=torch.tensor([0.6, 0.6]), index=torch.tensor([1, 0]))
        >>> x2, labels = apply_regmixup(torch.zeros(2, 1), torch.tensor([0, 1]), params)
        >>> loss = regmixup_loss(logits, torch.tensor([0, 1]), params)
        >>> bool(torch.isclose(loss, 2 * F.cross_entropy(logits, labels)))
        True
    """
    batch_size = params.batch_size
    if validate_args:
        check_finite_float(eta, "eta", minimum=0.0)
        check_two_halves(logits, y, batch_size)
    clean, mixed = logits[:batch_size], logits[batch_size:]
    index = params.index.to(y.device)
    lam = params.lam.to(device=logits.device, dtype=torch.float32)
    ce_clean = F.cross_entropy(clean, y)
    loss_a = F.cross_entropy(mixed, y, reduction="none")
    loss_b = F.cross_entropy(mixed, y[index], reduction="none")
    mix_ce = (lam * loss_a + (1 - lam) * loss_b).mean()
    return ce_clean + eta * mix_ce
