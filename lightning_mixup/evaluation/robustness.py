r"""Robustness and calibration of any classifier, through the Lightning Trainer: FGSM/PGD/AutoAttack, transfer, ECE.

:func:`evaluate_robustness` takes a classifier (a ``LightningModule``, a plain ``nn.Module`` or a checkpoint path)
and a dataloader and returns a :class:`~lightning_mixup.evaluation.results.RobustnessResult`: clean accuracy,
expected calibration error, NLL, robust accuracy per attack (torchattacks' FGSM, PGD, L2 PGD and AutoAttack, and
FGSM/PGD transferred from a source model) per ε, per-example correctness flags, sanity checks and the cells they
fail. It runs ``trainer.test`` on :class:`RobustnessEvaluator`, a LightningModule that wraps the classifier, so it
runs on any accelerator and on several devices or nodes, with metrics (torchmetrics) synchronised across processes.

The traps, and how they are handled:

- *Input space.* Inputs must be in [0, 1]; attacks perturb them there and ε is measured there. The model's input
  normalisation is part of the model, or given as ``normalize_mean``/``normalize_std`` and applied inside the
  attacked module (see :mod:`lightning_mixup.evaluation.attacks`). Inputs outside [0, 1] raise (or warn, with
  ``input_check="warn"``): torchattacks clamps to [0, 1], so they would be changed even at ε = 0. ``uint8``
  inputs are taken as 0–255 images and divided by 255 (torchvision's ``ToDtype(torch.float32, scale=True)``
  rule; the config records it); other integer or bool inputs and non-finite values are refused.
- *Labels.* Integer (or bool) class indices ``(B,)`` in ``[0, num_classes)``; anything else is refused.
- *Gradients.* Lightning's default ``Trainer(inference_mode=True)`` makes tensors that no ``enable_grad`` can
  differentiate; the evaluator needs ``Trainer(inference_mode=False)`` (what :func:`evaluate_robustness` builds)
  and raises otherwise. Attacks run under ``torch.enable_grad()``.
- *Device.* torchattacks fixes an attack's device when it is built, so the attacks are built in ``on_test_start``,
  after the Trainer has moved the model (and the transfer source, a submodule of the evaluator).
- *Modes and statistics.* The model (and the transfer source) are in eval mode during attacks (Lightning's test
  loop and torchattacks both set it); every module's mode and device are restored afterwards, and their buffers
  (batch-norm statistics) are checked to be unchanged. A module still in training mode during an attack raises a
  warning.
- *Checkpoints* are read by :func:`~lightning_mixup.evaluation.checkpoints.load_checkpoint`: ``torch.load`` with
  ``weights_only=True`` here, never ``load_from_checkpoint`` (see that module).
- *torchattacks* is optional: clean accuracy and calibration (all ε grids empty) run without it; attacks raise a
  ``ModuleNotFoundError`` naming ``pip install 'lightning-mixup[robustness]'``.

Several devices: metrics are exact (synchronised); per-example flags are kept only in single-process runs (a
``DistributedSampler`` reorders and pads the data). With ``strategy="ddp"`` every process returns the same
result; with ``ddp_spawn`` read the metrics ``trainer.test`` returns.

References:
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
      (§3.5: mixup models are more robust to white-box FGSM and to black-box (transferred) attacks)
    - Verma et al., "Manifold Mixup", ICML 2019, https://arxiv.org/abs/1806.05236 (Table 7: FGSM and PGD)
    - Thulasidasan et al., "On Mixup Training", NeurIPS 2019, https://arxiv.org/abs/1905.11001 (calibration)
    - Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083 (PGD); Goodfellow et al., ICLR 2015,
      https://arxiv.org/abs/1412.6572 (FGSM); Croce & Hein, ICML 2020, https://arxiv.org/abs/2003.01690
      (AutoAttack); Guo et al., ICML 2017, https://arxiv.org/abs/1706.04599 (ECE)
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler
from torchmetrics import MeanMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError
from typing_extensions import override

import lightning_mixup._compat as _compat
from lightning_mixup._checks import check_bool, check_choice, check_finite_float, check_int, check_key, describe
from lightning_mixup.evaluation.attacks import (
    AUTOATTACK_VERSIONS,
    AttackModel,
    AttackSuite,
    AutoAttackVersion,
    as_attack_input,
    check_attack_options,
    check_eps_grid,
    require_torchattacks,
    seeded_rng,
)
from lightning_mixup.evaluation.calibration import ReliabilityDiagram
from lightning_mixup.evaluation.checkpoints import load_checkpoint
from lightning_mixup.evaluation.mixup_inference import DEFAULT_MI_LAM, DEFAULT_MI_NUM_SAMPLES, MixupInference
from lightning_mixup.evaluation.results import MixupInferenceResult, RobustnessResult, SanityCheck, format_eps
from lightning_mixup.evaluation.sanity import (
    looks_like_probabilities,
    run_sanity_checks,
    warn_failed,
    warn_sanity,
)
from lightning_mixup.evaluation.uncertainty import AURC, OOD_SCORES, OODDetection

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule as _Hooks
else:  # the evaluators' methods are a mixin; each distribution's LightningModule is added by `_on_base`
    _Hooks = object

__all__ = [
    "DEFAULT_L2_EPS",
    "DEFAULT_LINF_EPS",
    "INPUT_CHECKS",
    "RobustnessEvaluator",
    "check_input_range",
    "evaluate_robustness",
    "infer_num_classes",
    "load_checkpoint",
    "to_unit_inputs",
]

InputCheck = Literal["raise", "warn", "off"]
INPUT_CHECKS: tuple[str, ...] = ("raise", "warn", "off")
BatchKey = int | str
DEFAULT_LINF_EPS: tuple[float, ...] = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)
DEFAULT_L2_EPS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
UINT8_MAX = 255.0
_RANGE_TOL = 1e-6
#: The keys of ``evaluate_robustness(..., mixup_inference=...)``; ``pool`` is required.
MI_OPTIONS: tuple[str, ...] = ("pool", "lam", "num_samples", "variant")
MI_ATTACKS: tuple[str, ...] = ("mi_eotpgd", "mi_pgd_undefended_gradient")


def _item(batch: Any, key: BatchKey, what: str = "") -> Any:
    try:
        return batch[key]
    except (KeyError, IndexError, TypeError) as err:
        what = what or f"inputs at {key!r}"
        raise ValueError(f"Expected a batch with {what}, but got a {type(batch).__name__} ({err}).") from err


def unpack_batch(batch: Any, input_key: BatchKey, target_key: BatchKey, num_classes: int | None = None) -> Any:
    """``(inputs, targets)`` of a batch: inputs as :func:`to_unit_inputs`, targets ``(B,)`` integer labels (long).

    Raises:
        ValueError: for a missing key, inputs that are not ``(B, ...)`` float or ``uint8``, targets that are not
            ``(B,)`` integers, or (with ``num_classes``) outside ``[0, num_classes)``.
    """
    what = f"inputs at {input_key!r} and targets at {target_key!r}"
    x, y = to_unit_inputs(_item(batch, input_key, what)), _item(batch, target_key, what)
    if not isinstance(y, Tensor) or y.shape != (x.shape[0],) or y.is_floating_point() or y.is_complex():
        raise ValueError(f"Expected integer targets of shape ({x.shape[0]},), but got {describe(y)}.")
    low, high = (int(y.min()), int(y.max())) if y.numel() else (0, 0)
    if num_classes is not None and (low < 0 or high >= num_classes):
        raise ValueError(
            f"Expected targets in [0, {num_classes - 1}] (num_classes={num_classes}), but got values in "
            f"[{low}, {high}]."
        )
    return x, y.long()


def check_input_range(x: Tensor, input_check: str = "raise", name: str = "inputs") -> bool:
    """Refuse non-finite inputs; inputs outside [0, 1] raise (``"raise"``), warn (``"warn"``) or pass (``"off"``).

    torchattacks clamps adversarial examples to [0, 1], so inputs outside it would be changed even at ε = 0.

    Returns:
        Whether it warned.

    Raises:
        ValueError: on nan or inf, or with ``"raise"`` on values outside [0, 1].

    Example:
        >>> check_input_range(torch.tensor([[0.0, 1.5]]))
        Traceback (most recent call last):
        ...
        ValueError: Expected inputs in [0, 1], but got values in [0, 1.5]. ...
    """
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        raise ValueError(
            f"Expected finite {name}, but got {int((~finite).sum())} non-finite values (nan or inf) in a batch."
        )
    low, high = float(x.min()), float(x.max())
    if input_check == "off" or (low >= -_RANGE_TOL and high <= 1 + _RANGE_TOL):
        return False
    message = (
        f"Expected {name} in [0, 1], but got values in [{low:.4g}, {high:.4g}]. torchattacks clamps adversarial "
        "examples to [0, 1], so these inputs would be changed even at ε = 0. Pass raw [0, 1] inputs and the "
        "model's normalisation as `normalize_mean`/`normalize_std`, or rescale features to [0, 1]."
    )
    if input_check == "raise":
        raise ValueError(f"{message} See section 'input-range' of `lightning_mixup.evaluation.sanity`.")
    warn_sanity(message, "input-range", stacklevel=3)
    return True


@contextlib.contextmanager
def preserved(*modules: nn.Module | None) -> Iterator[None]:
    """Run the block, then restore every (sub)module's train/eval mode and each module's device."""
    kept = [m for m in modules if m is not None]
    modes = {sub: sub.training for m in kept for sub in m.modules()}
    devices = [(m, next((p.device for p in m.parameters()), None)) for m in kept]
    try:
        yield
    finally:
        for sub, mode in modes.items():
            sub.training = mode
        for m, device in devices:
            if device is not None:
                m.to(device)


def _root(base: type) -> str:
    return base.__module__.split(".core")[0]  # "lightning.pytorch" or "pytorch_lightning"


def _module_base(trainer: Any) -> type:
    """The ``LightningModule`` of ``trainer``'s distribution (``lightning.pytorch`` or ``pytorch_lightning``)."""
    for base in _compat.lightning_module_types():
        if isinstance(trainer, importlib.import_module(_root(base)).Trainer):
            return base
    raise TypeError(
        f"Expected argument `trainer` to be a lightning.pytorch or pytorch_lightning Trainer, but got "
        f"{describe(trainer)}."
    )


