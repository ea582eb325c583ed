"""Integer labels that carry their mixup partner, so an unchanged ``F.cross_entropy(logits, y)`` computes mixup.

:class:`MixedLabels` is what :class:`~lightning_mixup.MixupCallback` puts in place of integer labels. It is a
``torch.Tensor`` (the first labels, ``y_a``) that also holds the partner labels ``y_b`` and the weights ``lam``.
``F.cross_entropy`` and ``F.nll_loss`` (and so ``nn.CrossEntropyLoss`` / ``nn.NLLLoss``) recognise it and return
the mixup loss, interpolated per sample before the reduction:

    loss_i = lam_i · CE(f(x̃)_i, y_a_i) + (1 - lam_i) · CE(f(x̃)_i, y_b_i)

This needs no number of classes. Its limits: any other operation that would read the label *values* (``==``,
``one_hot``, ``float()``, indexing, a torchmetrics metric, another loss) raises a :class:`MixedLabelsError`
(a ``ValueError``) that says what to do, rather than silently using only ``y_a``. Shape and device queries
and ``.to`` / ``.long()`` / ``.view(-1)`` style conversions work.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup.functional.apply import interpolate_loss

_METADATA: set[Any] = {
    Tensor.size,
    Tensor.dim,
    Tensor.numel,
    Tensor.__len__,
    Tensor.element_size,
    Tensor.is_floating_point,
    Tensor.is_complex,
    Tensor.get_device,
    Tensor.data_ptr,
    Tensor.__format__,
    *(
        getattr(Tensor, name).__get__
        for name in ("shape", "ndim", "device", "dtype", "is_cuda", "layout", "requires_grad", "grad_fn", "is_sparse")
    ),
}
# Conversions that keep integer labels integer and one label per sample: applied to y_a and y_b alike.
_STRUCTURAL: set[Callable[..., Any]] = {
    Tensor.to,
    Tensor.cpu,
    Tensor.cuda,
    Tensor.detach,
    Tensor.clone,
    Tensor.contiguous,
    Tensor.pin_memory,
    Tensor.long,
    Tensor.int,
    Tensor.view,
    Tensor.reshape,
    Tensor.flatten,
    Tensor.squeeze,
}

_HELP = (
    "Under MixupCallback the labels of a training batch are `MixedLabels`: the labels `y_a`, their mixup partners "
    "`y_b` and the weights `lam`. F.cross_entropy / F.nll_loss (and nn.CrossEntropyLoss / nn.NLLLoss) compute the "
    "mixup loss from them. For a training metric use lightning_mixup.MixupAccuracy (λ-weighted accuracy); for another "
    "loss use `labels.mix_loss(loss_fn, output)` or MixupCallback(target_mode='soft', num_classes=...) to receive "
    "soft targets; `labels.y_a` is the plain first label."
)


class MixedLabelsError(ValueError):
    """An operation that needs one label per sample was applied to :class:`MixedLabels`.

    A ``ValueError`` rather than a ``TypeError``: torch turns a ``TypeError`` raised inside ``==`` or ``+`` into
    ``NotImplemented``, and Python would then silently compare by identity.
    """


class MixedLabels(Tensor):
    """Integer labels ``y_a`` that carry their mixup partners ``y_b`` and the weights ``lam``.

    Args:
        y_a: integer labels ``(B, ...)``, the weight-``lam`` side of every mixed sample.
        y_b: integer labels of the partners, same shape and device.
        lam: ``(B,)`` float weights of ``y_a``.
        label_smoothing: ε that :func:`torch.nn.functional.cross_entropy` applies once to both sides.

    Example:
        >>> import torch.nn.functional as F
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
        >>> labels = MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([0.7, 1.0]))
        >>> expected = (0.7 * F.cross_entropy(logits, torch.tensor([0, 1]), reduction="none")
        ...             + 0.3 * F.cross_entropy(logits, torch.tensor([1, 1]), reduction="none")).mean()
        >>> bool(torch.isclose(F.cross_entropy(logits, labels), expected))
        True
    """

    y_b: Tensor
    lam: Tensor
    label_smoothing: float
    _y_a: Tensor

    @staticmethod
    def __new__(cls, y_a: Tensor, y_b: Tensor, lam: Tensor, label_smoothing: float = 0.0) -> MixedLabels:  # noqa: D102
        for name, value in (("y_a", y_a), ("y_b", y_b)):
            if not isinstance(value, Tensor) or value.is_floating_point() or value.is_complex():
                kind = value.dtype if isinstance(value, Tensor) else type(value).__name__
                raise TypeError(f"Expected argument `{name}` to be an integer label tensor, but got {kind}.")
        if y_a.shape != y_b.shape or y_a.ndim < 1:
            raise ValueError(
                f"Expected `y_a` and `y_b` of the same shape (B, ...), but got {tuple(y_a.shape)} and "
                f"{tuple(y_b.shape)}."
            )
        if not isinstance(lam, Tensor) or lam.shape != (y_a.shape[0],):
            shape = tuple(lam.shape) if isinstance(lam, Tensor) else type(lam).__name__
            raise ValueError(f"Expected argument `lam` of shape ({y_a.shape[0]},), but got {shape}.")
        obj = Tensor._make_subclass(cls, y_a)
        obj._y_a = y_a
        obj.y_b = y_b
        obj.lam = lam
        obj.label_smoothing = float(label_smoothing)
        return obj

    @property
    def y_a(self) -> Tensor:
        """The first labels as a plain tensor (weight ``lam``)."""
        return self._y_a

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        return f"MixedLabels(y_a={self._y_a}, y_b={self.y_b}, lam={self.lam})"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (MixedLabels, (self._y_a, self.y_b, self.lam, self.label_smoothing))

    def __deepcopy__(self, memo: dict[int, Any]) -> MixedLabels:
        return MixedLabels(self._y_a.clone(), self.y_b.clone(), self.lam.clone(), self.label_smoothing)

    def mix_loss(
        self, loss_fn: Callable[..., Tensor], output: Tensor, reduction: str = "mean", **kwargs: Any
    ) -> Tensor:
        """Mixup loss of any loss function that takes ``reduction="none"``: interpolated, then reduced.

        ``F.cross_entropy`` and ``F.nll_loss`` go through the mixed-label versions (class weights, ``ignore_index``
        and label smoothing as torch handles them). Any other loss is interpolated per sample and its ``"mean"``
        is the plain average over the batch.

        Args:
            loss_fn: called as ``loss_fn(output, labels, reduction="none", **kwargs)``.
            output: the model's output for the mixed batch.
            reduction: ``"mean"``, ``"sum"`` or ``"none"``.
            kwargs: passed to ``loss_fn``.

        Raises:
            MixedLabelsError: if the labels carry label smoothing and ``loss_fn`` cannot apply it.

        Example:
            >>> import torch.nn.functional as F
            >>> labels = MixedLabels(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.25]))
            >>> logits = torch.tensor([[0.0, 0.0]])
            >>> float(labels.mix_loss(F.multi_margin_loss, logits))
            0.5
        """
        if loss_fn is F.cross_entropy or loss_fn is F.nll_loss:
            return loss_fn(output, self, reduction=reduction, **kwargs)
        if self.label_smoothing:
            name = getattr(loss_fn, "__name__", repr(loss_fn))
            raise MixedLabelsError(
                f"The labels carry label_smoothing={self.label_smoothing}, which only F.cross_entropy and F.nll_loss "
                f"apply; `{name}` would silently drop it. Smooth in your loss and set MixupCallback(label_smoothing=0)."
            )
        loss = interpolate_loss(
            loss_fn(output, self._y_a, reduction="none", **kwargs),
            loss_fn(output, self.y_b, reduction="none", **kwargs),
            self.lam,
        )
        return _reduce(loss, reduction)

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.cross_entropy:
            return _cross_entropy(*args, **kwargs)
        if func is F.nll_loss:
            return _nll_loss(*args, **kwargs)
        with torch._C.DisableTorchFunctionSubclass():
            if func in _METADATA:
                return func(*args, **kwargs)
            if func in _STRUCTURAL and args and isinstance(args[0], MixedLabels):
                self = args[0]
                y_a, y_b = func(self._y_a, *args[1:], **kwargs), func(self.y_b, *args[1:], **kwargs)
                if not y_a.is_floating_point() and y_a.ndim >= 1 and y_a.shape[0] == self.lam.shape[0]:
                    return MixedLabels(y_a, y_b, self.lam.to(y_a.device), self.label_smoothing)
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
        raise MixedLabelsError(
            f"`{name}` is not defined on mixed labels: it would see only one side of each pair. {_HELP}"
        )


def _reduce(loss: Tensor, reduction: str, denominator: Tensor | None = None) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / denominator if denominator is not None else loss.mean()
    raise ValueError(f"Expected argument `reduction` to be one of ('none', 'mean', 'sum'), but got {reduction!r}.")


def _target_weight(target: Tensor, weight: Tensor | None, ignore_index: int, dtype: torch.dtype) -> Tensor:
    """The weight torch gives each label in a mean reduction: its class weight, 0 where ignored."""
    valid = target != ignore_index
    w = valid.to(dtype)
    if weight is not None:
        w = w * weight.to(dtype)[torch.where(valid, target, torch.zeros_like(target))]
    return w


def _pair_loss(
    loss_fn: Callable[..., Tensor],
    input: Tensor,
    target: MixedLabels,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    size_average: Any,
    reduce: Any,
    **kwargs: Any,
) -> Tensor:
    if size_average is not None or reduce is not None:
        raise TypeError(
            "The deprecated `size_average`/`reduce` arguments are not supported with mixed labels; use `reduction`."
        )
    y_a, y_b = target.y_a, target.y_b
    common = {"weight": weight, "ignore_index": ignore_index, "reduction": "none", **kwargs}
    loss = interpolate_loss(loss_fn(input, y_a, **common), loss_fn(input, y_b, **common), target.lam)
    denominator = None
    if reduction == "mean" and (weight is not None or bool((y_a == ignore_index).any() | (y_b == ignore_index).any())):
        # torch divides a weighted / ignoring mean by the summed target weights: do the same, λ-weighted
        dtype = loss.dtype
        denominator = interpolate_loss(
            _target_weight(y_a, weight, ignore_index, dtype),
            _target_weight(y_b, weight, ignore_index, dtype),
            target.lam,
        ).sum()
    return _reduce(loss, reduction, denominator)


def _cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    if not isinstance(target, MixedLabels):
        raise TypeError(f"Mixed labels must be the `target` of F.cross_entropy. {_HELP}")
    if weight is None and not (label_smoothing or target.label_smoothing) and input.ndim == 2 and size_average is None:
        return _cross_entropy_fast(input, target, ignore_index, reduction, reduce)
    if label_smoothing and target.label_smoothing:
        raise ValueError(
            f"Label smoothing would be applied twice: the loss has label_smoothing={label_smoothing} and the mixed "
            f"labels carry label_smoothing={target.label_smoothing}. Set it in one place only."
        )
    return _pair_loss(
        F.cross_entropy,
        input,
        target,
        weight,
        ignore_index,
        reduction,
        size_average,
        reduce,
        label_smoothing=label_smoothing or target.label_smoothing,
    )


def _cross_entropy_fast(input: Tensor, target: MixedLabels, ignore_index: int, reduction: str, reduce: Any) -> Tensor:
    """The common case, ``(B, C)`` logits without class weights or smoothing: one log-softmax and two gathers.

    Ignored labels are masked rather than looked for, so there is no host synchronisation on an accelerator.
    """
    if reduce is not None:
        raise TypeError(
            "The deprecated `size_average`/`reduce` arguments are not supported with mixed labels; use `reduction`."
        )
    logp = F.log_softmax(input if input.dtype in (torch.float32, torch.float64) else input.float(), dim=1)
    lam = target.lam.to(device=logp.device, dtype=logp.dtype)
    labels = torch.stack([target.y_a, target.y_b], dim=1)  # (B, 2)
    valid = labels != ignore_index
    weights = torch.stack([lam, 1 - lam], dim=1) * valid  # λ and 1 - λ, 0 for ignored labels
    picked = logp.gather(1, labels.masked_fill(~valid, 0))
    loss = -(picked * weights).sum(1)
    if reduction == "mean":
        return loss.sum() / weights.sum()
    return _reduce(loss, reduction)


def _nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    if not isinstance(target, MixedLabels):
        raise TypeError(f"Mixed labels must be the `target` of F.nll_loss. {_HELP}")
    eps = target.label_smoothing
    if not eps:
        return _pair_loss(F.nll_loss, input, target, weight, ignore_index, reduction, size_average, reduce)
    if weight is not None:
        raise ValueError("Label smoothing with class weights is only supported by F.cross_entropy, not F.nll_loss.")

    def smoothed(inp: Tensor, tgt: Tensor, *, reduction: str, ignore_index: int, **kwargs: Any) -> Tensor:
        nll = F.nll_loss(inp, tgt, reduction=reduction, ignore_index=ignore_index, **kwargs)
        return (1 - eps) * nll - eps * inp.mean(dim=1) * (tgt != ignore_index)

    return _pair_loss(smoothed, input, target, None, ignore_index, reduction, size_average, reduce)
