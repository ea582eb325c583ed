r"""Mixup inference (MI): Pang, Xu & Zhu's test-time defence for mixup-trained classifiers, as a randomised model.

MI mixes the input ``x`` with clean samples ``x_s`` drawn from a pool and averages the classifier's predictions:

.. math::

    F_{MI}(x) = \frac{1}{N} \sum_{k=1}^{N} \mathrm{softmax}\big(f(\lambda x + (1 - \lambda) x_{s,k})\big)

so an adversarial perturbation is shrunk by ``λ`` and moved into a random context (the paper's "perturbation
shrinkage" and "input transfer"). Two ways to choose ``x_s``:

- **MI-PL** (``variant="pl"``, predicted label): ``x_s`` is drawn uniformly from the pool samples of the class
  ``ŷ = argmax f(x)`` that the undefended model predicts for ``x``.
- **MI-OL** (``variant="ol"``, other labels): a class is drawn uniformly among the pool's classes other than ``ŷ``,
  then ``x_s`` uniformly among that class's pool samples (the official code's two-step draw, so every other class is
  equally likely whatever its share of the pool).

Each input row gets its own ``N`` independent draws. Details taken from the official code
(``attack_resnet_mixuptest_PL.py`` and ``attack_resnet_mixuptest_OL.py``): the mixture is ``λ·x + (1-λ)·x_s``
with λ weighting the input; the average is over **softmax probabilities**, not logits; λ defaults to 0.5 (their
``-lamda`` default, used for mixup-trained models; their README uses 0.6 for interpolated-AT models with MI-OL);
``N`` defaults to 30 (the OL script's ``-num_sample`` default; the PL script hard-codes 10); their pool is the first
1,000 (PL) or 10,000 (OL) shuffled images of the CIFAR test split (``train=False``, with training transforms) with
their labels.

Output convention. :class:`MixupInference` returns ``log F_MI(x)`` (log of the averaged probabilities, computed with
``logsumexp``), not probabilities: ``softmax`` of it is ``F_MI(x)`` exactly, its argmax is MI's prediction, and the
cross-entropy an attack computes on it is the NLL of the defended prediction. So it can be passed anywhere a model
returning logits is expected (torchattacks, the robustness evaluation). At ``λ = 1`` it is the undefended model's
``log_softmax``.

Adaptive attacks. The forward pass is differentiable in ``x`` (through ``λ·x``; the partner draw and ``ŷ`` are
discrete choices with zero derivative almost everywhere), and every call draws fresh partners from the module's
generator, so Expectation over Transformation (EOT: torchattacks' ``EOTPGD(MixupInference(...), eps, alpha, steps,
eot_iter)``) attacks the randomised prediction itself, as Athalye et al. (2018) ask of randomised defences; an
evaluation of MI against the undefended model's gradient alone is not an evaluation of MI. The official code's own
adaptive attack (``attack_resnet_mixuptest_OL_adaptive.py``) averages PGD perturbations of fixed mixtures instead.

Input space. The pool lives in the space ``x`` is given in; normalisation belongs inside ``model``. (Affine
normalisation commutes with mixing, since ``λ + (1 - λ) = 1``, so mixing before or after it is the same.)

Randomness follows the house sample/apply split: :func:`sample_mixup_partners` draws pool indices with an explicit
``torch.Generator``, :func:`apply_mixup_inference` is deterministic given them.

References:
    - Pang, Xu & Zhu, "Mixup Inference: Better Exploiting Mixup to Defend Adversarial Attacks", ICLR 2020,
      https://arxiv.org/abs/1909.11515; official code https://github.com/P2333/Mixup-Inference
    - Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML 2018,
      https://arxiv.org/abs/1802.00420 (EOT)
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from lightning_mixup._checks import check_choice, check_int, check_tensor, describe

__all__ = [
    "DEFAULT_MI_LAM",
    "DEFAULT_MI_NUM_SAMPLES",
    "MI_VARIANTS",
    "MixupInference",
    "apply_mixup_inference",
    "mixup_inference",
    "sample_mixup_partners",
]

MIVariant = Literal["pl", "ol"]
#: ``"pl"``: partners from the predicted class (MI-PL); ``"ol"``: from the other classes (MI-OL).
MI_VARIANTS: tuple[str, ...] = ("pl", "ol")
DEFAULT_MI_LAM = 0.5
DEFAULT_MI_NUM_SAMPLES = 30


def _check_lam(lam: Any) -> None:
    ok = isinstance(lam, (int, float)) and not isinstance(lam, bool) and math.isfinite(lam) and 0 < lam <= 1
    if not ok:
        raise ValueError(f"Expected argument `lam` to be a float in (0, 1], but got {lam!r}.")


def _check_generator(generator: Any) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"Expected argument `generator` to be a torch.Generator or None, but got {describe(generator)}."
        )


def _check_pool(pool_x: Any, pool_y: Any, variant: str) -> None:
    check_tensor(pool_x, "pool_x", min_ndim=2, floating=True, shape_hint="(P, *features)")
    check_tensor(pool_y, "pool_y", min_ndim=1, floating=False, shape_hint="(P,)")
    if pool_y.ndim != 1 or pool_y.shape[0] != pool_x.shape[0] or pool_x.shape[0] == 0:
        raise ValueError(
            f"Expected arguments `pool_x` of shape (P, *features) and `pool_y` of shape (P,) with the same P >= 1, "
            f"but got shapes {tuple(pool_x.shape)} and {tuple(pool_y.shape)}."
        )
    if not torch.isfinite(pool_x).all():
        raise ValueError("Expected argument `pool_x` to be finite, but got non-finite values.")
    if variant == "ol" and torch.unique(pool_y).numel() < 2:
        raise ValueError(
            f"Expected argument `pool_y` to hold at least 2 classes for variant='ol' (partners come from classes other "
            f"than the predicted one), but got only {pool_y.unique().tolist()}."
        )


def sample_mixup_partners(
    predicted: Tensor,
    pool_y: Tensor,
    *,
    num_samples: int = DEFAULT_MI_NUM_SAMPLES,
    variant: MIVariant = "pl",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw the pool indices of MI's partners: ``num_samples`` independent draws per input row.

    Inputs:
        - ``predicted``: ``(B,)`` integer classes predicted by the undefended model.
        - ``pool_y``: ``(P,)`` integer labels of the pool.

    Args:
        predicted: the predicted class of each row.
        pool_y: the pool's labels.
        num_samples: draws per row (``N``).
        variant: ``"pl"``: uniform among the pool samples of the predicted class; ``"ol"``: a class uniform among the
            pool's other classes, then a sample uniform within it.
        generator: the random stream (on the device the draws are made on; CPU if ``None``).

    Returns:
        ``(num_samples, B)`` long indices into the pool, on ``pool_y``'s device.

    Raises:
        ValueError: for MI-PL when the pool has no sample of a predicted class, and for bad arguments.

    Example:
        >>> pool_y = torch.tensor([0, 0, 1, 2, 2, 2])
        >>> gen = torch.Generator().manual_seed(0)
        >>> idx = sample_mixup_partners(torch.tensor([2, 0]), pool_y, num_samples=4, generator=gen)
        >>> pool_y[idx].tolist()
        [[2, 0], [2, 0], [2, 0], [2, 0]]
        >>> idx = sample_mixup_partners(torch.tensor([2, 0]), pool_y, num_samples=4, variant="ol", generator=gen)
        >>> bool((pool_y[idx] != torch.tensor([2, 0])).all())
        True
    """
    check_choice(variant, "variant", MI_VARIANTS)
    check_int(num_samples, "num_samples", minimum=1)
    _check_generator(generator)
    check_tensor(predicted, "predicted", min_ndim=1, floating=False, shape_hint="(B,)")
    check_tensor(pool_y, "pool_y", min_ndim=1, floating=False, shape_hint="(P,)")
    device = pool_y.device
    predicted = predicted.to(device)
    order = torch.argsort(pool_y, stable=True)
    classes, counts = torch.unique(pool_y, sorted=True, return_counts=True)
    offsets = torch.cumsum(counts, dim=0) - counts
    draw_device = generator.device if generator is not None else torch.device("cpu")
    shape = (num_samples, predicted.shape[0])
    u_class = torch.rand(shape, generator=generator, dtype=torch.float64, device=draw_device).to(device)
    u_item = torch.rand(shape, generator=generator, dtype=torch.float64, device=draw_device).to(device)

    position = torch.searchsorted(classes, predicted).clamp_max(classes.numel() - 1)
    present = classes[position] == predicted
    if variant == "pl":
        if not present.all():
            missing = sorted(set(predicted[~present].tolist()))
            raise ValueError(
                f"Expected the pool to hold samples of every predicted class for variant='pl', but it has none of "
                f"class(es) {missing} (pool classes: {classes.tolist()})."
            )
        class_pos = position.expand(shape)
    else:
        if classes.numel() < 2:
            raise ValueError(
                f"Expected argument `pool_y` to hold at least 2 classes for variant='ol', but got only "
                f"{classes.tolist()}."
            )
        # uniform over the classes other than the predicted one (all classes if the pool lacks it)
        choices = classes.numel() - present.long()
        r = torch.floor(u_class * choices).long().clamp_max(choices - 1)
        class_pos = r + (present & (r >= position)).long()
    count = counts[class_pos]
    item = torch.floor(u_item * count).long().clamp_max(count - 1)
    return order[offsets[class_pos] + item]