@functools.cache
def _on_base(cls: type, base: type) -> type:
    """``cls`` (a mixin plus the first distribution's LightningModule), or its twin on another ``base``."""
    if issubclass(cls, base):
        return cls
    namespace = {"__doc__": cls.__doc__, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls.__bases__[0], base), namespace)


def make_trainer(trainer: Any, trainer_kwargs: Mapping[str, Any] | None, *, gradients: bool = True) -> Any:
    """``trainer`` checked, or a one-device Trainer without logger or checkpoints (``trainer_kwargs`` override it).

    With ``gradients``, the Trainer must not run the test loop in inference mode (attacks need input gradients).
    """
    if trainer is None:
        if trainer_kwargs is not None and not isinstance(trainer_kwargs, Mapping):
            raise TypeError(f"Expected argument `trainer_kwargs` to be a dict, but got {describe(trainer_kwargs)}.")
        kwargs: dict[str, Any] = dict(
            accelerator="auto", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, inference_mode=False,
        )  # fmt: skip
        kwargs.update(trainer_kwargs or {})
        if kwargs["inference_mode"] and gradients:
            raise ValueError(
                "Expected `inference_mode=False`: attacks need input gradients, which inference mode removes."
            )
        trainer = importlib.import_module(_root(_compat.lightning_module_types()[0])).Trainer(**kwargs)
    elif trainer_kwargs:
        raise ValueError("Expected either `trainer` or `trainer_kwargs`, not both.")
    _module_base(trainer)
    if gradients and trainer.test_loop.inference_mode:
        raise ValueError(
            "Expected a Trainer with `inference_mode=False`: attacks need input gradients, which inference mode "
            "removes (and torch.enable_grad() cannot bring back). Use `Trainer(inference_mode=False)`."
        )
    return trainer


