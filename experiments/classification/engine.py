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
from lightning_mixup.policy import MixupPolicy


@dataclass(frozen=True)
class RunSpec:
    """One run of a batched fit.

    Attributes:
        data: index of its dataset in the ``datasets`` given to :func:`fit_batched`.
        alpha: mixup's α; 0 is ERM (no mixing, no draws).
        mix_seed: the seed of its mixing stream (``MixupCallback(seed=...)``).
        order_seed: the seed of its data order (the training loader's generator).
    """

    data: int
    alpha: float
    mix_seed: int
    order_seed: int


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

    model: BatchedClassifiers
    steps_run: int
    best_step: list[int]
    val_loss: list[list[float]] = field(default_factory=list)
    steps_per_epoch: int = 0
    stopped: list[bool] = field(default_factory=list)


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

    def __init__(self, modules: Sequence[nn.Module], *, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
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
        self._grad = vmap(grad(self._loss), in_dims=(0, 0, 0, 0, 0, 0))
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

    def step(self, x: Tensor, y_a: Tensor, y_b: Tensor, lam: Tensor) -> None:
        """One optimiser step of every network on its (already mixed) batch ``x[m]`` with labels and weights.

        Shapes: ``x`` ``(M, B, ...)``, ``y_a``/``y_b`` ``(M, B)`` int64, ``lam`` ``(M, B)`` float.
        """
        grads = self._grad(self.params, self.buffers, x, y_a, y_b, lam)
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
        if run.alpha > 0 and b >= 2:
            params = _policy(run.alpha).sample(x[i], batch_generator(run.mix_seed, 0, batch_number))
            lam[i], index[i] = params.lam, params.index
    flat_index = (index + torch.arange(m).view(-1, 1) * b).view(-1)
    flat = MixParams(lam=lam.view(-1), index=flat_index)
    mixed = apply_mix(x.reshape(m * b, *x.shape[2:]), flat).view_as(x)
    y_b = y.reshape(-1)[flat_index.to(y.device)].view(m, b)
    return mixed, y_b, lam.to(x.device)


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

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: if the lengths do not match, a run names a missing dataset, or early stopping lacks data.
    """
    if len(modules) != len(runs) or not runs:
        raise ValueError(f"Expected one module per run, but got {len(modules)} modules and {len(runs)} runs.")
    if any(not 0 <= r.data < len(datasets) for r in runs):
        raise ValueError(f"Expected every run's `data` to index the {len(datasets)} datasets.")
    if patience is not None and val_sets is None:
        raise ValueError("Expected `val_sets` with early stopping (`patience` set).")
    device = torch.device(device)
    model = BatchedClassifiers([copy.deepcopy(m).to(device) for m in modules], lr=lr, weight_decay=weight_decay)
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
            mixed, y_b, lam = mix_stack(x, y, runs, done)
            model.step(mixed, y, y_b, lam)
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
    return [result.model.module(i) for i in range(result.model.size)]


def evaluate_logits(result: FitResult, xs: Sequence[Tensor]) -> list[Tensor]:
    """Logits of run ``m`` on ``xs[m]`` (CPU tensors)."""
    return [lg.cpu() for lg in stacked_logits(result.model, [x.to(_device(result)) for x in xs])]


def _device(result: FitResult) -> torch.device:
    return next(iter(result.model.params.values())).device


def describe_runs(runs: Sequence[RunSpec]) -> list[dict[str, Any]]:
    """The runs as dicts, for JSON outputs."""
    return [{"data": r.data, "alpha": r.alpha, "mix_seed": r.mix_seed, "order_seed": r.order_seed} for r in runs]