def apply_mixup_inference(model: nn.Module, x: Tensor, pool_x: Tensor, partners: Tensor, *, lam: float) -> Tensor:
    """``log`` of the mean softmax of ``model(λ·x + (1-λ)·pool_x[partners])`` over the draws (deterministic).

    Inputs:
        - ``x``: ``(B, *features)``.
        - ``pool_x``: ``(P, *features)``.
        - ``partners``: ``(N, B)`` long indices into the pool (:func:`sample_mixup_partners`).

    Returns:
        ``(B, C)`` log-probabilities; the model runs once on all ``N·B`` mixtures. Differentiable in ``x``.

    Example:
        >>> model = nn.Linear(2, 3)
        >>> x, pool_x = torch.zeros(1, 2), torch.ones(4, 2)
        >>> out = apply_mixup_inference(model, x, pool_x, torch.tensor([[0], [3]]), lam=0.5)
        >>> torch.allclose(out, torch.log_softmax(model(torch.full((1, 2), 0.5)), dim=1))
        True
    """
    _check_lam(lam)
    _check_features(x, pool_x)
    if partners.ndim != 2 or partners.shape[1] != x.shape[0]:
        raise ValueError(
            f"Expected argument `partners` of shape (N, {x.shape[0]}), but got shape {tuple(partners.shape)}."
        )
    num_samples, batch = partners.shape
    mixed = lam * x.unsqueeze(0) + (1 - lam) * pool_x.to(x.dtype)[partners]
    logits = model(mixed.reshape(num_samples * batch, *x.shape[1:]))
    log_probs = torch.log_softmax(logits.reshape(num_samples, batch, -1), dim=-1)
    return torch.logsumexp(log_probs, dim=0) - math.log(num_samples)


