"""Recording what a training step received and computed, and the plain-tensor references to check it against.

A :class:`Recorder` is a callback. At the start of the first training batch (after ``MixupCallback.setup`` and after
the first batch was mixed, so after any hook the callback adds for it: a recorded output is the output the model went
on with) it registers forward hooks on named submodules. For every training step it keeps the batch the step
received (the mixed one), the loss it returned and every call of the watched submodules (inputs, output, and the
module's own parameters at that time). The references recompute each module's own loss from the recorded logits
with plain labels ``y_a`` / ``y_b``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import lightning.pytorch as L
import pytorch_lightning
import torch
from torch import Tensor, nn

from lightning_mixup import MixedLabels, MixupPolicy
from lightning_mixup.engine import batch_generator
from lightning_mixup.functional import MixParams

TRAINER_OPTIONS: dict[str, Any] = {
    "accelerator": "cpu",
    "devices": 1,
    "logger": False,
    "enable_progress_bar": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
    "max_epochs": 1,
    "max_steps": 4,
    "num_sanity_val_steps": 0,
}


@dataclass
class Call:
    """One call of a watched submodule: positional and keyword inputs, output, the module's own parameters."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    params: dict[str, Tensor]


@dataclass
class Step:
    """One training step: the batch it received, the loss it returned, the calls of the watched submodules."""

    batch: Any
    loss: Tensor | None
    calls: dict[str, list[Call]]

    def call(self, name: str = "") -> Call:
        """The one call of submodule ``name`` in this step."""
        calls = self.calls[name]
        assert len(calls) == 1, f"expected one call of {name or 'the module'!r} in the step, got {len(calls)}"
        return calls[0]


def _detached(value: Any) -> Any:
    # only float tensors that carry a graph are detached: labels are kept exactly as the step saw them
    if isinstance(value, Tensor) and value.requires_grad:
        return value.detach()
    return value


class _Recording:
    def __init__(self, *watch: str) -> None:
        super().__init__()
        self.watch = watch or ("",)
        self.steps: list[Step] = []
        self._calls: dict[str, list[Call]] = {}
        self._handles: list[Any] = []

    def _register(self, pl_module: nn.Module) -> None:
        for name in self.watch:
            module = pl_module.get_submodule(name)
            self._handles.append(module.register_forward_hook(partial(self._hook, name), with_kwargs=True))

    def _hook(self, name: str, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        params = {key: p.detach().clone() for key, p in module.named_parameters(recurse=False)}
        call = Call(tuple(_detached(a) for a in args), {k: _detached(v) for k, v in kwargs.items()}, output, params)
        self._calls.setdefault(name, []).append(call)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if not self._handles:
            self._register(pl_module)
        self._calls = {name: [] for name in self.watch}

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs  # manual optimisation: none
        calls = {name: [_detach_output(c) for c in calls] for name, calls in self._calls.items()}
        self.steps.append(Step(batch, loss, calls))

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        while self._handles:
            self._handles.pop().remove()


def _detach_output(call: Call) -> Call:
    call.output = _detached(call.output)
    return call


class Recorder(_Recording, L.Callback):
    """The recording callback for ``lightning.pytorch``."""


class PLRecorder(_Recording, pytorch_lightning.Callback):
    """The recording callback for the standalone ``pytorch_lightning`` namespace."""


# ---------------------------------------------------------------------------------------------------- references


def parts(labels: Any) -> tuple[Tensor, Tensor, Tensor]:
    """``(y_a, y_b, lam)`` of mixed labels as plain tensors; ``lam`` has the labels' full shape (the spec)."""
    assert isinstance(labels, MixedLabels), f"expected MixedLabels, got {type(labels).__name__}"
    y_a, y_b, lam = labels.y_a, labels.y_b, labels.lam
    assert type(y_a) is Tensor and type(y_b) is Tensor and type(lam) is Tensor
    assert lam.shape == y_a.shape == y_b.shape, f"lam {tuple(lam.shape)} vs labels {tuple(y_a.shape)}"
    return y_a, y_b, lam


def sample_lam(labels: Any) -> Tensor:
    """``(B,)``: each sample's λ, checked to be the same for every label element of the sample."""
    _, _, lam = parts(labels)
    per_sample = lam.reshape(lam.shape[0], -1)
    torch.testing.assert_close(per_sample, per_sample[:, :1].expand_as(per_sample))
    return per_sample[:, 0]


def batch_lam(labels: Any) -> Tensor:
    """The one λ of a ``mode="batch"`` batch (a 0-dim tensor)."""
    lam = sample_lam(labels)
    torch.testing.assert_close(lam, lam[:1].expand_as(lam))
    return lam[0]


def dominant(labels: Any) -> Tensor:
    """The label each element reads as outside a loss: ``y_a`` where ``λ >= 0.5``, else ``y_b``."""
    y_a, y_b, lam = parts(labels)
    return torch.where(lam >= 0.5, y_a, y_b)


def mixed_reference(loss_fn: Any, output: Tensor, labels: Any, *, target: Any = None, **kwargs: Any) -> Tensor:
    """``λ·L(y_a) + (1-λ)·L(y_b)`` with one λ per batch and ``L(y) = loss_fn(output, target(y), **kwargs)``."""
    y_a, y_b, _ = parts(labels)
    lam = batch_lam(labels)
    prepare = target or (lambda t: t)
    return lam * loss_fn(output, prepare(y_a), **kwargs) + (1 - lam) * loss_fn(output, prepare(y_b), **kwargs)


def per_sample_reference(loss_fn: Any, output: Tensor, labels: Any, **kwargs: Any) -> Tensor:
    """``mean_i[λ_i·l(y_a)_i + (1-λ_i)·l(y_b)_i]`` with ``l(y) = loss_fn(output, y, reduction="none", **kwargs)``."""
    y_a, y_b, _ = parts(labels)
    lam = sample_lam(labels)
    loss_a = loss_fn(output, y_a, reduction="none", **kwargs)
    loss_b = loss_fn(output, y_b, reduction="none", **kwargs)
    return (lam * loss_a + (1 - lam) * loss_b).mean()


def contract_params(seed: int, batch_number: int, x: Tensor, **policy: Any) -> MixParams:
    """The parameters the callback draws for training batch ``batch_number`` (the engine's random-stream contract)."""
    return MixupPolicy(**{"alpha": 1.0, **policy}).sample(x, batch_generator(seed, 0, batch_number))


def check_partners(labels: Any, params: MixParams) -> None:
    """The labels are those of the drawn partners, weighted by the drawn λ."""
    y_a, y_b, _ = parts(labels)
    torch.testing.assert_close(y_b, y_a[params.index])
    torch.testing.assert_close(sample_lam(labels), params.lam)


def mix_rows(x: Tensor, params: MixParams) -> Tensor:
    """``λ_i·x_i + (1-λ_i)·x_j`` computed plainly, for float rows of any shape."""
    lam = params.lam.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return lam * x + (1 - lam) * x[params.index]


def check_dominance_matters(labels: list[Any]) -> None:
    """The recorded batches have elements read as ``y_a`` and others read as ``y_b`` (where the two differ)."""
    y_a = torch.cat([parts(item)[0].flatten() for item in labels])
    y_b = torch.cat([parts(item)[1].flatten() for item in labels])
    read = torch.cat([dominant(item).flatten() for item in labels])
    assert bool(((read == y_a) & (y_a != y_b)).any()), "no element reads as y_a where the sides differ"
    assert bool(((read == y_b) & (y_a != y_b)).any()), "no element reads as y_b where the sides differ"
