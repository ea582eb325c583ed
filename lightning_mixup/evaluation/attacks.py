r"""Attacks through torchattacks, in [0, 1] input space: FGSM (one-gradient ε-sweep), PGD, AutoAttack, transfer.

torchattacks is an optional dependency (``pip install 'lightning-mixup[robustness]'``): this module imports without
it, and the first use that runs an attack raises a ``ModuleNotFoundError`` with that install line
(:func:`require_torchattacks`).

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
- **PGD restarts.** A single PGD run from a random start can end *weaker* than FGSM on an example: the start can
  land where the gradient leads away from the boundary. ``benchmarks/bench_attacks.py`` measures it on the bundled
  tables (30 MLPs, 5 values of ε, 8 PGD seeds: 1,200 cells): PGD-10 with one random start left more than one
  example more correct than FGSM in 13 cells, and so did PGD-20. PGD therefore runs first from the clean input
  (its first step goes where FGSM's goes) and then from ``pgd_restarts`` random starts on the examples still
  unbroken, and an example counts as broken if any run breaks it (Madry et al.'s evaluation with restarts):
  0 of the 1,200 cells failed, at 1.7× the cost of one run on the digits CNN. This is PGD made stronger, not the
  per-example worst of PGD and FGSM: the FGSM point is never used by PGD.
- **AutoAttack.** torchattacks' ``AutoAttack`` (Croce & Hein 2020) is an ensemble run in sequence on what is
  still unbroken: APGD-CE, APGD-T (targeted DLR), FAB-T and Square (5,000 queries, gradient-free: it is what
  exposes gradient masking). torchattacks runs APGD for 10 iterations (the reference implementation: 100), so
  its "standard" is weaker and cheaper than RobustBench's. Its DLR losses index the 3rd (APGD-DLR) and 4th
  (APGD-T) largest logits, so with fewer classes those components cannot run and are left out (named in the
  result's config). On a CPU, Square's sequential queries dominate: 50 s at one ε for 100 digits with the standard
  version, 11 s with ``version="fast"`` (APGD-CE, APGD-T or APGD-DLR below 4 classes, and Square with 1,000
  queries), 0.25 s for PGD (``benchmarks/results/robustness.md``; same accuracy, 0.57, for both versions).

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
    - AutoAttack: Croce & Hein, ICML 2020, https://arxiv.org/abs/2003.01690
    - Transfer (black-box) attacks: Papernot et al., 2016, https://arxiv.org/abs/1605.07277
    - torchattacks: Kim, 2020, https://arxiv.org/abs/2010.01950
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Literal

import torch
from lightning_utilities.core.imports import RequirementCache
from torch import Tensor, nn

from lightning_mixup._checks import check_bool, check_choice, check_finite_float, check_int, describe

AttackName = Literal["fgsm", "pgd", "pgdl2", "autoattack", "transfer_fgsm", "transfer_pgd"]
ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "pgdl2", "autoattack", "transfer_fgsm", "transfer_pgd")
AutoAttackVersion = Literal["standard", "plus", "rand", "fast"]
#: ``"standard"``, ``"plus"``, ``"rand"``: torchattacks' AutoAttack versions; ``"fast"``: APGD-CE, APGD-T (APGD-DLR
#: below 4 classes) and Square with :data:`FAST_SQUARE_QUERIES` queries.
AUTOATTACK_VERSIONS: tuple[str, ...] = ("standard", "plus", "rand", "fast")
FAST_SQUARE_QUERIES = 1000
PGDL2_EPS_FOR_DIVISION = 1e-30
TORCHATTACKS_REQUIREMENT = "torchattacks>=3.5.1"
ROBUSTNESS_INSTALL = "pip install 'lightning-mixup[robustness]'"
TORCHATTACKS_NO_DEPS = "pip install --no-deps torchattacks==3.5.1"


def require_torchattacks() -> ModuleType:
    """torchattacks, imported; without it a ``ModuleNotFoundError`` that names the install line.

    Raises:
        ModuleNotFoundError: if ``torchattacks>=3.5.1`` is not installed (or cannot be imported).

    Example:
        >>> require_torchattacks().__name__
        'torchattacks'
    """
    requirement = RequirementCache(TORCHATTACKS_REQUIREMENT, "torchattacks")
    cause: BaseException | None = None
    if requirement:
        try:
            import torchattacks
        except ImportError as err:
            cause = err
        else:
            return torchattacks
    raise ModuleNotFoundError(
        f"The attacks of `lightning_mixup.evaluation` need {TORCHATTACKS_REQUIREMENT}, which is not available "
        f"({cause or requirement}). Install the robustness extra: {ROBUSTNESS_INSTALL} (or, where pip's torchvision "
        f"would not match your torch, `{TORCHATTACKS_NO_DEPS}`: see the install docs)."
    ) from cause


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
    torchattacks = require_torchattacks()
    if not isinstance(attack, torchattacks.FGSM):
        raise TypeError(f"Expected argument `attack` to be a torchattacks.FGSM, but got {type(attack).__name__}.")
    values = _eps_values("eps", eps)
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


def _first_success(
    runs: Sequence[Callable[[Tensor, Tensor], Tensor]], judge: nn.Module, images: Tensor, labels: Tensor
) -> Tensor:
    """Per example, the first run's adversarial input that ``judge`` misclassifies; else the first run's.

    Later runs only attack the examples still classified correctly (their inputs are independent of the others':
    the attacks act per example), so a restart costs only what is left to break.
    """
    adv = runs[0](images, labels)
    if len(runs) == 1:
        return adv
    labels = labels.to(adv.device)
    with torch.no_grad():
        fooled = judge(adv).argmax(dim=1) != labels
    for run in runs[1:]:
        left = (~fooled).nonzero().flatten()
        if left.numel() == 0:
            break
        candidate = run(images[left.to(images.device)], labels[left])
        with torch.no_grad():
            wrong = judge(candidate).argmax(dim=1) != labels[left]
        taken = left[wrong]
        adv = adv.clone()
        adv[taken] = candidate[wrong]
        fooled[taken] = True
    return adv


def _pgd_runs(
    ta: Any, model: nn.Module, eps: float, *, norm: str, steps: int, rel_step: float, restarts: int, clean_start: bool
) -> list[Callable[[Tensor, Tensor], Tensor]]:
    """The PGD runs of one ε: one from the clean input (``clean_start``), then ``restarts`` from random points.

    An L2 run's 0/0 rows are repaired (see :func:`_repair_pgdl2`).
    """
    alpha = rel_step * eps / steps
    runs: list[Callable[[Tensor, Tensor], Tensor]] = []
    for random_start in [False] * clean_start + [True] * (restarts > 0):
        if norm == "Linf":
            run: Callable[[Tensor, Tensor], Tensor] = ta.PGD(
                model, eps=eps, alpha=alpha, steps=steps, random_start=random_start
            )
        else:
            run = functools.partial(_repair_pgdl2, ta.PGDL2(
                model, eps=eps, alpha=alpha, steps=steps, random_start=random_start,
                eps_for_division=PGDL2_EPS_FOR_DIVISION,
            ))  # fmt: skip
        runs.extend([run] * (restarts if random_start else 1))  # a random start draws afresh at every call
    return runs


def _autoattack_runnable(attack: Any, num_classes: int) -> bool:
    """Whether a component of torchattacks' AutoAttack runs with ``num_classes`` classes.

    torchattacks' targeted APGD (DLR-targeted loss) reads the 4th-largest logit, its untargeted DLR loss the 3rd.
    """
    name = type(attack).__name__
    if name == "APGDT":
        return num_classes >= 4
    if name == "APGD" and getattr(attack, "loss", "ce") == "dlr":
        return num_classes >= 3
    return True


def build_autoattack(
    model: nn.Module,
    eps: float,
    *,
    num_classes: int,
    version: str = "standard",
    seed: int = 0,
    device: torch.device | None = None,
) -> tuple[Any, list[str]]:
    """AutoAttack (L∞) from torchattacks' components: ``(attack, names of the components that run)``.

    ``"standard"``, ``"plus"`` and ``"rand"`` are torchattacks' :class:`~torchattacks.AutoAttack` versions;
    ``"fast"`` is this package's cheaper subset (APGD-CE, APGD-T or APGD-DLR, Square with 1000 queries), see
    :data:`AUTOATTACK_VERSIONS`. Components that cannot run with ``num_classes`` classes are left out (APGD-T needs
    4, the DLR loss 3), and named in the returned list only if they run.

    Raises:
        ValueError: on an unknown ``version``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> attack, names = build_autoattack(net, 0.1, num_classes=3, version="standard")
        >>> names
        ['APGD-CE', 'FAB-T', 'Square(5000)']
    """
    ta = require_torchattacks()
    check_choice(version, "autoattack_version", AUTOATTACK_VERSIONS)
    with contextlib.redirect_stdout(io.StringIO()):  # torchattacks' device print
        components = _autoattack_components(ta, model, eps, num_classes=num_classes, version=version, seed=seed)
    components = [c for c in components if _autoattack_runnable(c, num_classes)]
    attack = components[0] if len(components) == 1 else ta.MultiAttack(components)
    if device is not None:
        attack.set_device(device)  # a wrapper method of torchattacks: it reaches the components
    return attack, [_component_name(c) for c in components]


def _autoattack_components(ta: Any, model: nn.Module, eps: float, *, num_classes: int, version: str, seed: int) -> list:
    if version == "fast":
        return [
            ta.APGD(model, norm="Linf", eps=eps, seed=seed, loss="ce", n_restarts=1),
            ta.APGDT(model, norm="Linf", eps=eps, seed=seed, n_classes=num_classes, n_restarts=1)
            if num_classes >= 4
            else ta.APGD(model, norm="Linf", eps=eps, seed=seed, loss="dlr", n_restarts=1),
            ta.Square(model, norm="Linf", eps=eps, seed=seed, n_queries=FAST_SQUARE_QUERIES, n_restarts=1),
        ]
    # torchattacks' own lists of components and settings, read from its AutoAttack
    reference = ta.AutoAttack(model, norm="Linf", eps=eps, version=version, n_classes=num_classes, seed=seed)
    return list(reference._autoattack.attacks)


def _component_name(attack: Any) -> str:
    name = type(attack).__name__
    if name == "APGD":
        eot = getattr(attack, "eot_iter", 1)
        return f"APGD-{str(attack.loss).upper()}" + (f"(EOT {eot})" if eot > 1 else "")
    if name == "APGDT":
        return "APGD-T"
    if name == "FAB":
        return "FAB-T" if getattr(attack, "multi_targeted", False) else "FAB"
    if name == "Square":
        return f"Square({attack.n_queries})"
    return name


def _eps_values(name: str, values: Sequence[float]) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"Expected argument `{name}` to be a sequence of floats, but got {describe(values)}.")
    if not all(
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        for value in values
    ):
        raise ValueError(f"Expected argument `{name}` to hold finite non-negative floats, but got {list(values)!r}.")
    return [float(value) for value in values]


def check_eps_grid(name: str, values: Sequence[float]) -> list[float]:
    """An ε grid: finite non-negative floats without repeats, returned sorted."""
    out = sorted(_eps_values(name, values))
    if len(set(out)) != len(out):
        raise ValueError(f"Expected argument `{name}` without repeated values, but got {out!r}.")
    return out


def check_attack_options(
    *,
    fgsm_eps: Sequence[float],
    pgd_eps: Sequence[float],
    pgdl2_eps: Sequence[float],
    pgd_steps: int,
    pgd_rel_step: float,
    pgd_restarts: int,
    pgd_clean_start: bool,
) -> dict[str, Any]:
    """The FGSM/PGD options of an :class:`AttackSuite`, checked; the ε grids sorted.

    The one definition shared by the suite, :class:`~lightning_mixup.evaluation.RobustnessEvaluator` and
    :class:`~lightning_mixup.evaluation.RobustnessCallback`, which check them when they are built.

    Example:
        >>> check_attack_options(fgsm_eps=[0.1, 0.0], pgd_eps=[], pgdl2_eps=[], pgd_steps=10, pgd_rel_step=2.5,
        ...                      pgd_restarts=1, pgd_clean_start=True)["fgsm_eps"]
        [0.0, 0.1]
    """
    check_int(pgd_steps, "pgd_steps", minimum=1)
    check_finite_float(pgd_rel_step, "pgd_rel_step", minimum=0.0, allow_zero=False, min_positive=1e-6)
    check_int(pgd_restarts, "pgd_restarts", minimum=0)
    check_bool(pgd_clean_start, "pgd_clean_start")
    if pgd_restarts == 0 and not pgd_clean_start:
        raise ValueError("Expected at least one PGD run: `pgd_restarts` >= 1 or `pgd_clean_start=True`.")
    grids = {"fgsm_eps": fgsm_eps, "pgd_eps": pgd_eps, "pgdl2_eps": pgdl2_eps}
    return {**{name: check_eps_grid(name, grid) for name, grid in grids.items()}, "pgd_steps": pgd_steps,
            "pgd_rel_step": float(pgd_rel_step), "pgd_restarts": pgd_restarts, "pgd_clean_start": pgd_clean_start}


class AttackSuite:
    """The attacks of one evaluation: FGSM, PGD, L2 PGD, AutoAttack, and transfer FGSM/PGD from a source model.

    Build it once the models are on their final device (torchattacks fixes the device at construction).

    PGD (L∞ and L2) runs ``pgd_clean_start + pgd_restarts`` times per batch and ε: first from the clean input
    (its first step points where FGSM's does), then from uniformly random points of the ball; an example counts as
    broken if any run breaks it (the adversarial input kept is the first that does). Later runs attack only what
    is still unbroken. Transfer attacks are crafted on ``transfer_model`` only (the restart kept per example is
    the first that fools the *source*), so the evaluated model is never queried while crafting them.

    Args:
        model: the attacked module (an :class:`AttackModel`), already on ``device``.
        device: the device the attacks put their inputs on.
        fgsm_eps: L∞ ε grid of FGSM.
        pgd_eps: L∞ ε grid of PGD.
        pgdl2_eps: L2 ε grid of PGD-L2.
        pgd_steps: PGD iterations per run.
        pgd_rel_step: PGD step size relative to ``ε / steps``.
        pgd_restarts: PGD runs from a random start (after the clean-start run).
        pgd_clean_start: one PGD run from the clean input first.
        fgsm_sweep: FGSM at all ε from one gradient (:func:`fgsm_eps_sweep`); ``False``: one torchattacks call per ε.
        autoattack_eps: L∞ ε grid of AutoAttack (ε = 0 is not attacked: the clean input is returned).
        autoattack_version: see :func:`build_autoattack`.
        num_classes: number of classes (needed by AutoAttack).
        seed: seed of AutoAttack's components.
        transfer_model: the source model of the transfer attacks (an :class:`AttackModel`), on ``device``; the
            transfer grids are ``fgsm_eps`` and ``pgd_eps``.

    Raises:
        ModuleNotFoundError: if an attack is asked for and torchattacks is not installed.

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
        pgd_restarts: int = 1,
        pgd_clean_start: bool = True,
        fgsm_sweep: bool = True,
        autoattack_eps: Sequence[float] = (),
        autoattack_version: str = "standard",
        num_classes: int | None = None,
        seed: int = 0,
        transfer_model: nn.Module | None = None,
    ) -> None:
        options = check_attack_options(
            fgsm_eps=fgsm_eps, pgd_eps=pgd_eps, pgdl2_eps=pgdl2_eps, pgd_steps=pgd_steps, pgd_rel_step=pgd_rel_step,
            pgd_restarts=pgd_restarts, pgd_clean_start=pgd_clean_start,
        )  # fmt: skip
        fgsm_eps, pgd_eps, pgdl2_eps = options["fgsm_eps"], options["pgd_eps"], options["pgdl2_eps"]
        self.model, self.transfer_model, self.device = model, transfer_model, torch.device(device)
        self.fgsm_eps: list[float] = options["fgsm_eps"]
        self.fgsm_sweep = fgsm_sweep
        self.autoattack_names: list[str] = []
        #: ``(attack, ε grid, craft)`` in the order :meth:`run` yields them: ``craft(images, labels)`` returns one
        #: adversarial batch per ε of the grid.
        self._steps: list[tuple[str, list[float], Callable[[Tensor, Tensor], list[Tensor]]]] = []
        self.attacks: list[Any] = []  #: every torchattacks object of the suite
        if not (fgsm_eps or pgd_eps or pgdl2_eps or autoattack_eps):
            return  # clean accuracy and calibration only: torchattacks is not needed
        if autoattack_eps and num_classes is None:
            raise ValueError("Expected `num_classes` with `autoattack_eps`.")
        ta = require_torchattacks()
        pgd = {key: options[f"pgd_{key}"] for key in ("steps", "rel_step", "restarts", "clean_start")}
        with contextlib.redirect_stdout(io.StringIO()):  # torchattacks' device print
            self._add_fgsm("fgsm", ta, model)
            for name, norm, grid in (("pgd", "Linf", pgd_eps), ("pgdl2", "L2", pgdl2_eps)):
                for e in grid:
                    self._add_pgd(name, e, _pgd_runs(ta, model, e, norm=norm, **pgd), model)
            for e in autoattack_eps:
                attack, self.autoattack_names = build_autoattack(
                    model, e, num_classes=int(num_classes or 0), version=autoattack_version, seed=seed,
                    device=self.device,
                )  # fmt: skip
                self._steps.append(("autoattack", [float(e)], self._autoattack(float(e), attack)))
            if transfer_model is not None:
                self._add_fgsm("transfer_fgsm", ta, transfer_model)
                for e in pgd_eps:
                    runs = _pgd_runs(ta, transfer_model, e, norm="Linf", **pgd)
                    self._add_pgd("transfer_pgd", e, runs, transfer_model)
        for attack in self.attacks:
            attack.set_device(self.device)

    def _add_fgsm(self, name: str, ta: Any, model: nn.Module) -> None:
        """FGSM at every ε: one torchattacks call per ε, or all from one gradient (:func:`fgsm_eps_sweep`)."""
        if self.fgsm_eps and self.fgsm_sweep and max(self.fgsm_eps) > 0:
            attack = ta.FGSM(model, eps=max(self.fgsm_eps))
            self.attacks.append(attack)
            self._steps.append((name, self.fgsm_eps, functools.partial(fgsm_eps_sweep, attack, eps=self.fgsm_eps)))
            return
        for e in self.fgsm_eps:
            self.attacks.append(ta.FGSM(model, eps=e))
            self._steps.append((name, [e], functools.partial(_as_list, self.attacks[-1])))

    def _add_pgd(self, name: str, eps: float, runs: list[Callable[[Tensor, Tensor], Tensor]], judge: nn.Module) -> None:
        for run in dict.fromkeys(runs):  # a random-start run is repeated once per restart
            self.attacks.append(run.args[0] if isinstance(run, functools.partial) else run)
        self._steps.append((name, [float(eps)], lambda images, labels: [_first_success(runs, judge, images, labels)]))

    def _autoattack(self, eps: float, attack: Any) -> Callable[[Tensor, Tensor], list[Tensor]]:
        self.attacks.append(attack)
        if eps == 0:  # the clean input
            return lambda images, labels: [images.to(self.device)]
        return functools.partial(_as_list, attack)

    def run(self, images: Tensor, labels: Tensor) -> Iterator[tuple[str, float, Tensor]]:
        """Yield ``(attack, ε, adversarial images)`` for every attack and ε; ``images`` 4-d, in [0, 1].

        Attack names: ``"fgsm"``, ``"pgd"``, ``"pgdl2"``, ``"autoattack"``, ``"transfer_fgsm"``,
        ``"transfer_pgd"``. Gradients must be enabled (call it under ``torch.enable_grad()``, not in inference mode).
        """
        for name, grid, craft in self._steps:
            yield from ((name, e, adv) for e, adv in zip(grid, craft(images, labels), strict=True))


def _as_list(attack: Any, images: Tensor, labels: Tensor) -> list[Tensor]:
    return [attack(images, labels)]


def _repair_pgdl2(attack: Any, images: Tensor, labels: Tensor) -> Tensor:
    """``attack(images, labels)`` with torchattacks 3.5.1 PGDL2's 0/0 projection of a zero perturbation undone.

    A zero perturbation (ε = 0, or a zero gradient without random start) is projected with ``eps / ‖δ‖ = 0/0 = nan``.
    The true iterate is then ``images`` itself, and stays there (the next gradient is the same), so nan rows are
    replaced by the clean rows.
    """
    adv = attack(images, labels)
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