def mixup_inference(
    model: nn.Module,
    x: Tensor,
    pool_x: Tensor,
    pool_y: Tensor,
    *,
    lam: float = DEFAULT_MI_LAM,
    num_samples: int = DEFAULT_MI_NUM_SAMPLES,
    variant: MIVariant = "pl",
    generator: torch.Generator | None = None,
) -> Tensor:
    """MI's defended prediction of ``x`` as log-probabilities ``(B, C)`` (functional twin of :class:`MixupInference`).

    The predicted class ``ŷ = argmax model(x)`` is computed without gradient; partners are drawn with
    :func:`sample_mixup_partners` and mixed with :func:`apply_mixup_inference`.

    Args:
        model: the classifier (returns logits); its train/eval mode is left as it is.
        x: ``(B, *features)`` inputs.
        pool_x: ``(P, *features)`` clean samples to mix with.
        pool_y: ``(P,)`` their integer labels.
        lam: the weight of ``x`` in the mixture, in ``(0, 1]``.
        num_samples: draws averaged per input (``N``).
        variant: ``"pl"`` (MI-PL) or ``"ol"`` (MI-OL).
        generator: the random stream of the draws.

    Raises:
        TypeError: for tensors of the wrong kind or a ``generator`` that is not a ``torch.Generator``.
        ValueError: for bad arguments or shapes, or (MI-PL) a predicted class absent from the pool.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Linear(2, 2)
        >>> pool_x, pool_y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
        >>> x = torch.tensor([[0.9, 0.1]])
        >>> out = mixup_inference(model, x, pool_x, pool_y, lam=1.0, num_samples=3)
        >>> torch.allclose(out, torch.log_softmax(model(x), dim=1))
        True
    """
    check_choice(variant, "variant", MI_VARIANTS)
    check_int(num_samples, "num_samples", minimum=1)
    _check_lam(lam)
    _check_generator(generator)
    check_tensor(x, "x", min_ndim=1, floating=True, shape_hint="(B, *features)")
    _check_pool(pool_x, pool_y, variant)
    return _mixup_inference(model, x, pool_x, pool_y, lam, num_samples, variant, generator)


