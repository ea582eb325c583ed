"""``RobustnessCallback``: log FGSM/PGD accuracy on a fixed validation subset every N epochs during training.

It watches robustness while a model trains (e.g. with and without mixup, Zhang et al. 2018 §3.5) at a small cost:
the first ``max_batches`` validation batches, attacked at the end of every ``every_n_epochs``-th validation epoch
with the same torchattacks attacks as :func:`~lightning_mixup.evaluation.evaluate_robustness`. The model is
attacked in eval mode and every module's mode is restored afterwards; only input gradients are computed (no
parameter ``.grad`` is touched). Counts are summed over DDP ranks before logging.

References:
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
    - Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import override

from lightning_mixup._checks import check_int
from lightning_mixup._compat import Callback
from lightning_mixup.evaluation.attacks import (
    AttackModel,
    AttackSuite,
    as_attack_input,
    check_attack_options,
    require_torchattacks,
    seeded_rng,
)
from lightning_mixup.evaluation.results import format_eps
from lightning_mixup.evaluation.robustness import BatchKey, check_input_range, preserved, unpack_batch


class RobustnessCallback(Callback):
    """Log ``{prefix}/clean_acc`` and ``{prefix}/{attack}_acc@{ε}`` on a validation subset every N epochs.

    Inputs must be in [0, 1] (``uint8`` images are divided by 255; see :mod:`lightning_mixup.evaluation.attacks`);
    give the model's normalisation as ``normalize_mean``/``normalize_std`` if it expects normalised inputs and does
    not normalise itself. PGD runs as in :func:`~lightning_mixup.evaluation.evaluate_robustness`: from the clean
    input, then ``pgd_restarts`` random starts.

    Args:
        every_n_epochs: attack after every ``every_n_epochs``-th validation epoch of ``fit``.
        max_batches: number of validation batches (from the start of the first validation dataloader) attacked.
        fgsm_eps: L∞ ε grid of FGSM.
        pgd_eps: L∞ ε grid of PGD.
        pgdl2_eps: L2 ε grid of PGD-L2.
        pgd_steps: PGD iterations per run.
        pgd_rel_step: PGD step size as a multiple of ``ε / pgd_steps``.
        pgd_restarts: PGD runs from a random start, after the clean-start run.
        pgd_clean_start: one PGD run from the clean input first.
        normalize_mean: per-channel mean of a normalisation applied inside the attacked model.
        normalize_std: per-channel standard deviation of that normalisation.
        input_key: where the inputs are in a batch.
        target_key: where the targets are.
        seed: seed of PGD's random starts.
        prefix: prefix of the logged names.

    Raises:
        ModuleNotFoundError: if torchattacks is not installed.

    Attributes:
        history: one dict per attacked epoch: ``{"epoch": ..., "clean_acc": ..., "fgsm_acc@0.1": ..., ...}``.

    A callback of both ``lightning.pytorch`` and ``pytorch_lightning``: a Trainer of either accepts it.

    Example:
        >>> from lightning.pytorch import Trainer
        >>> callback = RobustnessCallback(every_n_epochs=2, fgsm_eps=[0.1], pgd_eps=[])
        >>> trainer = Trainer(callbacks=[callback], logger=False, enable_progress_bar=False,
        ...                      enable_checkpointing=False, enable_model_summary=False)
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        max_batches: int = 2,
        fgsm_eps: Sequence[float] = (8 / 255,),
        pgd_eps: Sequence[float] = (8 / 255,),
        pgdl2_eps: Sequence[float] = (),
        pgd_steps: int = 10,
        pgd_rel_step: float = 2.5,
        pgd_restarts: int = 1,
        pgd_clean_start: bool = True,
        normalize_mean: list[float] | None = None,
        normalize_std: list[float] | None = None,
        input_key: BatchKey = 0,
        target_key: BatchKey = 1,
        seed: int = 0,
        prefix: str = "robust",
    ) -> None:
        super().__init__()
        check_int(every_n_epochs, "every_n_epochs", minimum=1)
        check_int(max_batches, "max_batches", minimum=1)
        self.attack_options = check_attack_options(
            fgsm_eps=fgsm_eps, pgd_eps=pgd_eps, pgdl2_eps=pgdl2_eps, pgd_steps=pgd_steps, pgd_rel_step=pgd_rel_step,
            pgd_restarts=pgd_restarts, pgd_clean_start=pgd_clean_start,
        )  # fmt: skip
        if not any(self.attack_options[name] for name in ("fgsm_eps", "pgd_eps", "pgdl2_eps")):
            raise ValueError("Expected at least one ε in `fgsm_eps`, `pgd_eps` or `pgdl2_eps`, but all are empty.")
        AttackModel(nn.Identity(), normalize_mean, normalize_std)  # checks the normalisation now, not in fit
        check_int(seed, "seed")
        require_torchattacks()
        self.every_n_epochs, self.max_batches, self.normalize_mean = every_n_epochs, max_batches, normalize_mean
        self.normalize_std, self.input_key, self.target_key, self.seed = normalize_std, input_key, target_key, seed
        self.prefix = prefix
        self.history: list[dict[str, float]] = []
        self._subset: list[tuple[Tensor, Tensor]] | None = None
        self._model: AttackModel | None = None
        self._suite: AttackSuite | None = None

    def should_attack(self, trainer: Any) -> bool:
        """Whether this validation epoch is attacked: during ``fit``, not the sanity check, every N epochs."""
        epoch_due = (trainer.current_epoch + 1) % self.every_n_epochs == 0
        return trainer.state.fn == "fit" and not trainer.sanity_checking and epoch_due

    @override
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Build the attacks on the module's device (torchattacks fixes the device at construction)."""
        self._model = AttackModel(pl_module, self.normalize_mean, self.normalize_std)
        self._suite = AttackSuite(self._model, pl_module.device, **self.attack_options)
        self._subset = None

    def _take_subset(self, trainer: Any) -> list[tuple[Tensor, Tensor]]:
        loaders = trainer.val_dataloaders
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        if loader is None:
            raise RuntimeError("RobustnessCallback needs a validation dataloader.")
        subset = []
        for batch in itertools.islice(loader, self.max_batches):
            x, y = unpack_batch(batch, self.input_key, self.target_key)
            check_input_range(x, "raise", "validation inputs")
            subset.append((x.detach().cpu().clone(), y.detach().cpu().clone()))
        return subset

    @override
    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Every N epochs of ``fit``: :meth:`measure` and log the accuracies."""
        if not self.should_attack(trainer):
            return
        values = self.measure(trainer, pl_module)
        for key, value in values.items():
            if key != "epoch":
                pl_module.log(f"{self.prefix}/{key}", value, sync_dist=False)  # already summed over ranks
        self.history.append(values)

    def measure(self, trainer: Any, pl_module: Any) -> dict[str, float]:
        """Attack the subset in eval mode, restore every module's mode; accuracies summed over ranks.

        Returns:
            ``{"epoch": ..., "clean_acc": ..., "{attack}_acc@{ε}": ...}``.

        Raises:
            RuntimeError: before ``on_fit_start``, or in inference mode.
        """
        if self._model is None or self._suite is None:
            raise RuntimeError("RobustnessCallback.on_fit_start did not run.")
        if torch.is_inference_mode_enabled():
            raise RuntimeError("RobustnessCallback needs gradients, but validation runs in inference mode.")
        if self._subset is None:
            self._subset = self._take_subset(trainer)
        device = pl_module.device
        counts: defaultdict[str, Tensor] = defaultdict(lambda: torch.zeros((), device=device))
        total = torch.zeros((), device=device)
        with preserved(self._model):
            # eval() on the wrapper, not only on pl_module: torchattacks restores train mode after each attack when
            # the module it was given (the wrapper) reports `training=True`
            self._model.eval()
            for index, (x_cpu, y_cpu) in enumerate(self._subset):
                x, y = x_cpu.to(device), y_cpu.to(device)
                self._model.sample_shape = tuple(x.shape[1:])
                images = as_attack_input(x)
                total += y.shape[0]
                with torch.enable_grad(), seeded_rng(self.seed + index, device):
                    advs = ((f"{attack}_acc@{format_eps(eps)}", adv) for attack, eps, adv in self._suite.run(images, y))
                    for key, inputs in itertools.chain([("clean_acc", images)], advs):
                        with torch.no_grad():
                            counts[key] += (self._model(inputs).argmax(dim=1) == y).sum()
        total = trainer.strategy.reduce(total.float(), reduce_op="sum").clamp_min(1)
        summed = {key: trainer.strategy.reduce(count.float(), reduce_op="sum") for key, count in counts.items()}
        return {"epoch": float(trainer.current_epoch), **{key: float(count / total) for key, count in summed.items()}}
