r"""Train many small classifiers at once: ``torch.func`` over stacked weights, one torch optimizer, the plugin's mixing.

A study of ERM against mixup trains thousands of small networks (datasets × folds × α); one ``Trainer`` run each
would not fit the time budget. :class:`BatchedClassifiers` stacks ``M`` networks of one architecture
(:func:`torch.func.stack_module_state`), runs them with :func:`torch.func.functional_call` under
:func:`torch.vmap`, and updates the stacked weights with one ``torch.optim.Adam`` (Adam is elementwise, so one Adam
over stacked tensors is ``M`` independent Adams).

What a run sees is what ``Trainer`` + :class:`~lightning_mixup.MixupCallback` would give it (a test trains one run
both ways and compares the weights):

- *Data order*: each run's epochs are the batches of ``DataLoader(range(n), batch_size, shuffle=True,
  drop_last=True, generator=torch.Generator().manual_seed(order_seed))``, the loader of
  :class:`~experiments.data.tabular.TabularFoldsDataModule` with ``order_seed`` and ``drop_last=True``.
- *Mixing draws*: batch ``n`` of the fit (counted from 0) draws from
  :func:`lightning_mixup.engine.batch_generator` ``(mix_seed, 0, n)`` with
  ``MixupPolicy(alpha=α).sample(x, g)``, as the callback does.
- *Mixing and loss*: the plugin's functional core: :func:`~lightning_mixup.functional.apply_mix` on the whole stack
  at once (the ``M`` batches flattened into one, each sample's partner inside its own run's batch) and
  :func:`~lightning_mixup.functional.interpolate_loss` of the two per-sample cross-entropies, averaged over the
  batch. An ERM run is mixed with λ = 1 and itself as partner, which ``apply_mix`` and ``interpolate_loss`` return
  exactly unchanged.

Runs of one call share the number of steps per epoch: the smallest ``n // batch_size`` of their training sets (so
a run whose training set has one more batch skips its last one). Early stopping, when asked, validates at the end of
every epoch (and every ``val_every`` steps), keeps every run's weights of its best check (lowest validation
cross-entropy) and freezes that choice once the run has gone ``patience`` checks without improving; the stack keeps
training until every run has stopped.

References:
    - PyTorch model ensembling with ``torch.func``: https://pytorch.org/tutorials/intermediate/ensembling.html
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, stack_module_state, vmap
from torch.utils.data import DataLoader

from lightning_mixup.engine import batch_generator
from lightning_mixup.functional import MixParams, apply_mix, interpolate_loss
from lightning_mixup.functional.mit import sample_mit
from lightning_mixup.functional.regmixup import sample_regmixup
from lightning_mixup.functional.warping import sample_kernel_warping
from lightning_mixup.policy import DEFAULT_ALPHAS, MixupPolicy

#: The classification methods the engine trains (the plugin's ``method`` names; ERM is ``"mixup"`` with α = 0).
ENGINE_METHODS: tuple[str, ...] = ("mixup", "regmixup", "kernel_warping", "mixup_inference_training")
#: Each method's paper α: the plugin's ``alpha=None`` defaults.
PAPER_ALPHA: dict[str, float] = {method: DEFAULT_ALPHAS[method] for method in ENGINE_METHODS}
#: Rows of the training batch per sample: RegMixup trains on the clean and the mixed batch, MIT on two mixtures.
ROWS: dict[str, int] = {"mixup": 1, "kernel_warping": 1, "regmixup": 2, "mixup_inference_training": 2}


@dataclass(frozen=True)
class RunSpec:
    """One run of a batched fit.

    Attributes:
        data: index of its dataset in the ``datasets`` given to :func:`fit_batched`.
        alpha: the method's α; 0 is ERM (no mixing, no draws; only with ``method="mixup"``).
        mix_seed: the seed of its mixing stream (``MixupCallback(seed=...)``).
        order_seed: the seed of its data order (the training loader's generator).
        method: one of :data:`ENGINE_METHODS`, as ``MixupCallback(method=...)`` (MIT: the mixin's ``mit_loss``).
    """

    data: int
    alpha: float
    mix_seed: int
    order_seed: int
    method: str = "mixup"

    def __post_init__(self) -> None:
        if self.method not in ENGINE_METHODS:
            raise ValueError(f"Expected argument `method` to be one of {ENGINE_METHODS}, but got {self.method!r}.")
        if self.alpha < 0 or (self.alpha == 0 and self.method != "mixup"):
            raise ValueError(
                f"Expected argument `alpha` to be a positive float for method {self.method!r} (0 is ERM, with "
                f"method 'mixup'), but got {self.alpha}."
            )


@dataclass
class FitResult:
    """What :func:`fit_batched` returns.

    Attributes:
        model: the trained stack (best-validation weights when early stopping was on).
        steps_run: optimiser steps the stack took.
        best_step: per run, the step after which its kept weights were taken (``steps_run`` without early stopping).
        val_loss: per validation check, the validation cross-entropy of every run (empty without validation data).
        steps_per_epoch: optimiser steps per epoch.
        stopped: per run, whether early stopping ended it before the last epoch.
    """

    model: BatchedClassifiers | None
    steps_run: int
    best_step: list[int]
    val_loss: list[list[float]] = field(default_factory=list)
    steps_per_epoch: int = 0
    stopped: list[bool] = field(default_factory=list)
    parts: list[tuple[list[int], FitResult]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """The number of runs."""
        return len(self.best_step)

    def module(self, index: int) -> nn.Module:
        """Run ``index``'s trained network as a standalone module (in eval mode)."""
        if self.model is not None:
            return self.model.module(index)
        for members, part in self.parts:
            if index in members:
                return part.module(members.index(index))
        raise IndexError(f"Expected a run index below {self.size}, but got {index}.")


class BatchedClassifiers:
    """``M`` networks of one architecture as one stack of weights, trained with one Adam.

    Args:
        modules: the networks, identical in structure; their current weights are the initial weights (copied).
        lr: Adam's learning rate.
        weight_decay: Adam's L2 weight decay.

    Inputs of :meth:`logits`: ``x`` of shape ``(M, B, ...)``, one batch per network.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> nets = [nn.Linear(3, 2) for _ in range(4)]
        >>> stack = BatchedClassifiers(nets)
        >>> stack.logits(torch.zeros(4, 5, 3)).shape
        torch.Size([4, 5, 2])
        >>> bool(torch.equal(stack.module(2).weight, nets[2].weight))
        True
    """

    def __init__(
        self, modules: Sequence[nn.Module], *, lr: float = 1e-3, weight_decay: float = 0.0, rows: int = 1
    ) -> None:
        if not modules:
            raise ValueError("Expected at least one module to stack, but got none.")
        structure = [tuple((k, tuple(v.shape)) for k, v in m.state_dict().items()) for m in modules]
        if any(s != structure[0] for s in structure):
            raise ValueError("Expected modules of one architecture (same parameter names and shapes).")
        params, buffers = stack_module_state(list(modules))
        self.params: dict[str, Tensor] = params
        self.buffers: dict[str, Tensor] = buffers
        self.size = len(modules)
        self._template = copy.deepcopy(modules[0])
        self._base = copy.deepcopy(modules[0]).to("meta")
        # fused: one kernel over each stacked tensor (the same update as the default implementation, within float
        # rounding; tests/experiments/test_engine.py compares the trained weights with Trainer's)
        fused = all(p.device.type in ("cpu", "cuda") for p in self.params.values())
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=lr, weight_decay=weight_decay, fused=fused)
        self.rows = rows
        if rows == 1:
            self._grad = vmap(grad(self._loss), in_dims=(0, 0, 0, 0, 0, 0))
        else:
            self._grad2 = vmap(grad(self._loss2), in_dims=(0, 0, 0, 0, 0, 0, 0, 0, 0))
        self._forward = vmap(self._call, in_dims=(0, 0, 0))

    def _call(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self._base, (params, buffers), (x,))

    def _loss(
        self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor, y_a: Tensor, y_b: Tensor, lam: Tensor
    ) -> Tensor:
        logits = self._call(params, buffers, x)
        loss_a = F.cross_entropy(logits, y_a, reduction="none")
        loss_b = F.cross_entropy(logits, y_b, reduction="none")
        return interpolate_loss(loss_a, loss_b, lam).mean()

    def _loss2(
        self,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        x: Tensor,
        y_a: Tensor,
        y_b: Tensor,
        lam: Tensor,
        mit: Tensor,
        lam1: Tensor,
        lam2: Tensor,
    ) -> Tensor:
        """The two-row methods: RegMixup's mean over the ``2B`` rows (the drop-in labels' loss), or MIT-L's loss.

        RegMixup: ``F.cross_entropy`` of the ``2B`` rows against ``MixedLabels(y_a, y_b, lam)``, what the callback's
        batch gives the unchanged step. MIT (``mit`` true): the outputs of the two mixtures decoupled as
        :func:`~lightning_mixup.functional.mit.mit_recover` does, then ``½·CE(f_a, y) + ½·CE(f_b, y[j])`` with
        ``y = y_a[:B]`` and ``y[j] = y_b[:B]``. Both are computed and one is kept (``vmap`` needs one program); the
        other run's MIT weights are ``λ₁ = 1, λ₂ = 0``, so its unused branch stays finite.
        """
        logits = self._call(params, buffers, x)
        loss_a = F.cross_entropy(logits, y_a, reduction="none")
        loss_b = F.cross_entropy(logits, y_b, reduction="none")
        regmixup = interpolate_loss(loss_a, loss_b, lam).mean()
        half = logits.shape[0] // 2
        first, second = logits[:half], logits[half:]
        det = lam1 - lam2
        f_a = ((1.0 - lam2) * first - (1.0 - lam1) * second) / det
        f_b = (lam1 * second - lam2 * first) / det
        decoupled = 0.5 * F.cross_entropy(f_a, y_a[:half]) + 0.5 * F.cross_entropy(f_b, y_b[:half])
        return torch.where(mit, decoupled, regmixup)

    def step(
        self, x: Tensor, y_a: Tensor, y_b: Tensor, lam: Tensor, extra: tuple[Tensor, Tensor, Tensor] | None = None
    ) -> None:
        """One optimiser step of every network on its (already mixed) batch ``x[m]`` with labels and weights.

        Shapes: ``x`` ``(M, R, ...)``, ``y_a``/``y_b`` ``(M, R)`` int64, ``lam`` ``(M, R)`` float, with ``R = B`` for
        a one-row stack and ``R = 2B`` for a two-row stack (:data:`ROWS`), which also takes ``extra = (mit (M,)
        bool, λ₁ (M,), λ₂ (M,))`` (:func:`mix_stack2`).
        """
        if self.rows == 1:
            grads = self._grad(self.params, self.buffers, x, y_a, y_b, lam)
        else:
            if extra is None:
                raise ValueError("Expected the MIT weights `extra` for a two-row stack, but got None.")
            grads = self._grad2(self.params, self.buffers, x, y_a, y_b, lam, *extra)
        for name, tensor in self.params.items():
            tensor.grad = grads[name]
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """Logits ``(M, B, C)`` of every network on its own batch ``x[m]``."""
        return self._forward(self.params, self.buffers, x)

    def snapshot(self) -> dict[str, Tensor]:
        """A copy of the stacked weights."""
        return {k: v.detach().clone() for k, v in self.params.items()}

    @torch.no_grad()
    def keep(self, snapshot: dict[str, Tensor], where: Tensor) -> None:
        """Copy the current weights of the runs in ``where`` (``(M,)`` bool) into ``snapshot``."""
        for name, tensor in self.params.items():
            mask = where.view(-1, *([1] * (tensor.ndim - 1)))
            snapshot[name].copy_(torch.where(mask, tensor, snapshot[name]))

    @torch.no_grad()
    def load(self, snapshot: dict[str, Tensor]) -> None:
        """Set the stacked weights to ``snapshot``."""
        for name, tensor in self.params.items():
            tensor.copy_(snapshot[name])

    def module(self, index: int) -> nn.Module:
        """A standalone copy of network ``index`` with its current weights (in eval mode)."""
        net = copy.deepcopy(self._template)
        state = {k: v[index].detach().clone() for k, v in {**self.params, **self.buffers}.items()}
        net.load_state_dict(state)
        return net.eval()


def epoch_orders(n: int, batch_size: int, epochs: int, order_seed: int) -> list[list[Tensor]]:
    """The training batches' indices per epoch, as a shuffling ``DataLoader`` with its own seeded generator gives them.

    Each epoch takes ``len(loader)`` batches from a fresh iterator, as Lightning's fit loop does: a loop that
    exhausted the iterator would draw once more from the generator (the sampler's trailing ``randperm``), and every
    later epoch would differ.

    Example:
        >>> orders = epoch_orders(10, 4, 2, order_seed=0)
        >>> len(orders), [len(b) for b in orders[0]], sorted(torch.cat(orders[1]).tolist()) != list(range(8))
        (2, [4, 4], True)
    """
    loader = DataLoader(
        range(n), batch_size=batch_size, shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(order_seed),
    )  # fmt: skip
    batches = len(loader)  # Lightning stops after len(loader) batches, leaving the sampler's generator unexhausted
    orders = []
    for _ in range(epochs):
        iterator = iter(loader)
        orders.append([next(iterator) for _ in range(batches)])
    return orders


_POLICIES: dict[float, MixupPolicy] = {}


def _policy(alpha: float) -> MixupPolicy:
    if alpha not in _POLICIES:
        _POLICIES[alpha] = MixupPolicy(alpha=alpha)
    return _POLICIES[alpha]


def mix_stack(x: Tensor, y: Tensor, runs: Sequence[RunSpec], batch_number: int) -> tuple[Tensor, Tensor, Tensor]:
    """Mix every run's batch as ``MixupCallback(alpha, seed=mix_seed)`` would mix batch ``batch_number`` of a fit.

    Args:
        x: ``(M, B, ...)`` the runs' batches.
        y: ``(M, B)`` their integer labels.
        runs: the runs (α = 0: left as is).
        batch_number: training batches fetched before this one in the fit.

    Returns:
        ``(mixed inputs (M, B, ...), partner labels (M, B), λ (M, B))``.

    Example:
        >>> x, y = torch.rand(2, 4, 3), torch.randint(2, (2, 4))
        >>> mixed, y_b, lam = mix_stack(x, y, [RunSpec(0, 0.0, 0, 0), RunSpec(0, 1.0, 0, 0)], 0)
        >>> bool(torch.equal(mixed[0], x[0])), bool(torch.equal(y_b[0], y[0])), bool((lam[0] == 1).all())
        (True, True, True)
    """
    m, b = int(x.shape[0]), int(x.shape[1])
    lam = torch.ones(m, b)
    index = torch.arange(b).repeat(m, 1)
    for i, run in enumerate(runs):
        if ROWS[run.method] != 1:
            raise ValueError(f"Expected one-row methods in `mix_stack`, but got method {run.method!r}.")
        if run.alpha > 0 and b >= 2:
            params = sample_run(run, x[i], batch_number)
            lam[i], index[i] = params.lam, params.index
    flat_index = (index + torch.arange(m).view(-1, 1) * b).view(-1)
    flat = MixParams(lam=lam.view(-1), index=flat_index)
    mixed = apply_mix(x.reshape(m * b, *x.shape[2:]), flat).view_as(x)
    y_b = y.reshape(-1)[flat_index.to(y.device)].view(m, b)
    return mixed, y_b, lam.to(x.device)


def sample_run(run: RunSpec, x: Tensor, batch_number: int) -> MixParams | Any:
    """The draws of batch ``batch_number`` for a run that mixes, from the callback's per-batch generator.

    ``mixup``: ``MixupPolicy(alpha).sample``, as the callback; ``regmixup``: :func:`sample_regmixup` (the draws of
    ``sample_mixup``); ``kernel_warping``: ``sample_kernel_warping`` on the inputs (``kernel_distance="inputs"``,
    τ_max 1, τ_std 0.25, the inverse Beta CDF, one λ per sample);
    ``mixup_inference_training``: :func:`sample_mit` (margin 0). Returns :class:`MixParams`, or
    :class:`~lightning_mixup.functional.mit.MitParams` for MIT.
    """
    g = batch_generator(run.mix_seed, 0, batch_number)
    if run.method == "mixup":
        return _policy(run.alpha).sample(x, g)
    if run.method == "regmixup":
        return sample_regmixup(int(x.shape[0]), alpha=run.alpha, generator=g)
    if run.method == "kernel_warping":
        return sample_kernel_warping(x, alpha=run.alpha, generator=g, validate_args=False)
    return sample_mit(int(x.shape[0]), alpha=run.alpha, generator=g)


def mix_stack2(
    x: Tensor, y: Tensor, runs: Sequence[RunSpec], batch_number: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
    """The ``2B``-row batches of RegMixup and MIT runs, as the callback / the mixin build them.

    RegMixup: ``cat(x, x̃)`` with labels ``(cat(y, y), cat(y, y[j]), cat(1, λ))``
    (:func:`~lightning_mixup.functional.regmixup.apply_regmixup`); MIT: ``cat(x̃₁, x̃₂)``
    (:func:`~lightning_mixup.functional.mit.apply_mit`) with ``y`` and ``y[j]`` in the first ``B`` rows of the two
    label tensors.

    Returns:
        ``(inputs (M, 2B, ...), y_a (M, 2B), y_b (M, 2B), λ (M, 2B), (is MIT (M,), λ₁ (M,), λ₂ (M,)))``.

    Example:
        >>> x, y = torch.rand(2, 4, 3), torch.randint(2, (2, 4))
        >>> runs = [RunSpec(0, 20.0, 0, 0, "regmixup"), RunSpec(0, 1.0, 0, 0, "mixup_inference_training")]
        >>> inputs, y_a, y_b, lam, (mit, lam1, lam2) = mix_stack2(x, y, runs, 0)
        >>> inputs.shape, bool(torch.equal(inputs[0, :4], x[0])), mit.tolist()
        (torch.Size([2, 8, 3]), True, [False, True])
    """
    m, b = int(x.shape[0]), int(x.shape[1])
    lam_first, lam_second = torch.ones(m, b), torch.ones(m, b)
    index_first, index_second = torch.arange(b).repeat(m, 1), torch.arange(b).repeat(m, 1)
    mit = torch.zeros(m, dtype=torch.bool)
    lam1, lam2 = torch.ones(m), torch.zeros(m)
    for i, run in enumerate(runs):
        if ROWS[run.method] != 2:
            raise ValueError(f"Expected RegMixup or MIT runs in a two-row stack, but got method {run.method!r}.")
        params = sample_run(run, x[i], batch_number)
        if run.method == "regmixup":
            lam_second[i], index_second[i] = params.lam, params.index
        else:
            mit[i] = True
            lam1[i], lam2[i] = params.lam1, params.lam2
            lam_first[i], lam_second[i] = params.lam1, params.lam2
            index_first[i], index_second[i] = params.index, params.index
    offset = torch.arange(m).view(-1, 1) * b
    flat_x = x.reshape(m * b, *x.shape[2:])
    halves = []
    partners = []
    for lam, index in ((lam_first, index_first), (lam_second, index_second)):
        flat_index = (index + offset).view(-1)
        halves.append(apply_mix(flat_x, MixParams(lam=lam.view(-1), index=flat_index)).view_as(x))
        partners.append(y.reshape(-1)[flat_index.to(y.device)].view(m, b))
    inputs = torch.cat(halves, dim=1)
    # RegMixup: clean rows (y, y, 1) then mixed rows (y, y[j], λ); MIT: y and y[j] in the first B rows
    y_a = torch.cat([y, y], dim=1)
    y_b = torch.where(mit.view(-1, 1).to(y.device), torch.cat([partners[0], partners[0]], dim=1),
                      torch.cat([y, partners[1]], dim=1))  # fmt: skip
    lam_rows = torch.where(mit.view(-1, 1), torch.ones(m, 2 * b), torch.cat([torch.ones(m, b), lam_second], dim=1))
    dev = x.device
    return inputs, y_a, y_b, lam_rows.to(dev), (mit.to(dev), lam1.to(dev), lam2.to(dev))


def _pad(tensors: Sequence[Tensor]) -> Tensor:
    size = max(int(t.shape[0]) for t in tensors)
    out = tensors[0].new_zeros((len(tensors), size, *tensors[0].shape[1:]))
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
    return out


@torch.no_grad()
def stacked_logits(model: BatchedClassifiers, xs: Sequence[Tensor], chunk: int = 2048) -> list[Tensor]:
    """Logits of network ``m`` on ``xs[m]`` for every ``m`` (lists of different lengths are padded), in chunks."""
    padded = _pad(xs)
    parts = [model.logits(padded[:, i : i + chunk]) for i in range(0, padded.shape[1], chunk)]
    out = torch.cat(parts, dim=1) if parts else padded.new_zeros((len(xs), 0, 0))
    return [out[i, : x.shape[0]] for i, x in enumerate(xs)]


def fit_batched(
    modules: Sequence[nn.Module],
    runs: Sequence[RunSpec],
    datasets: Sequence[tuple[Tensor, Tensor]],
    *,
    epochs: int,
    batch_size: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    val_sets: Sequence[tuple[Tensor, Tensor]] | None = None,
    patience: int | None = None,
    max_steps: int | None = None,
    val_every: int | None = None,
    device: str | torch.device = "cpu",
) -> FitResult:
    """Train ``modules[m]`` as run ``runs[m]`` on ``datasets[runs[m].data]``, all at once.

    Args:
        modules: one initialised network per run (same architecture).
        runs: what each run trains on and how it mixes.
        datasets: training sets ``(x (N, ...), y (N,))``.
        epochs: epochs (the maximum, with early stopping).
        batch_size: training batch size (incomplete last batches are dropped).
        lr: Adam's learning rate.
        weight_decay: Adam's weight decay.
        val_sets: validation sets, indexed like ``datasets``; needed for early stopping.
        patience: early stopping: validation checks without a lower loss before a run stops (``None``: off).
        max_steps: a cap on optimiser steps: ``epochs`` is cut to ``max(1, max_steps // steps_per_epoch)``.
        val_every: validate every this many steps when that is more often than once per epoch (the end of every
            epoch is always a check); ``patience`` counts checks.
        device: where the stack trains.

    Runs of one-row and two-row methods (:data:`ROWS`) train in two stacks, one after the other (runs are
    independent); the result then holds both in ``parts`` and ``val_loss`` is the first stack's.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: if the lengths do not match, a run names a missing dataset, or early stopping lacks data.
    """
    if len(modules) != len(runs) or not runs:
        raise ValueError(f"Expected one module per run, but got {len(modules)} modules and {len(runs)} runs.")
    kinds = sorted({ROWS[r.method] for r in runs})
    if len(kinds) > 1:
        kwargs = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                  "val_sets": val_sets, "patience": patience, "max_steps": max_steps, "val_every": val_every,
                  "device": device}  # fmt: skip
        parts = []
        for rows in kinds:
            members = [i for i, r in enumerate(runs) if ROWS[r.method] == rows]
            part = fit_batched([modules[i] for i in members], [runs[i] for i in members], datasets, **kwargs)
            parts.append((members, part))
        best_step, stopped = [0] * len(runs), [False] * len(runs)
        for members, part in parts:
            for k, i in enumerate(members):
                best_step[i], stopped[i] = part.best_step[k], part.stopped[k]
        return FitResult(None, max(p.steps_run for _, p in parts), best_step, parts[0][1].val_loss,
                         parts[0][1].steps_per_epoch, stopped, parts)  # fmt: skip
    rows = kinds[0]
    if any(not 0 <= r.data < len(datasets) for r in runs):
        raise ValueError(f"Expected every run's `data` to index the {len(datasets)} datasets.")
    if patience is not None and val_sets is None:
        raise ValueError("Expected `val_sets` with early stopping (`patience` set).")
    device = torch.device(device)
    model = BatchedClassifiers(
        [copy.deepcopy(m).to(device) for m in modules], lr=lr, weight_decay=weight_decay, rows=rows
    )
    sizes = [int(datasets[r.data][0].shape[0]) for r in runs]
    steps = min(sizes) // batch_size
    if steps < 1:
        raise ValueError(f"Expected training sets of at least `batch_size` = {batch_size} examples, got {min(sizes)}.")
    if max_steps is not None:
        epochs = min(epochs, max(1, max_steps // steps))
    xs = _pad([x for x, _ in datasets]).to(device)
    ys = _pad([y for _, y in datasets]).to(device)
    data_of = torch.tensor([r.data for r in runs], device=device)
    orders: dict[tuple[int, int], list[Tensor]] = {}  # per (n, order seed): per epoch, (steps, batch) indices
    for r, n in zip(runs, sizes, strict=True):
        if (n, r.order_seed) not in orders:
            per_epoch = epoch_orders(n, batch_size, epochs, r.order_seed)
            orders[(n, r.order_seed)] = [torch.stack(batches[:steps]) for batches in per_epoch]
    keys = [(n, r.order_seed) for r, n in zip(runs, sizes, strict=True)]
    val_x = val_y = None
    if val_sets is not None:
        val_x = [val_sets[r.data][0].to(device) for r in runs]
        val_y = [val_sets[r.data][1].to(device) for r in runs]
    best_loss = torch.full((len(runs),), float("inf"))
    total = epochs * steps
    check = steps if val_every is None else max(1, min(val_every, steps))
    best_step = [total] * len(runs)
    waiting = torch.zeros(len(runs), dtype=torch.long)
    stopped = torch.zeros(len(runs), dtype=torch.bool)
    best = model.snapshot() if patience is not None else None
    history: list[list[float]] = []
    done = 0
    for epoch in range(1, epochs + 1):
        epoch_index = torch.stack([orders[k][epoch - 1] for k in keys], dim=1).to(device)  # (steps, M, batch)
        for step in range(steps):
            index = epoch_index[step]
            x = xs[data_of.view(-1, 1), index]
            y = ys[data_of.view(-1, 1), index]
            if rows == 1:
                mixed, y_b, lam = mix_stack(x, y, runs, done)
                model.step(mixed, y, y_b, lam)
            else:
                inputs, y_a, y_b, lam, extra = mix_stack2(x, y, runs, done)
                model.step(inputs, y_a, y_b, lam, extra)
            done += 1
            if val_x is None or val_y is None or (done % check and step != steps - 1):
                continue
            logits = stacked_logits(model, val_x)
            losses = torch.tensor([F.cross_entropy(lg, yv).item() for lg, yv in zip(logits, val_y, strict=True)])
            history.append(losses.tolist())
            if best is None:
                continue
            improved = (losses < best_loss) & ~stopped
            best_loss = torch.where(improved, losses, best_loss)
            model.keep(best, improved.to(device))
            for i in torch.nonzero(improved).flatten().tolist():
                best_step[i] = done
            waiting = torch.where(improved, torch.zeros_like(waiting), waiting + 1)
            stopped |= waiting >= int(patience or 0)
            if bool(stopped.all()):
                break
        if bool(stopped.all()):
            break
    if best is not None:
        model.load(best)
    return FitResult(model, done, best_step, history, steps, stopped.tolist())


def unstack(result: FitResult) -> list[nn.Module]:
    """Every trained network as a standalone module."""
    return [result.module(i) for i in range(result.size)]


def evaluate_logits(result: FitResult, xs: Sequence[Tensor]) -> list[Tensor]:
    """Logits of run ``m`` on ``xs[m]`` (CPU tensors)."""
    if result.model is None:
        out: list[Tensor] = [torch.empty(0)] * len(xs)
        for members, part in result.parts:
            for i, logits in zip(members, evaluate_logits(part, [xs[i] for i in members]), strict=True):
                out[i] = logits
        return out
    device = next(iter(result.model.params.values())).device
    return [lg.cpu() for lg in stacked_logits(result.model, [x.to(device) for x in xs])]


def describe_runs(runs: Sequence[RunSpec]) -> list[dict[str, Any]]:
    """The runs as dicts, for JSON outputs."""
    return [{"data": r.data, "alpha": r.alpha, "mix_seed": r.mix_seed, "order_seed": r.order_seed,
             "method": r.method} for r in runs]  # fmt: skip