def to_unit_inputs(x: Any, name: str = "inputs") -> Tensor:
    """Inputs as the attacks need them: a float tensor ``(B, ...)``; ``uint8`` images are divided by 255.

    ``uint8`` is taken as 0–255 pixels (torchvision's ``ToDtype(torch.float32, scale=True)`` rule), so ε stays in
    [0, 1] units (``8/255`` is eight grey levels). Other integer or bool dtypes have no defined scale and are refused.

    Raises:
        ValueError: if ``x`` is not a tensor of at least 2 dimensions, or has an integer dtype other than ``uint8``.

    Example:
        >>> to_unit_inputs(torch.tensor([[0, 51, 255]], dtype=torch.uint8))
        tensor([[0.0000, 0.2000, 1.0000]])
    """
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise ValueError(f"Expected {name} of shape (B, ...), but got {describe(x)}.")
    if x.dtype == torch.uint8:
        return x.float() / UINT8_MAX
    if not x.is_floating_point():
        raise ValueError(
            f"Expected float {name} in [0, 1] (or uint8 images in 0-255, divided by 255), but got a {x.dtype} tensor."
        )
    return x


class _RobustnessEvaluation(_Hooks):
    """The methods of :class:`RobustnessEvaluator`, a mixin on the LightningModule of the Trainer's distribution."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        fgsm_eps: Sequence[float] = DEFAULT_LINF_EPS,
        pgd_eps: Sequence[float] = DEFAULT_LINF_EPS,
        pgdl2_eps: Sequence[float] = DEFAULT_L2_EPS,
        pgd_steps: int = 10,
        pgd_rel_step: float = 2.5,
        pgd_restarts: int = 1,
        pgd_clean_start: bool = True,
        fgsm_sweep: bool = True,
        autoattack_eps: Sequence[float] = (),
        autoattack_version: AutoAttackVersion = "standard",
        transfer_from: nn.Module | None = None,
        normalize_mean: list[float] | None = None,
        normalize_std: list[float] | None = None,
        n_bins: int = 15,
        input_check: InputCheck = "raise",
        input_key: BatchKey = 0,
        target_key: BatchKey = 1,
        seed: int = 0,
        keep_flags: bool = True,
        monotone_tol: float = 0.01,
        pgd_fgsm_tol: float = 0.01,
        large_linf_eps: float = 0.5,
        large_eps_max_accuracy: float = 0.1,
        ood: bool = False,
        mixup_inference: Mapping[str, Any] | None = None,
        eot_iter: int = 10,
    ) -> None:
        super().__init__()
        if transfer_from is not None and not isinstance(transfer_from, nn.Module):
            raise TypeError(
                f"Expected argument `transfer_from` to be a torch.nn.Module or None, but got "
                f"{type(transfer_from).__name__}."
            )
        check_int(num_classes, "num_classes", minimum=2)
        self.attack_options = check_attack_options(
            fgsm_eps=fgsm_eps, pgd_eps=pgd_eps, pgdl2_eps=pgdl2_eps, pgd_steps=pgd_steps, pgd_rel_step=pgd_rel_step,
            pgd_restarts=pgd_restarts, pgd_clean_start=pgd_clean_start,
        )  # fmt: skip
        self.fgsm_eps, self.pgd_eps = self.attack_options["fgsm_eps"], self.attack_options["pgd_eps"]
        self.pgdl2_eps = self.attack_options["pgdl2_eps"]
        check_bool(fgsm_sweep, "fgsm_sweep")
        check_choice(autoattack_version, "autoattack_version", AUTOATTACK_VERSIONS)
        check_int(n_bins, "n_bins", minimum=1)
        check_choice(input_check, "input_check", INPUT_CHECKS)
        check_key(input_key, "input_key", optional=False)
        check_key(target_key, "target_key", optional=False)
        check_int(seed, "seed")
        check_bool(keep_flags, "keep_flags")
        self.sanity_kwargs = {
            "monotone_tol": monotone_tol, "pgd_fgsm_tol": pgd_fgsm_tol, "large_linf_eps": large_linf_eps,
            "large_eps_max_accuracy": large_eps_max_accuracy,
        }  # fmt: skip
        for name, value in self.sanity_kwargs.items():
            check_finite_float(value, name, minimum=0.0, maximum=1.0 if name == "large_eps_max_accuracy" else None)
        check_bool(ood, "ood")
        check_int(eot_iter, "eot_iter", minimum=1)
        self.autoattack_eps = check_eps_grid("autoattack_eps", autoattack_eps)
        if transfer_from is not None and not (self.fgsm_eps or self.pgd_eps):
            raise ValueError(
                "Expected a non-empty `fgsm_eps` or `pgd_eps` with `transfer_from`: the transfer attacks use those "
                "grids, and both are empty."
            )
        self.attack_model = AttackModel(model, normalize_mean, normalize_std)
        self.transfer_model = (
            AttackModel(transfer_from, normalize_mean, normalize_std) if transfer_from is not None else None
        )
        self.num_classes, self.fgsm_sweep, self.autoattack_version = num_classes, fgsm_sweep, autoattack_version
        self.input_check, self.input_key, self.target_key = input_check, input_key, target_key
        self.seed, self.keep_flags = seed, keep_flags
        self.clean_acc = MulticlassAccuracy(num_classes, average="micro")
        self.ece = MulticlassCalibrationError(num_classes, n_bins=n_bins, norm="l1")
        self.nll = MeanMetric()
        self.count = SumMetric()
        self.reliability = ReliabilityDiagram(n_bins)
        self.aurc = AURC()
        self.ood_detection = nn.ModuleDict({s: OODDetection(cast(Any, s)) for s in OOD_SCORES}) if ood else None
        self.eot_iter = eot_iter
        self.mi = None if mixup_inference is None else self._mixup_inference(mixup_inference)
        mi_cells = [("mi", 0.0), *((a, e) for a in MI_ATTACKS for e in self.pgd_eps)] if self.mi is not None else []
        self.mi_attacks: dict[float, Any] = {}
        grids = {"fgsm": self.fgsm_eps, "pgd": self.pgd_eps, "pgdl2": self.pgdl2_eps, "autoattack": self.autoattack_eps}
        if self.transfer_model is not None:
            grids.update(transfer_fgsm=self.fgsm_eps, transfer_pgd=self.pgd_eps)
        self.grid: list[tuple[str, float]] = [(attack, e) for attack, grid in grids.items() for e in grid]
        if self.grid or self.mi is not None:
            require_torchattacks()  # fail here, with the install line, not in the middle of trainer.test
        self.robust_acc = nn.ModuleDict(
            {self._key(a, e): MulticlassAccuracy(num_classes, average="micro") for a, e in [*self.grid, *mi_cells]}
        )
        self.suite: AttackSuite | None = None
        self.result: RobustnessResult | None = None
        self._reset_run_state()

    @property
    def model(self) -> nn.Module:
        """The wrapped classifier."""
        return self.attack_model.model

    @property
    def source(self) -> nn.Module | None:
        """The wrapped transfer source (``transfer_from``), or ``None``."""
        return None if self.transfer_model is None else self.transfer_model.model

    @staticmethod
    def _key(attack: str, eps: float) -> str:
        return f"{attack}@{format_eps(eps)}".replace(".", "_")

    def _robust_metric(self, attack: str, eps: float) -> MulticlassAccuracy:
        return cast(MulticlassAccuracy, self.robust_acc[self._key(attack, eps)])

    def _ood(self) -> dict[str, OODDetection]:
        return {} if self.ood_detection is None else cast("dict[str, OODDetection]", dict(self.ood_detection))

    def _metrics(self) -> list[Any]:
        fixed = [self.clean_acc, self.ece, self.nll, self.count, self.reliability, self.aurc]
        return [*fixed, *self._ood().values(), *self.robust_acc.values()]

    def _mixup_inference(self, options: Mapping[str, Any]) -> MixupInference:
        """The defended model: :class:`MixupInference` around the attacked model, its pool as attack inputs."""
        if not isinstance(options, Mapping) or "pool" not in options or set(options) - set(MI_OPTIONS):
            raise ValueError(
                f"Expected argument `mixup_inference` to be a dict with a `pool` and optionally {MI_OPTIONS[1:]}, but "
                f"got {describe(options)}."
            )
        if not self.pgd_eps:
            raise ValueError("Expected a non-empty `pgd_eps` with `mixup_inference`: its EOTPGD runs on that grid.")
        pool = options["pool"]
        if isinstance(pool, DataLoader):
            batches = [unpack_batch(batch, self.input_key, self.target_key, self.num_classes) for batch in pool]
            pool = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])) if batches else None
        if not isinstance(pool, Sequence) or len(pool) != 2:
            raise ValueError(
                f"Expected `mixup_inference['pool']` to be (x, y) tensors or a DataLoader, but got {describe(pool)}."
            )
        pool_x = to_unit_inputs(pool[0], "mixup-inference pool inputs")
        check_input_range(pool_x, "raise", "mixup-inference pool inputs")
        return MixupInference(
            self.attack_model, as_attack_input(pool_x), pool[1], lam=options.get("lam", DEFAULT_MI_LAM),
            num_samples=options.get("num_samples", DEFAULT_MI_NUM_SAMPLES), variant=options.get("variant", "pl"),
        )  # fmt: skip

    def _reset_run_state(self) -> None:
        self._clean_flags: list[Tensor] = []
        self._confidences: list[Tensor] = []
        self._robust_flags: dict[tuple[str, float], list[Tensor]] = {k: [] for k in self.grid}
        self._buffer_snapshot: dict[str, Tensor] = {}
        self._train_mode_modules: set[str] = set()
        self._probabilities_seen = False
        self._range_warned = False
        self._uint8_seen = False
        self._input_dim: int | None = None

    def _watched(self) -> dict[str, nn.Module]:
        """The modules whose modes and buffers the evaluation must leave alone, by name prefix."""
        return {"": self.model, **({} if self.source is None else {"transfer_from.": self.source})}

    def forward(self, x: Tensor) -> Tensor:
        """Logits of inputs in [0, 1] (normalised inside if ``normalize_mean`` was given)."""
        return self.attack_model(x)

    def build_attacks(self) -> AttackSuite:
        """Build the torchattacks objects on the module's current device (called by ``on_test_start``)."""
        self.suite = AttackSuite(
            self.attack_model, self.device, **self.attack_options, fgsm_sweep=self.fgsm_sweep,
            autoattack_eps=self.autoattack_eps, autoattack_version=self.autoattack_version,
            num_classes=self.num_classes, seed=self.seed, transfer_model=self.transfer_model,
        )  # fmt: skip
        if self.mi is not None:  # the adaptive attack: EOTPGD through the randomised defended prediction
            ta = require_torchattacks()
            steps, rel = self.attack_options["pgd_steps"], self.attack_options["pgd_rel_step"]
            for e in filter(None, self.pgd_eps):  # ε = 0: the clean input
                attack = ta.EOTPGD(self.mi, eps=e, alpha=rel * e / steps, steps=steps, eot_iter=self.eot_iter)
                attack.set_device(self.device)
                self.mi_attacks[e] = attack
        return self.suite

    @override
    def on_test_start(self) -> None:
        """Check gradients are possible, snapshot the buffers, build the attacks on the final device."""
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                "RobustnessEvaluator needs gradients, but the Trainer runs the test loop in inference mode. "
                "Use `Trainer(inference_mode=False)` (evaluate_robustness does)."
            )
        self._reset_run_state()
        self.result = None
        self._buffer_snapshot = {name: b.detach().clone() for name, b in self._watched_buffers().items()}
        self.build_attacks()

    def _watched_buffers(self) -> dict[str, Tensor]:
        return {prefix + n: b for prefix, module in self._watched().items() for n, b in module.named_buffers()}

    def _check_range(self, x: Tensor) -> None:
        self._range_warned |= check_input_range(x, "off" if self._range_warned else self.input_check)  # warn once

    def _check_modes(self) -> None:
        watched = self._watched().items()
        training = {p + (name or "<root>") for p, m in watched for name, sub in m.named_modules() if sub.training}
        new = training - self._train_mode_modules
        if new:
            self._train_mode_modules |= new
            warn_sanity(
                f"The model is in training mode during the attack (modules {sorted(new)[:5]}); dropout and batch "
                "norm then make the attack random and change the batch-norm statistics.",
                "train-mode",
            )

    def _logits(self, module: AttackModel, images: Tensor, batch_size: int, who: str = "model") -> Tensor:
        with torch.no_grad():
            logits = module(images)
        if not isinstance(logits, Tensor) or logits.shape != (batch_size, self.num_classes):
            raise ValueError(
                f"Expected the {who} to return logits of shape ({batch_size}, {self.num_classes}), but got "
                f"{describe(logits)}."
            )
        return logits

    @override
    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Clean metrics, then every attack at every ε, for one batch (OOD scores only, for ``dataloader_idx`` 1)."""
        if self.suite is None:
            raise RuntimeError("RobustnessEvaluator.test_step ran before on_test_start built the attacks.")
        if dataloader_idx == 1 and self.ood_detection is not None:
            x = to_unit_inputs(batch if isinstance(batch, Tensor) else _item(batch, self.input_key), "OOD inputs")
            self._check_range(x)
            self.attack_model.sample_shape = tuple(x.shape[1:])
            logits = self._logits(self.attack_model, as_attack_input(x), x.shape[0]).float()
            for metric in self._ood().values():
                metric.update(logits, torch.ones(x.shape[0], dtype=torch.bool, device=logits.device))
            return
        x, y = unpack_batch(batch, self.input_key, self.target_key, self.num_classes)
        self._uint8_seen |= batch[self.input_key].dtype == torch.uint8
        self._check_range(x)
        self._input_dim = math.prod(x.shape[1:])
        for wrapper in (self.attack_model, self.transfer_model):
            if wrapper is not None:
                wrapper.sample_shape = tuple(x.shape[1:])
        images = as_attack_input(x)
        self._check_modes()
        logits = self._logits(self.attack_model, images, x.shape[0])
        if not bool(torch.isfinite(logits).all()):
            raise ValueError("Expected finite logits, but the model returned nan or inf on clean inputs.")
        if self.transfer_model is not None and batch_idx == 0:
            self._logits(self.transfer_model, images, x.shape[0], who="transfer source (`transfer_from`)")
        if not self._probabilities_seen and looks_like_probabilities(logits):
            self._probabilities_seen = True
            warn_sanity("The model's outputs look like probabilities (rows sum to 1); return logits.", "probabilities")
        logits = logits.float()
        probs = logits.softmax(dim=1)
        self.clean_acc.update(logits, y)
        self.ece.update(probs, y)
        self.reliability.update(probs, y)
        self.nll.update(F.cross_entropy(logits, y, reduction="none"))
        self.count.update(float(y.shape[0]))
        self.aurc.update(logits, y)
        for metric in self._ood().values():
            metric.update(logits, torch.zeros_like(y, dtype=torch.bool))
        if self.keep_flags:
            self._clean_flags.append((logits.argmax(dim=1) == y).cpu())
            self._confidences.append(probs.max(dim=1).values.cpu())
        seed = self.seed + 1_000_003 * batch_idx + 7919 * self.global_rank
        with torch.enable_grad(), seeded_rng(seed, self.device):
            if self.mi is not None:
                self.mi.generator = torch.Generator(self.device).manual_seed(seed)
                self._score_mi("mi", 0.0, images, y)
            for attack, eps, adv in self.suite.run(images, y):
                self._check_modes()
                with torch.no_grad():
                    predicted = self.attack_model(adv).argmax(dim=1)
                self._robust_metric(attack, eps).update(predicted, y)
                if self.keep_flags:
                    self._robust_flags[(attack, eps)].append((predicted == y).cpu())
                if attack == "pgd" and self.mi is not None:  # crafted on the undefended model: labelled as such
                    self._score_mi("mi_pgd_undefended_gradient", eps, adv, y)
            for eps in self.pgd_eps if self.mi is not None else ():
                self._score_mi("mi_eotpgd", eps, self.mi_attacks[eps](images, y) if eps else images, y)

    def _score_mi(self, attack: str, eps: float, inputs: Tensor, y: Tensor) -> None:
        self._check_modes()
        with torch.no_grad():
            self._robust_metric(attack, eps).update(cast(MixupInference, self.mi)(inputs).argmax(dim=1), y)

    @override
    def on_test_epoch_end(self) -> None:
        """Compute the synchronised metrics, run the sanity checks, store :attr:`result` and log the numbers."""
        with warnings.catch_warnings():  # a process (or the whole run) without batches: reported below, clearly
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method.*")
            num_examples = round(float(self.count.compute()))
        if num_examples == 0:
            raise ValueError("Expected a dataloader with at least one example, but the evaluation saw none.")
        clean = float(self.clean_acc.compute())
        robust: dict[str, dict[float, float]] = {}
        for attack, eps in self.grid:
            robust.setdefault(attack, {})[eps] = float(self._robust_metric(attack, eps).compute())
        checks = run_sanity_checks(clean, robust, num_examples=num_examples, input_dim=self._input_dim,
                                   **self.sanity_kwargs)  # fmt: skip
        snapshot = self._buffer_snapshot  # a buffer registered during the run is not compared
        changed = [n for n, b in self._watched_buffers().items() if not torch.equal(b, snapshot.get(n, b).to(b.device))]
        training = sorted(self._train_mode_modules)
        for name, failed, if_passed, if_failed, doc in (  # each failure makes every cell untrustworthy
            ("buffers_unchanged", bool(changed), "no buffer changed", f"changed: {changed[:5]}", "buffers"),
            ("eval_mode_during_attacks", bool(training), "all modules in eval mode",
             f"in training mode: {training[:5]}", "train-mode"),
            ("outputs_are_logits", self._probabilities_seen, "outputs are not probability rows",
             "outputs sum to 1 per row", "probabilities"),
        ):  # fmt: skip
            detail = if_failed if failed else if_passed
            checks.append(SanityCheck(name, not failed, detail, doc, tuple(self.grid) if failed else ()))
        warn_failed([c for c in checks if c.doc not in ("train-mode", "probabilities")])  # those warned already
        single = self.trainer.world_size == 1 and self.keep_flags and bool(self._clean_flags)
        clean_flags = (torch.cat(self._clean_flags), torch.cat(self._confidences)) if single else (None, None)
        mi = None
        if self.mi is not None:
            curves = [{e: float(self._robust_metric(a, e).compute()) for e in self.pgd_eps} for a in MI_ATTACKS]
            mi = MixupInferenceResult(float(self._robust_metric("mi", 0.0).compute()), *curves)  # as MI_ATTACKS
        flag = {a: {e: torch.cat(self._robust_flags[a, e]) for e in c} for a, c in robust.items()} if single else None
        self.result = RobustnessResult(
            num_examples, clean, float(self.ece.compute()), float(self.nll.compute()), robust,
            self.reliability.compute(), checks, self.config(), clean_correct=clean_flags[0],
            robust_correct=flag, confidence=clean_flags[1],
            aurc=float(self.aurc.compute()), ood={k: m.compute() for k, m in self._ood().items()} or None,
            mixup_inference=mi,
        )  # fmt: skip
        self.log_dict(self._log_values(self.result), sync_dist=False)
        for metric in self._metrics():
            metric.reset()

    @staticmethod
    def _log_values(result: RobustnessResult) -> dict[str, float]:
        values = {"clean/acc": result.clean_accuracy, "clean/ece": result.ece, "clean/nll": result.nll,
                  "clean/aurc": cast(float, result.aurc)}  # fmt: skip
        curves = dict(result.robust_accuracy)
        if result.mixup_inference is not None:
            values["mi/clean_acc"] = result.mixup_inference.clean_accuracy
            curves["mi_eotpgd"] = result.mixup_inference.eotpgd
            curves["mi_pgd_undefended_gradient"] = result.mixup_inference.pgd_undefended_gradient
        for attack, curve in curves.items():
            for eps, acc in curve.items():
                values[f"{attack}/acc@{format_eps(eps)}"] = acc
        for score, ood in (result.ood or {}).items():
            values.update({f"ood_{score}/auroc": ood.auroc, f"ood_{score}/fpr95": ood.fpr_at_95_tpr})
        return values

    def config(self) -> dict[str, Any]:
        """The attack settings, for the result's ``config``."""
        return {
            **self.attack_options,
            "fgsm_sweep": self.fgsm_sweep,
            "autoattack_eps": self.autoattack_eps,
            "autoattack_version": self.autoattack_version if self.autoattack_eps else None,
            "autoattack_components": list(self.suite.autoattack_names) if self.suite is not None else [],
            "transfer_from": None if self.source is None else type(self.source).__name__,
            "normalize_mean": None if self.attack_model.mean is None else self.attack_model.mean.tolist(),
            "normalize_std": None if self.attack_model.std is None else self.attack_model.std.tolist(),
            "uint8_inputs_divided_by_255": self._uint8_seen,
            "seed": self.seed,
            "n_bins": self.reliability.n_bins,
            "sanity": dict(self.sanity_kwargs),
            "mixup_inference": None if self.mi is None else {
                "lam": self.mi.lam, "num_samples": self.mi.num_samples, "variant": self.mi.variant,
                "pool_size": self.mi.pool_x.shape[0], "eot_iter": self.eot_iter,
                "adaptive_attack": "torchattacks.EOTPGD through MixupInference on the pgd_eps grid",
            },
            "space": "inputs in [0, 1]; ε in input units (L∞ for fgsm/pgd/autoattack/transfer_*, L2 for pgdl2)",
        }