def _check_features(x: Tensor, pool_x: Tensor) -> None:
    if x.shape[1:] != pool_x.shape[1:]:
        raise ValueError(
            f"Expected argument `x` of shape (B, {', '.join(map(str, pool_x.shape[1:]))}) to match the pool's "
            f"features, but got shape {tuple(x.shape)}."
        )


def _mixup_inference(
    model: nn.Module,
    x: Tensor,
    pool_x: Tensor,
    pool_y: Tensor,
    lam: float,
    num_samples: int,
    variant: MIVariant,
    generator: torch.Generator | None,
) -> Tensor:
    """:func:`mixup_inference` after its argument checks (the module checks its pool once, in ``__init__``)."""
    _check_features(x, pool_x)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    partners = sample_mixup_partners(
        predicted, pool_y.to(x.device), num_samples=num_samples, variant=variant, generator=generator
    )
    return apply_mixup_inference(model, x, pool_x.to(x.device), partners, lam=lam)


class MixupInference(nn.Module):
    """A classifier wrapped in mixup inference: ``forward(x)`` is MI's randomised, differentiable prediction.

    Returns ``log`` of the averaged softmax (module docstring), so it drops in where a logits model is expected,
    e.g. ``torchattacks.EOTPGD(MixupInference(model, pool_x, pool_y), eps=8/255, alpha=2/255, steps=10,
    eot_iter=10)``, which is how MI must be attacked (adaptively, through its randomness). Every call draws fresh
    partners from ``generator`` (seed it for reproducible draws). The pool is kept in non-persistent buffers, so
    ``.to(device)`` moves it and checkpoints do not store it; ``model`` is a submodule, so ``.eval()`` reaches it.

    Args:
        model: the classifier (logits), usually mixup-trained.
        pool_x: ``(P, *features)`` clean samples, in the input space of ``x``.
        pool_y: ``(P,)`` their integer labels.
        lam: the weight of the input in each mixture, in ``(0, 1]`` (official default 0.5).
        num_samples: draws averaged per input (official OL default 30).
        variant: ``"pl"`` (MI-PL) or ``"ol"`` (MI-OL).
        generator: the random stream of the draws (``None``: torch's global one).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Linear(2, 2)
        >>> pool_x, pool_y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
        >>> defended = MixupInference(model, pool_x, pool_y, variant="ol", generator=torch.Generator().manual_seed(0))
        >>> out = defended(torch.tensor([[0.9, 0.1], [0.2, 0.7]]))
        >>> out.shape, torch.allclose(out.exp().sum(dim=1), torch.ones(2))
        (torch.Size([2, 2]), True)
    """

    pool_x: Tensor
    pool_y: Tensor

    def __init__(
        self,
        model: nn.Module,
        pool_x: Tensor,
        pool_y: Tensor,
        *,
        lam: float = DEFAULT_MI_LAM,
        num_samples: int = DEFAULT_MI_NUM_SAMPLES,
        variant: MIVariant = "pl",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected argument `model` to be a torch.nn.Module, but got {describe(model)}.")
        check_choice(variant, "variant", MI_VARIANTS)
        check_int(num_samples, "num_samples", minimum=1)
        _check_lam(lam)
        _check_generator(generator)
        _check_pool(pool_x, pool_y, variant)
        self.model = model
        self.lam = float(lam)
        self.num_samples = num_samples
        self.variant: MIVariant = variant
        self.generator = generator
        self.register_buffer("pool_x", pool_x.detach().clone(), persistent=False)
        self.register_buffer("pool_y", pool_y.detach().clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """MI's log-probabilities ``(B, C)`` of ``x`` ``(B, *features)``, with fresh partner draws."""
        check_tensor(x, "x", min_ndim=1, floating=True, shape_hint="(B, *features)")
        return _mixup_inference(
            self.model, x, self.pool_x, self.pool_y, self.lam, self.num_samples, self.variant, self.generator
        )

    def extra_repr(self) -> str:
        """The MI settings, for ``print(module)``."""
        return f"variant={self.variant!r}, lam={self.lam}, num_samples={self.num_samples}, pool={self.pool_x.shape[0]}"
