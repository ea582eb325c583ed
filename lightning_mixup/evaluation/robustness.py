r"""Robustness and calibration of any classifier, through the Lightning Trainer: FGSM/PGD accuracy, ECE, NLL.

:func:`evaluate_robustness` takes a classifier (a ``LightningModule``, a plain ``nn.Module`` or a checkpoint path)
and a dataloader and returns a :class:`~lightning_mixup.evaluation.results.RobustnessResult`: clean accuracy,
expected calibration error, NLL, robust accuracy per attack (torchattacks' FGSM, PGD and L2 PGD) per ε, per-example
correctness flags and sanity checks. It runs ``trainer.test`` on :class:`RobustnessEvaluator`, a LightningModule that
wraps the classifier, so it runs on any accelerator and on several devices or nodes, with metrics (torchmetrics)
synchronised across processes.

The traps, and how they are handled:

- *Input space.* Inputs must be in [0, 1]; attacks perturb them there and ε is measured there. The model's input
  normalisation is part of the model, or given as ``normalize_mean``/``normalize_std`` and applied inside the
  attacked module (see :mod:`lightning_mixup.evaluation.attacks`). Inputs outside [0, 1] raise (or warn, with
  ``input_check="warn"``): torchattacks clamps to [0, 1], so they would be changed even at ε = 0.
- *Gradients.* Lightning's default ``Trainer(inference_mode=True)`` makes tensors that no ``enable_grad`` can
  differentiate; the evaluator needs ``Trainer(inference_mode=False)`` (what :func:`evaluate_robustness` builds)
  and raises otherwise. Attacks run under ``torch.enable_grad()``.
- *Device.* torchattacks fixes an attack's device when it is built, so the attacks are built in ``on_test_start``,
  after the Trainer has moved the model.
- *Modes and statistics.* The model is in eval mode during attacks (Lightning's test loop and torchattacks both
  set it); every module's mode is restored afterwards, and its buffers (batch-norm statistics) are checked to be
  unchanged. A module still in training mode during an attack raises a warning.
- *Checkpoints* load weights-only (``torch.load(..., weights_only=True)``) unless told otherwise.

Several devices: metrics are exact (synchronised); per-example flags are kept only in single-process runs (a
``DistributedSampler`` reorders and pads the data). With ``strategy="ddp"`` every process returns the same
result; with ``ddp_spawn`` read the metrics ``trainer.test`` returns.

References:
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
      (§3.5: mixup models are more robust to white-box FGSM)
    - Verma et al., "Manifold Mixup", ICML 2019, https://arxiv.org/abs/1806.05236 (Table 7: FGSM and PGD)
    - Thulasidasan et al., "On Mixup Training", NeurIPS 2019, https://arxiv.org/abs/1905.11001 (calibration)
    - Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083 (PGD); Goodfellow et al., ICLR 2015,
      https://arxiv.org/abs/1412.6572 (FGSM); Guo et al., ICML 2017, https://arxiv.org/abs/1706.04599 (ECE)
"""

from __future__ import annotations

import math
import os
import pickle
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler
from torchmetrics import MeanMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError
from typing_extensions import override

from lightning_mixup.evaluation.attacks import AttackModel, AttackSuite, as_attack_input, seeded_rng
from lightning_mixup.evaluation.calibration import ReliabilityDiagram
from lightning_mixup.evaluation.results import RobustnessResult, SanityCheck, format_eps
from lightning_mixup.evaluation.sanity import (
    looks_like_probabilities,
    run_sanity_checks,
    warn_failed,
    warn_sanity,
)

InputCheck = Literal["raise", "warn", "off"]
INPUT_CHECKS: tuple[str, ...] = ("raise", "warn", "off")
BatchKey = int | str
DEFAULT_LINF_EPS: tuple[float, ...] = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)
DEFAULT_L2_EPS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
_RANGE_TOL = 1e-6