_LightningModule: Any = _compat.lightning_module_types()[0]


class RobustnessEvaluator(_RobustnessEvaluation, _LightningModule):
    """A LightningModule whose ``test_step`` measures a wrapped classifier: run it with ``trainer.test``.

    Needs ``Trainer(inference_mode=False)``. Every test batch adds to: clean accuracy, ECE, NLL, reliability bins,
    and the accuracy under each attack at each ε. After ``trainer.test`` the result is in :attr:`result`.

    Inputs of a batch (``batch[input_key]``, ``batch[target_key]``):
        - inputs ``(B, ...)`` float in [0, 1] (images ``(B, C, H, W)``, or features ``(B, F)``), or ``uint8``
          images in 0–255 (divided by 255, see :func:`to_unit_inputs`);
        - targets ``(B,)`` integer (or bool) class labels in ``[0, num_classes)``.

    Attacks and their keys in ``result.robust_accuracy``:
        - ``"fgsm"``, ``"pgd"`` (L∞) and ``"pgdl2"`` (L2): white-box, on the model;
        - ``"autoattack"`` (L∞): torchattacks' AutoAttack ensemble, see
          :func:`~lightning_mixup.evaluation.attacks.build_autoattack` (costly on a CPU: 50 s per ε for 100
          digits with ``"standard"``, 11 s with ``autoattack_version="fast"``, measured in
          ``benchmarks/results/robustness.md``);
        - ``"transfer_fgsm"`` and ``"transfer_pgd"`` (L∞, on the ``fgsm_eps`` and ``pgd_eps`` grids): crafted on
          ``transfer_from`` (the paper's black-box setting: a separately trained ERM model), scored on the model.

    With ``mixup_inference``, ``result.mixup_inference`` holds Pang et al.'s defence: the clean accuracy of the
    defended (randomised) prediction, and per ε of ``pgd_eps`` the accuracy under torchattacks' ``EOTPGD`` run
    through :class:`~lightning_mixup.evaluation.MixupInference` (the adaptive attack), beside PGD crafted on the
    undefended model and scored on the defence (labelled as such: it is not an evaluation of the defence alone).
    With ``ood``, a second test dataloader (``dataloader_idx`` 1) holds OOD inputs, and ``result.ood`` the AUROC
    and FPR at 95 % TPR of the maximum softmax probability and of the predictive entropy (in-distribution positive).

    Args:
        model: the classifier; returns logits ``(B, num_classes)``.
        num_classes: number of classes.
        fgsm_eps: L∞ ε grid of FGSM (input units); empty: no FGSM.
        pgd_eps: L∞ ε grid of PGD; empty: no PGD.
        pgdl2_eps: L2 ε grid of PGD-L2; empty: no PGD-L2.
        pgd_steps: PGD iterations per run.
        pgd_rel_step: PGD step size as a multiple of ``ε / pgd_steps``.
        pgd_restarts: PGD runs from a random start of the ε-ball, after the clean-start run (see
            :mod:`~lightning_mixup.evaluation.attacks`: an example is broken if any run breaks it).
        pgd_clean_start: one PGD run from the clean input first.
        fgsm_sweep: all FGSM ε from one gradient (exact, see :func:`~lightning_mixup.evaluation.fgsm_eps_sweep`).
        autoattack_eps: L∞ ε grid of AutoAttack; empty: no AutoAttack. ε = 0 is not attacked (the clean input).
        autoattack_version: ``"standard"``, ``"plus"``, ``"rand"`` (torchattacks' versions) or ``"fast"``.
        transfer_from: the source model of the transfer attacks (``None``: none); treated like the model: same
            normalisation, eval mode during attacks, modes, device and buffers restored and checked.
        normalize_mean: per-channel mean of a normalisation to apply inside the attacked model(s); ``None`` when the
            model normalises its inputs itself or needs none.
        normalize_std: per-channel standard deviation of that normalisation.
        n_bins: calibration bins.
        input_check: inputs outside [0, 1]: ``"raise"``, ``"warn"`` or ``"off"``.
        input_key: where the inputs are in a batch (index or key).
        target_key: where the targets are.
        seed: seed of the attacks' random starts (combined with the batch index and rank).
        keep_flags: keep per-example correctness flags (single-process runs).
        monotone_tol: sanity check: allowed rise of accuracy with ε.
        pgd_fgsm_tol: sanity check: allowed excess of an iterative attack's accuracy over a weaker one's.
        large_linf_eps: sanity check: L∞ ε from which PGD accuracy must be near zero.
        large_eps_max_accuracy: sanity check: that "near zero".
        ood: a second test dataloader holds OOD inputs (see above); its targets, if any, are not read.
        mixup_inference: ``None``, or a dict: ``pool`` (``(x, y)`` tensors or a DataLoader of clean samples, in
            the input space of the data), and optionally ``lam`` (0.5), ``num_samples`` (30), ``variant``
            (``"pl"`` or ``"ol"``), see :class:`~lightning_mixup.evaluation.MixupInference`. Needs ``pgd_eps``.
        eot_iter: gradient samples per EOTPGD step against mixup inference.

    Raises:
        ModuleNotFoundError: if an attack is asked for and torchattacks is not installed.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> evaluator = RobustnessEvaluator(net, num_classes=3, fgsm_eps=[0.0, 0.1], pgd_eps=[0.1], pgdl2_eps=[])
        >>> data = DataLoader(torch.utils.data.TensorDataset(torch.rand(8, 4), torch.randint(3, (8,))), batch_size=4)
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(inference_mode=False, logger=False, enable_progress_bar=False,
        ...                      enable_model_summary=False, enable_checkpointing=False)
        >>> _ = trainer.test(evaluator, data, verbose=False)
        >>> sorted(evaluator.result.robust_accuracy), evaluator.result.num_examples
        (['fgsm', 'pgd'], 8)
    """


