r"""White-box attacks through torchattacks, in [0, 1] input space, and the one-gradient FGSM ε-sweep.

Conventions (decided once, here):

- **Input space.** Attacks perturb the inputs the dataloader yields, which must lie in [0, 1] (torchattacks clamps
  every adversarial example to [0, 1]); ε is measured there (L∞ or L2). A model that expects normalised inputs
  either contains its normalisation (as :class:`lightning_mixup.models.Classifier` with ``normalize_mean``) or the
  evaluator is given ``normalize_mean``/``normalize_std`` and :class:`AttackModel` applies ``(x - mean) / std``
  inside the attacked model. torchattacks' own ``set_normalization_used`` is never called: it assumes its inputs
  are already normalised and un-normalises them, which is the opposite convention.
- **Any input shape.** torchattacks' L2 PGD reshapes norms to ``(B, 1, 1, 1)``, so non-image inputs ``(B, F)``
  (tabular features) are presented to the attacks as ``(B, F, 1, 1)`` and :class:`AttackModel` restores the shape
  before calling the model.
- **Device.** torchattacks fixes an attack's device when it is constructed, so :class:`AttackSuite` is built once
  the model is on its final device (the evaluator does it in ``on_test_start``) and sets it explicitly.
- **L2 PGD at ε = 0.** torchattacks 3.5.1's ``PGDL2`` divides ``ε / ‖δ‖`` when projecting, which is
  ``0/0 = nan`` for a zero perturbation (always at ε = 0); such rows are replaced by the clean input, which is the
  exact iterate there (the ε = 0 sanity check caught this).
- **L2 PGD on confident models.** torchattacks' ``PGDL2`` normalises each example's gradient by
  ``‖g‖ + eps_for_division`` with a default of 1e-10; its loss is the batch-mean cross-entropy, so on a confident
  (saturated-softmax) example ``‖g‖`` is far below 1e-10 and the attack stalls: gradient masking made by the
  attack, not the model (measured: 41 of 114 breast-cancer test examples of an ERM MLP). The suite passes
  ``eps_for_division = 1e-30`` instead; the projection onto the ε-ball bounds the step either way.
- **PGD step size.** ``alpha = rel_step · ε / steps`` with ``rel_step = 2.5`` by default (the rule of Madry et
  al.'s ``robustness`` library), so the iterates can reach the boundary of the ball from its centre.

The FGSM sweep. FGSM's perturbation is ``ε · sign(∇ₓ CE(f(x), y))``: its sign does not depend on ε. So
:func:`fgsm_eps_sweep` runs torchattacks' :class:`~torchattacks.FGSM` once, at its reference ε, recovers the sign
as ``sign(x_ref - x)`` and builds every ``clamp(x + ε·sign, 0, 1)`` from it, with the same floating-point
operations torchattacks uses. The sign is recovered exactly wherever ``x`` is inside (0, 1); where ``x`` sits on
the box and the gradient points outwards (or the gradient is zero), the recovered sign is 0, and there torchattacks
returns ``x`` for every ε as well. The adversarial inputs are therefore bitwise equal to running torchattacks' FGSM
at each ε, provided (1) the inputs are in [0, 1], (2) the reference ε is at least the machine epsilon of the input
dtype (so ``x + ε_ref ≠ x``), and (3) the model's gradient is deterministic (torchattacks recomputes it per call;
the sweep computes it once). A test checks the equality. One input gradient per batch instead of one per ε.

References:
    - FGSM: Goodfellow, Shlens & Szegedy, ICLR 2015, https://arxiv.org/abs/1412.6572
    - PGD: Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083
    - torchattacks: Kim, 2020, https://arxiv.org/abs/2010.01950
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from torch import Tensor, nn

AttackName = Literal["fgsm", "pgd", "pgdl2"]
ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "pgdl2")
PGDL2_EPS_FOR_DIVISION = 1e-30


class AttackModel(nn.Module):
    """The module the attacks see: ``model(normalise(x.reshape(sample_shape)))`` for inputs in [0, 1].

    Args:
        model: the classifier; returns logits ``(B, C)``.
        normalize_mean: per-channel (dim 1) mean of a normalisation applied before ``model`` (``None``: none).
        normalize_std: per-channel standard deviation of that normalisation.

    Attributes:
        sample_shape: the shape of one input as the model expects it; inputs of another shape (the attacks'
            ``(B, F, 1, 1)``) are reshaped to ``(B, *sample_shape)``. ``None``: no reshape.

    Example:
        >>> model = AttackModel(nn.Flatten(), normalize_mean=[0.5, 0.5], normalize_std=[0.5, 0.5])
        >>> model.sample_shape = (2,)
        >>> model(torch.tensor([[0.0, 1.0]]).view(1, 2, 1, 1))
        tensor([[-1.,  1.]])
    """

    mean: Tensor | None
    std: Tensor | None

    def __init__(
        self,
        model: nn.Module,
        normalize_mean: Sequence[float] | None = None,
        normalize_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected argument `model` to be a torch.nn.Module, but got {type(model).__name__}.")
        if (normalize_mean is None) != (normalize_std is None):
            raise ValueError("Expected both `normalize_mean` and `normalize_std`, or neither.")
        self.model = model
        self.sample_shape: tuple[int, ...] | None = None
        if normalize_mean is not None and normalize_std is not None:
            mean, std = list(normalize_mean), list(normalize_std)
            if len(mean) != len(std) or not mean or not all(math.isfinite(s) and s > 0 for s in std):
                raise ValueError(
                    "Expected `normalize_mean` and `normalize_std` of the same non-zero length with finite std > 0, "
                    f"but got {mean} and {std}."
                )
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)
        else:
            self.mean = self.std = None

    def forward(self, x: Tensor) -> Tensor:
        """Logits of ``x`` (``(B, *sample_shape)`` or the attacks' 4-d view of it)."""
        if self.sample_shape is not None and tuple(x.shape[1:]) != self.sample_shape:
            x = x.reshape(x.shape[0], *self.sample_shape)
        if self.mean is not None and self.std is not None:
            if x.ndim < 2 or x.shape[1] != self.mean.numel():
                raise ValueError(
                    f"Expected inputs with {self.mean.numel()} channels (dim 1) to match `normalize_mean`, but got "
                    f"shape {tuple(x.shape)}."
                )
            shape = (1, -1, *([1] * (x.ndim - 2)))
            x = (x - self.mean.to(x.dtype).view(shape)) / self.std.to(x.dtype).view(shape)
        return self.model(x)


def as_attack_input(x: Tensor) -> Tensor:
    """The 4-d view torchattacks needs: images ``(B, C, H, W)`` unchanged, anything else ``(B, F, 1, 1)``.

    Example:
        >>> as_attack_input(torch.zeros(3, 5)).shape
        torch.Size([3, 5, 1, 1])
    """
    return x if x.ndim == 4 else x.reshape(x.shape[0], -1, 1, 1)


def fgsm_eps_sweep(attack: object, images: Tensor, labels: Tensor, eps: Sequence[float]) -> list[Tensor]:
    """FGSM adversarial examples at every ε of ``eps`` from one torchattacks FGSM call (one input gradient).

    See the module docstring for the method and its exactness conditions: the outputs equal
    ``torchattacks.FGSM(model, eps=e)(images, labels)`` for every ``e``, bitwise.

    Args:
        attack: a ``torchattacks.FGSM``; its ``eps`` is the reference ε (any value ≥ the dtype's machine epsilon).
        images: inputs in [0, 1], ``(B, C, H, W)``.
        labels: integer labels ``(B,)``.
        eps: the ε values (≥ 0).

    Returns:
        One adversarial batch per ε, in the order of ``eps``.

    Raises:
        TypeError: if ``attack`` is not a ``torchattacks.FGSM``.
        ValueError: if an ε is negative or the reference ε is below the dtype's machine epsilon.

    Example:
        >>> import torchattacks
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).eval()
        >>> x, y = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
        >>> sweep = fgsm_eps_sweep(torchattacks.FGSM(model, eps=0.3), x, y, [0.0, 0.1, 0.3])
        >>> all(torch.equal(adv, torchattacks.FGSM(model, eps=e)(x, y)) for adv, e in zip(sweep, [0.0, 0.1, 0.3]))
        True
    """
    import torchattacks

    if not isinstance(attack, torchattacks.FGSM):
        raise TypeError(f"Expected argument `attack` to be a torchattacks.FGSM, but got {type(attack).__name__}.")
    values = [float(e) for e in eps]
    if any(not math.isfinite(e) or e < 0 for e in values):
        raise ValueError(f"Expected argument `eps` to be finite non-negative floats, but got {values}.")
    reference = float(attack.eps)
    if reference < torch.finfo(images.dtype).eps:
        raise ValueError(
            f"Expected the FGSM reference `eps` to be at least the machine epsilon of {images.dtype} "
            f"({torch.finfo(images.dtype).eps:.3g}) so the gradient sign can be recovered, but got {reference}."
        )
    if bool(((images < 0) | (images > 1)).any()):
        # outside [0, 1] torchattacks' clamp can hide the sign (a pixel above 1 pushed up stays at 1), so it cannot
        # be recovered: run torchattacks once per ε instead, which is exact by construction
        advs = []
        for e in values:
            attack.eps = e
            advs.append(attack(images, labels))
        attack.eps = reference
        return advs
    x_ref = attack(images, labels)
    x = images.clone().detach().to(x_ref.device)  # as torchattacks does
    sign = torch.sign(x_ref - x)
    return [torch.clamp(x + e * sign, min=0, max=1).detach() for e in values]


class AttackSuite:
    """The torchattacks objects of one evaluation: FGSM (one-gradient sweep or one attack per ε), PGD, L2 PGD.

    Build it once the model is on its final device (torchattacks fixes the device at construction).

    Args:
        model: the attacked module (an :class:`AttackModel`), already on ``device``.
        device: the device the attacks put their inputs on.
        fgsm_eps: L∞ ε grid of FGSM.
        pgd_eps: L∞ ε grid of PGD.
        pgdl2_eps: L2 ε grid of PGD-L2.
        pgd_steps: PGD iterations.
        pgd_rel_step: PGD step size relative to ``ε / steps``.
        pgd_random_start: start PGD at a uniformly random point of the ball.
        fgsm_sweep: FGSM at all ε from one gradient (:func:`fgsm_eps_sweep`); ``False``: one torchattacks call per ε.

    Example:
        >>> model = AttackModel(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)))
        >>> suite = AttackSuite(model, torch.device("cpu"), fgsm_eps=[0.0, 0.1], pgd_eps=[0.1], pgdl2_eps=[])
        >>> [(name, eps) for name, eps, _ in suite.run(torch.rand(2, 1, 2, 2), torch.tensor([0, 1]))]
        [('fgsm', 0.0), ('fgsm', 0.1), ('pgd', 0.1)]
    """

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        fgsm_eps: Sequence[float] = (),
        pgd_eps: Sequence[float] = (),
        pgdl2_eps: Sequence[float] = (),
        pgd_steps: int = 10,
        pgd_rel_step: float = 2.5,
        pgd_random_start: bool = True,
        fgsm_sweep: bool = True,
    ) -> None:
        import torchattacks

        self.device = torch.device(device)
        self.fgsm_eps = [float(e) for e in fgsm_eps]
        self.fgsm_sweep = fgsm_sweep
        self.fgsm: list[torchattacks.Attack] = []
        if self.fgsm_eps and fgsm_sweep and max(self.fgsm_eps) > 0:
            self.fgsm = [torchattacks.FGSM(model, eps=max(self.fgsm_eps))]
        elif self.fgsm_eps:
            self.fgsm = [torchattacks.FGSM(model, eps=e) for e in self.fgsm_eps]
        self.pgd = [
            (float(e), torchattacks.PGD(model, eps=e, alpha=pgd_rel_step * e / pgd_steps, steps=pgd_steps,
                                        random_start=pgd_random_start))
            for e in pgd_eps
        ]
        self.pgdl2 = [
            (float(e), torchattacks.PGDL2(model, eps=e, alpha=pgd_rel_step * e / pgd_steps, steps=pgd_steps,
                                          random_start=pgd_random_start, eps_for_division=PGDL2_EPS_FOR_DIVISION))
            for e in pgdl2_eps
        ]
        for attack in [*self.fgsm, *(a for _, a in self.pgd), *(a for _, a in self.pgdl2)]:
            attack.set_device(self.device)

    @property
    def attacks(self) -> list[object]:
        """Every torchattacks object of the suite."""
        return [*self.fgsm, *(a for _, a in self.pgd), *(a for _, a in self.pgdl2)]

    def run(self, images: Tensor, labels: Tensor) -> Iterator[tuple[str, float, Tensor]]:
        """Yield ``(attack, ε, adversarial images)`` for every attack and ε; ``images`` 4-d, in [0, 1].

        Gradients must be enabled (call it under ``torch.enable_grad()``, not in inference mode).
        """
        if self.fgsm_eps:
            if self.fgsm_sweep and max(self.fgsm_eps) > 0:
                advs = fgsm_eps_sweep(self.fgsm[0], images, labels, self.fgsm_eps)
                yield from (("fgsm", e, adv) for e, adv in zip(self.fgsm_eps, advs, strict=True))
            else:
                for e, attack in zip(self.fgsm_eps, self.fgsm, strict=True):
                    yield "fgsm", e, attack(images, labels)
        for e, attack in self.pgd:
            yield "pgd", e, attack(images, labels)
        for e, attack in self.pgdl2:
            yield "pgdl2", e, _repair_pgdl2(attack(images, labels), images)


def _repair_pgdl2(adv: Tensor, images: Tensor) -> Tensor:
    """Undo torchattacks 3.5.1 PGDL2's 0/0 projection of a zero perturbation.

    A zero perturbation (ε = 0, or a zero gradient without random start) is projected with ``eps / ‖δ‖ = 0/0 = nan``.
    The true iterate is then ``images`` itself, and stays there (the next gradient is the same), so nan rows are
    replaced by the clean rows.
    """
    bad = torch.isnan(adv).flatten(1).any(dim=1)
    if not bool(bad.any()):
        return adv
    images = images.to(adv.device)
    return torch.where(bad.view(-1, *([1] * (adv.ndim - 1))), images, adv)


@contextmanager
def seeded_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's global RNG (CPU, and ``device`` if CUDA) seeded, then restore its state.

    torchattacks' random starts draw from the global generator; this makes them reproducible without touching the
    caller's random stream.

    Example:
        >>> with seeded_rng(0, torch.device("cpu")):
        ...     a = torch.rand(1)
        >>> with seeded_rng(0, torch.device("cpu")):
        ...     b = torch.rand(1)
        >>> bool(a == b)
        True
    """
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        if devices:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(seed)
        yield
