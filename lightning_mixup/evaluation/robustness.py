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

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler
from torchmetrics import MeanMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError
from typing_extensions import override

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
from lightning_mixup.evaluation.results import RobustnessResult, SanityCheck, format_eps
from lightning_mixup.evaluation.sanity import (
    looks_like_probabilities,
    run_sanity_checks,
    warn_failed,
    warn_sanity,
)

__all__ = [
    "DEFAULT_L2_EPS",
    "DEFAULT_LINF_EPS",
    "INPUT_CHECKS",
    "RobustnessEvaluator",
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


class RobustnessEvaluator(pl.LightningModule):
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

    Raises:
        ModuleNotFoundError: if an attack is asked for and torchattacks is not installed.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> evaluator = RobustnessEvaluator(net, num_classes=3, fgsm_eps=[0.0, 0.1], pgd_eps=[0.1], pgdl2_eps=[])
        >>> data = DataLoader(torch.utils.data.TensorDataset(torch.rand(8, 4), torch.randint(3, (8,))), batch_size=4)
        >>> trainer = pl.Trainer(inference_mode=False, logger=False, enable_progress_bar=False,
        ...                      enable_model_summary=False, enable_checkpointing=False)
        >>> _ = trainer.test(evaluator, data, verbose=False)
        >>> sorted(evaluator.result.robust_accuracy), evaluator.result.num_examples
        (['fgsm', 'pgd'], 8)
    """

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
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected argument `model` to be a torch.nn.Module, but got {type(model).__name__}.")
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
        for name, value in (("monotone_tol", monotone_tol), ("pgd_fgsm_tol", pgd_fgsm_tol)):
            check_finite_float(value, name, minimum=0.0)
        check_finite_float(large_linf_eps, "large_linf_eps", minimum=0.0)
        check_finite_float(large_eps_max_accuracy, "large_eps_max_accuracy", minimum=0.0, maximum=1.0)
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
        self.num_classes = num_classes
        self.fgsm_sweep = fgsm_sweep
        self.autoattack_version = autoattack_version
        self.input_check = input_check
        self.input_key = input_key
        self.target_key = target_key
        self.seed = seed
        self.keep_flags = keep_flags
        self.sanity_kwargs = {
            "monotone_tol": monotone_tol,
            "pgd_fgsm_tol": pgd_fgsm_tol,
            "large_linf_eps": large_linf_eps,
            "large_eps_max_accuracy": large_eps_max_accuracy,
        }
        self.clean_acc = MulticlassAccuracy(num_classes, average="micro")
        self.ece = MulticlassCalibrationError(num_classes, n_bins=n_bins, norm="l1")
        self.nll = MeanMetric()
        self.count = SumMetric()
        self.reliability = ReliabilityDiagram(n_bins)
        transfer = self.transfer_model is not None
        self.grid: list[tuple[str, float]] = [
            *(("fgsm", e) for e in self.fgsm_eps),
            *(("pgd", e) for e in self.pgd_eps),
            *(("pgdl2", e) for e in self.pgdl2_eps),
            *(("autoattack", e) for e in self.autoattack_eps),
            *(("transfer_fgsm", e) for e in (self.fgsm_eps if transfer else [])),
            *(("transfer_pgd", e) for e in (self.pgd_eps if transfer else [])),
        ]
        if self.grid:
            require_torchattacks()  # fail here, with the install line, not in the middle of trainer.test
        self.robust_acc = nn.ModuleDict(
            {self._key(a, e): MulticlassAccuracy(num_classes, average="micro") for a, e in self.grid}
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
        watched = {"": self.model}
        if self.source is not None:
            watched["transfer_from."] = self.source
        return watched

    def forward(self, x: Tensor) -> Tensor:
        """Logits of inputs in [0, 1] (normalised inside if ``normalize_mean`` was given)."""
        return self.attack_model(x)

    def build_attacks(self) -> AttackSuite:
        """Build the torchattacks objects on the module's current device (called by ``on_test_start``)."""
        self.suite = AttackSuite(
            self.attack_model,
            self.device,
            **self.attack_options,
            fgsm_sweep=self.fgsm_sweep,
            autoattack_eps=self.autoattack_eps,
            autoattack_version=self.autoattack_version,
            num_classes=self.num_classes,
            seed=self.seed,
            transfer_model=self.transfer_model,
        )
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
        self._buffer_snapshot = {
            prefix + name: b.detach().clone()
            for prefix, module in self._watched().items()
            for name, b in module.named_buffers()
        }
        self.build_attacks()

    def _unpack(self, batch: Any) -> tuple[Tensor, Tensor]:
        try:
            x, y = batch[self.input_key], batch[self.target_key]
        except (KeyError, IndexError, TypeError) as err:
            raise ValueError(
                f"Expected a batch with inputs at {self.input_key!r} and targets at {self.target_key!r}, but got "
                f"a {type(batch).__name__} ({err})."
            ) from err
        if isinstance(x, Tensor) and x.dtype == torch.uint8:
            self._uint8_seen = True
        x = to_unit_inputs(x)
        if not isinstance(y, Tensor) or y.shape != (x.shape[0],) or y.is_floating_point() or y.is_complex():
            raise ValueError(f"Expected integer targets of shape ({x.shape[0]},), but got {describe(y)}.")
        y = y.long()
        if y.numel():
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= self.num_classes:
                raise ValueError(
                    f"Expected targets in [0, {self.num_classes - 1}] (num_classes={self.num_classes}), but got "
                    f"values in [{low}, {high}]."
                )
        return x, y

    def _check_range(self, x: Tensor) -> None:
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            raise ValueError(
                f"Expected finite inputs, but got {int((~finite).sum())} non-finite values (nan or inf) in a batch."
            )
        if self.input_check == "off" or self._range_warned:
            return
        low, high = float(x.min()), float(x.max())
        if low >= -_RANGE_TOL and high <= 1 + _RANGE_TOL:
            return
        message = (
            f"Expected inputs in [0, 1], but got values in [{low:.4g}, {high:.4g}]. torchattacks clamps adversarial "
            "examples to [0, 1], so these inputs would be changed even at ε = 0. Pass raw [0, 1] inputs and the "
            "model's normalisation as `normalize_mean`/`normalize_std`, or rescale features to [0, 1]."
        )
        if self.input_check == "raise":
            raise ValueError(f"{message} See section 'input-range' of `lightning_mixup.evaluation.sanity`.")
        self._range_warned = True  # once per run
        warn_sanity(message, "input-range")

    def _check_modes(self) -> None:
        training = {
            prefix + (name or "<root>")
            for prefix, module in self._watched().items()
            for name, sub in module.named_modules()
            if sub.training
        }
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
    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Clean metrics, then every attack at every ε, for one batch."""
        if self.suite is None:
            raise RuntimeError("RobustnessEvaluator.test_step ran before on_test_start built the attacks.")
        x, y = self._unpack(batch)
        self._check_range(x)
        self._input_dim = math.prod(x.shape[1:])
        self.attack_model.sample_shape = tuple(x.shape[1:])
        if self.transfer_model is not None:
            self.transfer_model.sample_shape = tuple(x.shape[1:])
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
        if self.keep_flags:
            self._clean_flags.append((logits.argmax(dim=1) == y).cpu())
            self._confidences.append(probs.max(dim=1).values.cpu())
        seed = self.seed + 1_000_003 * batch_idx + 7919 * self.global_rank
        with torch.enable_grad(), seeded_rng(seed, self.device):
            for attack, eps, adv in self.suite.run(images, y):
                self._check_modes()
                with torch.no_grad():
                    predicted = self.attack_model(adv).argmax(dim=1)
                self._robust_metric(attack, eps).update(predicted, y)
                if self.keep_flags:
                    self._robust_flags[(attack, eps)].append((predicted == y).cpu())

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
        checks = run_sanity_checks(
            clean, robust, num_examples=num_examples, input_dim=self._input_dim, **self.sanity_kwargs
        )
        watched = self._watched()
        changed = [
            prefix + name
            for prefix, module in watched.items()
            for name, b in module.named_buffers()
            if prefix + name in self._buffer_snapshot
            and not torch.equal(b.detach(), self._buffer_snapshot[prefix + name].to(b.device))
        ]
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
        single = self.trainer.world_size == 1 and self.keep_flags
        self.result = RobustnessResult(
            num_examples=num_examples,
            clean_accuracy=clean,
            ece=float(self.ece.compute()),
            nll=float(self.nll.compute()),
            robust_accuracy=robust,
            reliability=self.reliability.compute(),
            sanity=checks,
            config=self.config(),
            clean_correct=torch.cat(self._clean_flags) if single and self._clean_flags else None,
            confidence=torch.cat(self._confidences) if single and self._confidences else None,
            robust_correct=(
                {a: {e: torch.cat(self._robust_flags[(a, e)]) for e in curve} for a, curve in robust.items()}
                if single and self._clean_flags
                else None
            ),
        )
        self.log_dict(self._log_values(self.result), sync_dist=False)
        for metric in (self.clean_acc, self.ece, self.nll, self.count, self.reliability):
            metric.reset()
        for attack, eps in self.grid:
            self._robust_metric(attack, eps).reset()

    @staticmethod
    def _log_values(result: RobustnessResult) -> dict[str, float]:
        values = {"clean/acc": result.clean_accuracy, "clean/ece": result.ece, "clean/nll": result.nll}
        for attack, curve in result.robust_accuracy.items():
            for eps, acc in curve.items():
                values[f"{attack}/acc@{format_eps(eps)}"] = acc
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
            "space": "inputs in [0, 1]; ε in input units (L∞ for fgsm/pgd/autoattack/transfer_*, L2 for pgdl2)",
        }


def infer_num_classes(model: nn.Module, dataloader: DataLoader, input_key: BatchKey = 0) -> int:
    """The number of classes: the width of the model's output on two inputs of the first batch (eval mode).

    Raises:
        ValueError: if the dataloader is empty, its inputs are unusable, or the model does not return ``(B, C)``
            logits with ``C >= 2``.
    """
    try:
        batch = next(iter(dataloader))
    except StopIteration:
        raise ValueError(
            "Expected a dataloader with at least one batch, but it is empty (the number of classes cannot be read "
            "from the model's output; pass `num_classes` only if the data is not empty)."
        ) from None
    try:
        x = batch[input_key]
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(
            f"Expected a batch with inputs at {input_key!r}, but got a {type(batch).__name__} ({err})."
        ) from err
    x = to_unit_inputs(x)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            out = model(x[:2].to(device))
    finally:
        for module, mode in modes.items():
            module.training = mode
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
    trainer: pl.Trainer | None = None,
    trainer_kwargs: Mapping[str, Any] | None = None,
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
        trainer: a Trainer with ``inference_mode=False``; ``None``: a one-device Trainer without logger or
            checkpoints (``trainer_kwargs`` override its settings).
        trainer_kwargs: arguments of that Trainer.
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
    try:
        empty = len(dataloader) == 0
    except TypeError:  # an iterable dataset without a length: infer_num_classes or the evaluator finds out
        empty = False
    if empty:
        raise ValueError("Expected a dataloader with at least one batch, but it is empty.")
    if isinstance(dataloader.sampler, RandomSampler):
        warnings.warn(
            "The dataloader shuffles: per-example flags will be in a random order.", UserWarning, stacklevel=2
        )
    input_key = evaluator_kwargs.get("input_key", 0)
    if num_classes is None:
        num_classes = infer_num_classes(model, dataloader, input_key)
    if trainer is None:
        if trainer_kwargs is not None and not isinstance(trainer_kwargs, Mapping):
            raise TypeError(f"Expected argument `trainer_kwargs` to be a dict, but got {describe(trainer_kwargs)}.")
        kwargs: dict[str, Any] = dict(
            accelerator="auto", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, inference_mode=False,
        )  # fmt: skip
        kwargs.update(trainer_kwargs or {})
        if kwargs["inference_mode"]:
            raise ValueError(
                "Expected `inference_mode=False`: attacks need input gradients, which inference mode removes."
            )
        trainer = pl.Trainer(**kwargs)
    elif trainer_kwargs:
        raise ValueError("Expected either `trainer` or `trainer_kwargs`, not both.")
    elif not isinstance(trainer, pl.Trainer):
        raise TypeError(f"Expected argument `trainer` to be a lightning.pytorch.Trainer, but got {describe(trainer)}.")
    if trainer.test_loop.inference_mode:
        raise ValueError(
            "Expected a Trainer with `inference_mode=False`: attacks need input gradients, which inference mode "
            "removes (and torch.enable_grad() cannot bring back). Use `Trainer(inference_mode=False)`."
        )
    source = evaluator_kwargs.get("transfer_from")
    restore = [m for m in (model, source) if isinstance(m, nn.Module)]
    modes = {module: module.training for m in restore for module in m.modules()}
    devices = [(m, next((p.device for p in m.parameters()), None)) for m in restore]
    evaluator = RobustnessEvaluator(model, num_classes, **evaluator_kwargs)
    try:
        trainer.test(evaluator, dataloaders=dataloader, verbose=False)
    finally:
        for module, mode in modes.items():
            module.training = mode
        for m, device in devices:
            if device is not None:
                m.to(device)
    if evaluator.result is None:  # an iterable dataloader without a length that yielded nothing
        raise ValueError("Expected a dataloader with at least one example, but the evaluation saw none.")
    return evaluator.result