def infer_num_classes(model: nn.Module, dataloader: DataLoader, input_key: BatchKey = 0) -> int:
    """The number of classes: the width of the model's output on two inputs of the first batch (eval mode).

    Raises:
        ValueError: if the dataloader is empty, its inputs are unusable, or the model does not return ``(B, C)``
            logits with ``C >= 2``.
    """
    batch = next(iter(dataloader), None)
    if batch is None:
        raise ValueError(
            "Expected a dataloader with at least one batch, but it is empty (the number of classes cannot be read "
            "from the model's output; pass `num_classes` only if the data is not empty)."
        )
    x = to_unit_inputs(_item(batch, input_key))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with preserved(model), torch.no_grad():
        out = model.eval()(x[:2].to(device))
    if not isinstance(out, Tensor) or out.ndim != 2:
        raise ValueError(f"Expected the model to return logits of shape (B, C), but got {describe(out)}.")
    if out.shape[1] < 2:
        raise ValueError(
            f"Expected the model to return at least 2 logits per example (a binary classifier returns 2), but got "
            f"shape {tuple(out.shape)}."
        )
    return int(out.shape[1])


def evaluate_robustness(
    model: nn.Module | str | os.PathLike[str],
    dataloader: DataLoader,
    *,
    num_classes: int | None = None,
    checkpoint_class: type[nn.Module] | None = None,
    checkpoint_kwargs: Mapping[str, Any] | None = None,
    weights_only: bool = True,
    trainer: Any = None,
    trainer_kwargs: Mapping[str, Any] | None = None,
    ood_dataloader: DataLoader | None = None,
    mixup_inference: Mapping[str, Any] | None = None,
    eot_iter: int = 10,
    **evaluator_kwargs: Any,
) -> RobustnessResult:
    """Clean accuracy, ECE, NLL and FGSM/PGD/L2-PGD/AutoAttack/transfer accuracy per ε of a classifier.

    Runs ``trainer.test`` on a :class:`RobustnessEvaluator` around ``model``. The modes (train/eval) and devices of
    the model and of ``transfer_from`` are restored afterwards; their buffers are left unchanged (checked).

    Args:
        model: a LightningModule or ``nn.Module`` returning logits, or a checkpoint path (with
            ``checkpoint_class``), loaded weights-only by :func:`~lightning_mixup.evaluation.load_checkpoint`.
        dataloader: batches ``(x, y)``, ``x`` in [0, 1] (or ``uint8`` 0–255); keep it unshuffled for meaningful
            per-example flags.
        num_classes: number of classes; ``None``: the width of the model's output.
        checkpoint_class: the LightningModule (or nn.Module) class of a checkpoint ``model``.
        checkpoint_kwargs: constructor arguments overriding the checkpoint's saved hyper-parameters (for a plain
            ``state_dict`` file: all of them).
        weights_only: load a checkpoint weights-only (``False`` unpickles everything: only for trusted files).
        trainer: a ``lightning.pytorch`` or ``pytorch_lightning`` Trainer with ``inference_mode=False``; ``None``:
            a one-device Trainer without logger or checkpoints (``trainer_kwargs`` override its settings).
        trainer_kwargs: arguments of that Trainer.
        ood_dataloader: OOD inputs (batches like ``dataloader``'s; targets are not read): ``result.ood`` then holds
            AUROC and FPR at 95 % TPR of the max-softmax and entropy scores, the test set in-distribution.
        mixup_inference: Pang et al.'s defence, evaluated against EOTPGD through it: a dict with ``pool`` (``(x, y)``
            tensors or a DataLoader) and optionally ``lam``, ``num_samples``, ``variant``; see
            :class:`RobustnessEvaluator`. ``result.mixup_inference`` holds the numbers.
        eot_iter: gradient samples per step of that EOTPGD.
        evaluator_kwargs: arguments of :class:`RobustnessEvaluator` (``fgsm_eps``, ``pgd_eps``, ``pgdl2_eps``,
            ``pgd_steps``, ``pgd_restarts``, ``autoattack_eps``, ``autoattack_version``, ``transfer_from``,
            ``normalize_mean``, ...).

    Returns:
        The :class:`~lightning_mixup.evaluation.results.RobustnessResult`; ``result.failed_cells`` lists the
        ``(attack, ε)`` cells a failed sanity check makes untrustworthy.

    Raises:
        ValueError: if the Trainer would run in inference mode, the dataloader is empty, or on invalid arguments,
            data or checkpoints.
        TypeError: if ``model`` is a path without ``checkpoint_class``, or not a module.
        ModuleNotFoundError: if an attack is asked for and torchattacks is not installed.

    Example:
        >>> from torch.utils.data import TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> data = DataLoader(TensorDataset(torch.rand(16, 4), torch.randint(3, (16,))), batch_size=8)
        >>> result = evaluate_robustness(net, data, fgsm_eps=[0.0, 0.05], pgd_eps=[], pgdl2_eps=[])
        >>> result.robust_accuracy["fgsm"][0.0] == result.clean_accuracy, len(result.clean_correct)
        (True, 16)
    """
    if isinstance(model, (str, os.PathLike)):
        if checkpoint_class is None:
            raise TypeError(
                "Expected `checkpoint_class` (the LightningModule class of the checkpoint) with a checkpoint path "
                f"{str(model)!r}."
            )
        model = load_checkpoint(model, checkpoint_class, checkpoint_kwargs=checkpoint_kwargs, weights_only=weights_only)
    elif checkpoint_class is not None or checkpoint_kwargs is not None:
        raise TypeError("Expected `checkpoint_class`/`checkpoint_kwargs` only with a checkpoint path as `model`.")
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"Expected argument `model` to be an nn.Module or a checkpoint path, but got {type(model).__name__}."
        )
    if not isinstance(dataloader, DataLoader):
        raise TypeError(
            f"Expected argument `dataloader` to be a torch DataLoader, but got {type(dataloader).__name__}."
        )
    with contextlib.suppress(TypeError):  # an iterable dataset without a length: infer_num_classes or the evaluator
        if len(dataloader) == 0:
            raise ValueError("Expected a dataloader with at least one batch, but it is empty.")
    if isinstance(dataloader.sampler, RandomSampler):
        warnings.warn(
            "The dataloader shuffles: per-example flags will be in a random order.", UserWarning, stacklevel=2
        )
    if num_classes is None:
        num_classes = infer_num_classes(model, dataloader, evaluator_kwargs.get("input_key", 0))
    trainer = make_trainer(trainer, trainer_kwargs)
    if ood_dataloader is not None and not isinstance(ood_dataloader, DataLoader):
        raise TypeError(
            f"Expected argument `ood_dataloader` to be a torch DataLoader or None, but got {describe(ood_dataloader)}."
        )
    source = evaluator_kwargs.get("transfer_from")
    evaluator = _on_base(RobustnessEvaluator, _module_base(trainer))(
        model, num_classes, ood=ood_dataloader is not None, mixup_inference=mixup_inference, eot_iter=eot_iter,
        **evaluator_kwargs,
    )  # fmt: skip
    loaders = dataloader if ood_dataloader is None else [dataloader, ood_dataloader]
    with preserved(model, source if isinstance(source, nn.Module) else None):
        trainer.test(evaluator, dataloaders=loaders, verbose=False)
    if evaluator.result is None:  # an iterable dataloader without a length that yielded nothing
        raise ValueError("Expected a dataloader with at least one example, but the evaluation saw none.")
    return evaluator.result