def _check_eps(name: str, values: Sequence[float]) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"Expected argument `{name}` to be a sequence of floats, but got {values!r}.")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(
                f"Expected argument `{name}` to hold finite non-negative floats, but got {list(values)!r}."
            )
        out.append(float(value))
    if len(set(out)) != len(out):
        raise ValueError(f"Expected argument `{name}` without repeated values, but got {out!r}.")
    return sorted(out)


class RobustnessEvaluator(pl.LightningModule):
    """A LightningModule whose ``test_step`` measures a wrapped classifier: run it with ``trainer.test``.

    Needs ``Trainer(inference_mode=False)``. Every test batch adds to: clean accuracy, ECE, NLL, reliability bins,
    and the accuracy under each attack at each ε. After ``trainer.test`` the result is in :attr:`result`.

    Inputs of a batch (``batch[input_key]``, ``batch[target_key]``):
        - inputs ``(B, ...)`` float, in [0, 1] (images ``(B, C, H, W)``, or features ``(B, F)``);
        - targets ``(B,)`` integer class labels.

    Args:
        model: the classifier; returns logits ``(B, num_classes)``.
        num_classes: number of classes.
        fgsm_eps: L∞ ε grid of FGSM (input units); empty: no FGSM.
        pgd_eps: L∞ ε grid of PGD; empty: no PGD.
        pgdl2_eps: L2 ε grid of PGD-L2; empty: no PGD-L2.
        pgd_steps: PGD iterations.
        pgd_rel_step: PGD step size as a multiple of ``ε / pgd_steps``.
        pgd_random_start: start PGD at a random point of the ε-ball.
        fgsm_sweep: all FGSM ε from one gradient (exact, see :func:`~lightning_mixup.evaluation.fgsm_eps_sweep`).
        normalize_mean: per-channel mean of a normalisation to apply inside the attacked model; ``None`` when the
            model normalises its inputs itself or needs none.
        normalize_std: per-channel standard deviation of that normalisation.
        n_bins: calibration bins.
        input_check: inputs outside [0, 1]: ``"raise"``, ``"warn"`` or ``"off"``.
        input_key: where the inputs are in a batch (index or key).
        target_key: where the targets are.
        seed: seed of the attacks' random starts (combined with the batch index and rank).
        keep_flags: keep per-example correctness flags (single-process runs).
        monotone_tol: sanity check: allowed rise of accuracy with ε.
        pgd_fgsm_tol: sanity check: allowed excess of PGD over FGSM accuracy.
        large_linf_eps: sanity check: L∞ ε from which PGD accuracy must be near zero.
        large_eps_max_accuracy: sanity check: that "near zero".

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
        pgd_random_start: bool = True,
        fgsm_sweep: bool = True,
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
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"Expected argument `num_classes` to be an int >= 2, but got {num_classes!r}.")
        if isinstance(pgd_steps, bool) or not isinstance(pgd_steps, int) or pgd_steps < 1:
            raise ValueError(f"Expected argument `pgd_steps` to be a positive int, but got {pgd_steps!r}.")
        if not isinstance(pgd_rel_step, (int, float)) or not math.isfinite(pgd_rel_step) or pgd_rel_step <= 0:
            raise ValueError(f"Expected argument `pgd_rel_step` to be a positive float, but got {pgd_rel_step!r}.")
        if input_check not in INPUT_CHECKS:
            raise ValueError(f"Expected argument `input_check` to be one of {INPUT_CHECKS}, but got {input_check!r}.")
        for name, key in (("input_key", input_key), ("target_key", target_key)):
            if isinstance(key, bool) or not isinstance(key, (int, str)):
                raise TypeError(f"Expected argument `{name}` to be an int index or a str key, but got {key!r}.")
        self.fgsm_eps = _check_eps("fgsm_eps", fgsm_eps)
        self.pgd_eps = _check_eps("pgd_eps", pgd_eps)
        self.pgdl2_eps = _check_eps("pgdl2_eps", pgdl2_eps)
        self.attack_model = AttackModel(model, normalize_mean, normalize_std)
        self.num_classes = num_classes
        self.pgd_steps = pgd_steps
        self.pgd_rel_step = float(pgd_rel_step)
        self.pgd_random_start = pgd_random_start
        self.fgsm_sweep = fgsm_sweep
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
        self.grid: list[tuple[str, float]] = [
            *(("fgsm", e) for e in self.fgsm_eps),
            *(("pgd", e) for e in self.pgd_eps),
            *(("pgdl2", e) for e in self.pgdl2_eps),
        ]
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
        self._input_dim: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Logits of inputs in [0, 1] (normalised inside if ``normalize_mean`` was given)."""
        return self.attack_model(x)

    def build_attacks(self) -> AttackSuite:
        """Build the torchattacks objects on the module's current device (called by ``on_test_start``)."""
        self.suite = AttackSuite(
            self.attack_model,
            self.device,
            fgsm_eps=self.fgsm_eps,
            pgd_eps=self.pgd_eps,
            pgdl2_eps=self.pgdl2_eps,
            pgd_steps=self.pgd_steps,
            pgd_rel_step=self.pgd_rel_step,
            pgd_random_start=self.pgd_random_start,
            fgsm_sweep=self.fgsm_sweep,
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
        self._buffer_snapshot = {name: b.detach().clone() for name, b in self.model.named_buffers()}
        self.build_attacks()

    def _unpack(self, batch: Any) -> tuple[Tensor, Tensor]:
        try:
            x, y = batch[self.input_key], batch[self.target_key]
        except (KeyError, IndexError, TypeError) as err:
            raise ValueError(
                f"Expected a batch with inputs at {self.input_key!r} and targets at {self.target_key!r}, but got "
                f"a {type(batch).__name__} ({err})."
            ) from err
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < 2:
            desc = f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"Expected float inputs of shape (B, ...), but got a {desc}.")
        if not isinstance(y, Tensor) or y.ndim != 1 or y.shape[0] != x.shape[0] or y.is_floating_point():
            desc = f"{y.dtype} tensor of shape {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"Expected integer targets of shape ({x.shape[0]},), but got a {desc}.")
        return x, y.long()

    def _check_range(self, x: Tensor) -> None:
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
        training = {name or "<root>" for name, module in self.model.named_modules() if module.training}
        new = training - self._train_mode_modules
        if new:
            self._train_mode_modules |= new
            warn_sanity(
                f"The model is in training mode during the attack (modules {sorted(new)[:5]}); dropout and batch "
                "norm then make the attack random and change the batch-norm statistics.",
                "train-mode",
            )

    @override
    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Clean metrics, then every attack at every ε, for one batch."""
        if self.suite is None:
            raise RuntimeError("RobustnessEvaluator.test_step ran before on_test_start built the attacks.")
        x, y = self._unpack(batch)
        self._check_range(x)
        self._input_dim = math.prod(x.shape[1:])
        self.attack_model.sample_shape = tuple(x.shape[1:])
        images = as_attack_input(x)
        self._check_modes()
        with torch.no_grad():
            logits = self.attack_model(images)
        if logits.ndim != 2 or logits.shape != (x.shape[0], self.num_classes):
            raise ValueError(
                f"Expected the model to return logits of shape ({x.shape[0]}, {self.num_classes}), but got "
                f"{tuple(logits.shape)}."
            )
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
        clean = float(self.clean_acc.compute())
        robust: dict[str, dict[float, float]] = {}
        for attack, eps in self.grid:
            robust.setdefault(attack, {})[eps] = float(self._robust_metric(attack, eps).compute())
        num_examples = round(float(self.count.compute()))
        checks = run_sanity_checks(
            clean, robust, num_examples=num_examples, input_dim=self._input_dim, **self.sanity_kwargs
        )
        changed = [name for name, b in self.model.named_buffers() if name in self._buffer_snapshot and not torch.equal(
            b.detach(), self._buffer_snapshot[name].to(b.device))]
        checks.append(
            SanityCheck(
                "buffers_unchanged",
                not changed,
                "no buffer changed" if not changed else f"changed: {changed[:5]}",
                "buffers",
            )
        )
        checks.append(
            SanityCheck(
                "eval_mode_during_attacks",
                not self._train_mode_modules,
                "all modules in eval mode" if not self._train_mode_modules
                else f"in training mode: {sorted(self._train_mode_modules)[:5]}",
                "train-mode",
            )
        )
        checks.append(
            SanityCheck(
                "outputs_are_logits",
                not self._probabilities_seen,
                "outputs are not probability rows" if not self._probabilities_seen else "outputs sum to 1 per row",
                "probabilities",
            )
        )
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
            "fgsm_eps": self.fgsm_eps,
            "pgd_eps": self.pgd_eps,
            "pgdl2_eps": self.pgdl2_eps,
            "pgd_steps": self.pgd_steps,
            "pgd_rel_step": self.pgd_rel_step,
            "pgd_random_start": self.pgd_random_start,
            "fgsm_sweep": self.fgsm_sweep,
            "normalize_mean": None if self.attack_model.mean is None else self.attack_model.mean.tolist(),
            "normalize_std": None if self.attack_model.std is None else self.attack_model.std.tolist(),
            "seed": self.seed,
            "n_bins": self.reliability.n_bins,
            "sanity": dict(self.sanity_kwargs),
            "space": "inputs in [0, 1]; ε in input units (L∞ for fgsm/pgd, L2 for pgdl2)",
        }


def load_checkpoint(
    path: str | os.PathLike[str],
    module_class: type[pl.LightningModule] | None = None,
    *,
    model: nn.Module | None = None,
    prefix: str = "",
    weights_only: bool = True,
    map_location: str | torch.device = "cpu",
) -> nn.Module:
    """Load a classifier from a Lightning checkpoint, weights-only by default (no arbitrary unpickling).

    Give either ``module_class`` (its ``load_from_checkpoint`` rebuilds the module from the saved hyperparameters)
    or ``model`` (an instance whose ``state_dict`` is loaded; ``prefix`` selects and strips a key prefix, e.g.
    ``"net."`` to load a LightningModule's ``self.net`` into a plain ``nn.Module``).

    Args:
        path: the ``.ckpt`` file (or a plain ``state_dict`` file, with ``model``).
        module_class: a LightningModule subclass.
        model: a module to load the weights into.
        prefix: with ``model``: the state-dict key prefix to keep and strip.
        weights_only: ``torch.load(weights_only=True)``; set ``False`` only for files you trust.
        map_location: where to load the tensors.

    Returns:
        The classifier (``model`` itself, loaded, when given).

    Raises:
        TypeError: if neither or both of ``module_class`` and ``model`` are given.
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if a weights-only load meets objects it may not unpickle, or no key has ``prefix``.
    """
    if (module_class is None) == (model is None):
        raise TypeError("Expected exactly one of `module_class` (a LightningModule class) and `model` (an nn.Module).")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Expected argument `path` to be a checkpoint file, but {str(path)!r} does not exist.")
    try:
        if module_class is not None:
            if not (isinstance(module_class, type) and issubclass(module_class, pl.LightningModule)):
                raise TypeError(f"Expected `module_class` to be a LightningModule subclass, but got {module_class!r}.")
            return module_class.load_from_checkpoint(path, map_location=map_location, weights_only=weights_only)
        checkpoint = torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"Could not load {str(path)!r} weights-only: it holds objects other than tensors and plain containers "
            f"({str(err).splitlines()[0]}). Pass `weights_only=False` only if you trust the file."
        ) from err
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else checkpoint
    if not isinstance(state, Mapping):
        raise ValueError(f"Expected a checkpoint with a `state_dict`, but {str(path)!r} holds {type(state).__name__}.")
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f"Expected state-dict keys starting with {prefix!r} in {str(path)!r}, but found none.")
    if model is None:  # unreachable: exactly one of module_class and model was checked above
        raise TypeError("Expected `model`.")
    model.load_state_dict(state)
    return model


def infer_num_classes(model: nn.Module, dataloader: DataLoader, input_key: BatchKey = 0) -> int:
    """The number of classes: the width of the model's output on two inputs of the first batch (eval mode)."""
    batch = next(iter(dataloader))
    x = batch[input_key]
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
        raise ValueError(f"Expected the model to return logits of shape (B, C), but got {getattr(out, 'shape', out)}.")
    return int(out.shape[1])


def evaluate_robustness(
    model: nn.Module | str | os.PathLike[str],
    dataloader: DataLoader,
    *,
    num_classes: int | None = None,
    checkpoint_class: type[pl.LightningModule] | None = None,
    weights_only: bool = True,
    trainer: pl.Trainer | None = None,
    trainer_kwargs: Mapping[str, Any] | None = None,
    **evaluator_kwargs: Any,
) -> RobustnessResult:
    """Clean accuracy, ECE, NLL and FGSM/PGD/L2-PGD accuracy per ε of a classifier on a dataloader.

    Runs ``trainer.test`` on a :class:`RobustnessEvaluator` around ``model``. The model's modes (train/eval) and
    device are restored afterwards; its buffers are left unchanged (checked).

    Args:
        model: a LightningModule or ``nn.Module`` returning logits, or a checkpoint path (with
            ``checkpoint_class``).
        dataloader: batches ``(x, y)``, ``x`` in [0, 1]; keep it unshuffled for meaningful per-example flags.
        num_classes: number of classes; ``None``: the width of the model's output.
        checkpoint_class: the LightningModule class of a checkpoint ``model``.
        weights_only: load a checkpoint weights-only.
        trainer: a Trainer with ``inference_mode=False``; ``None``: a one-device Trainer without logger or
            checkpoints (``trainer_kwargs`` override its settings).
        trainer_kwargs: arguments of that Trainer.
        evaluator_kwargs: arguments of :class:`RobustnessEvaluator` (``fgsm_eps``, ``pgd_eps``, ``pgdl2_eps``,
            ``pgd_steps``, ``normalize_mean``, ...).

    Returns:
        The :class:`~lightning_mixup.evaluation.results.RobustnessResult`.

    Raises:
        ValueError: if the Trainer would run in inference mode, or on invalid arguments or data.
        TypeError: if ``model`` is a path without ``checkpoint_class``, or not a module.

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
        model = load_checkpoint(model, checkpoint_class, weights_only=weights_only)
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected argument `model` to be an nn.Module or a checkpoint path, but got {type(model)}.")
    if not isinstance(dataloader, DataLoader):
        raise TypeError(
            f"Expected argument `dataloader` to be a torch DataLoader, but got {type(dataloader).__name__}."
        )
    if isinstance(dataloader.sampler, RandomSampler):
        warnings.warn(
            "The dataloader shuffles: per-example flags will be in a random order.", UserWarning, stacklevel=2
        )
    input_key = evaluator_kwargs.get("input_key", 0)
    if num_classes is None:
        num_classes = infer_num_classes(model, dataloader, input_key)
    if trainer is None:
        kwargs: dict[str, Any] = {
            "accelerator": "auto",
            "devices": 1,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "inference_mode": False,
        }
        kwargs.update(trainer_kwargs or {})
        if kwargs["inference_mode"]:
            raise ValueError(
                "Expected `inference_mode=False`: attacks need input gradients, which inference mode removes."
            )
        trainer = pl.Trainer(**kwargs)
    elif trainer_kwargs:
        raise ValueError("Expected either `trainer` or `trainer_kwargs`, not both.")
    if trainer.test_loop.inference_mode:
        raise ValueError(
            "Expected a Trainer with `inference_mode=False`: attacks need input gradients, which inference mode "
            "removes (and torch.enable_grad() cannot bring back). Use `Trainer(inference_mode=False)`."
        )
    modes = {module: module.training for module in model.modules()}
    device = next((p.device for p in model.parameters()), None)
    evaluator = RobustnessEvaluator(model, num_classes, **evaluator_kwargs)
    try:
        trainer.test(evaluator, dataloaders=dataloader, verbose=False)
    finally:
        for module, mode in modes.items():
            module.training = mode
        if device is not None:
            model.to(device)
    if evaluator.result is None:
        raise RuntimeError("The evaluation produced no result (was the dataloader empty?).")
    return evaluator.result
