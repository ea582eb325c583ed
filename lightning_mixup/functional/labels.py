"""Integer labels that carry their mixup partner, so an unchanged training step computes mixup.

:class:`MixedLabels` is what :class:`~lightning_mixup.MixupCallback` puts in place of integer labels. It is a
``torch.Tensor`` (its data are the sample's own labels ``y_a``) that also holds the partner labels ``y_b`` and the
weights ``lam`` (one per label element). What each use of it gives:

- **Losses** — ``F.cross_entropy`` and ``F.nll_loss`` (so ``nn.CrossEntropyLoss`` / ``nn.NLLLoss``) return the
  exact mixup loss, the two losses weighted before the reduction, with the loss's own class weights,
  ``ignore_index``, label smoothing and reduction: with one λ per batch this is ``λ·L(y_a) + (1-λ)·L(y_b)``.
  Any other loss goes through :meth:`MixedLabels.mix_loss`.
- **Targets** — a float cast (``.float()``, ``.to(torch.float32)``, ``.type_as(logits)``) gives the mixed values
  ``λ·y_a + (1-λ)·y_b`` (binary / multi-hot labels for BCE: exact, BCE is linear in its target), and
  ``F.one_hot(y, C)`` the mixed one-hot targets ỹ — mixup's own definition.
- **Shape and device** — ``view``, ``reshape``, ``flatten``, ``squeeze``, slicing, ``.to(device)``, ``.long()``
  keep the labels mixed, λ reshaped alike: sequence labels ``(B, T)`` flattened with ``view(-1)`` still give the
  exact loss. Integer arithmetic that maps labels to labels elementwise (``y - 1``, ``masked_fill``) is applied
  to both sides.
- **Reads** — everything else that reads label values (``==``, ``argmax`` accuracy, torchmetrics metrics,
  ``.tolist()``, ``.numpy()``, ``.item()``) sees the per-element *dominant* label, ``y_a`` where ``λ ≥ 0.5``
  else ``y_b``: a training accuracy is "accuracy against the dominant label". ``label_reads="strict"`` refuses
  such reads instead. A read while building a loss — another argument requires grad, as in a hand-written
  ``logp.gather(1, y)`` — raises :class:`MixedLabelsError` rather than silently using one side.

Every :class:`MixedLabels` derived from one batch's labels shares a :class:`LabelTracker` that records whether
the labels reached a loss (or became targets), so the callback can name a model that ignores its labels.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._checks import check_choice, check_probability
from lightning_mixup._device import to_device
from lightning_mixup.functional.apply import blend_pair

LabelReads = Literal["dominant", "strict"]
LABEL_READS: tuple[str, ...] = ("dominant", "strict")

_METADATA: set[Any] = {
    Tensor.size,
    Tensor.dim,
    Tensor.numel,
    Tensor.__len__,
    Tensor.element_size,
    Tensor.is_floating_point,
    Tensor.is_complex,
    Tensor.is_contiguous,
    Tensor.get_device,
    Tensor.data_ptr,
    Tensor.storage_offset,
    Tensor.stride,
    Tensor.untyped_storage,
    Tensor.__format__,
    Tensor.__hash__,
    *(
        getattr(Tensor, name).__get__
        for name in (
            "shape",
            "ndim",
            "device",
            "dtype",
            "is_cuda",
            "is_cpu",
            "is_meta",
            "layout",
            "requires_grad",
            "grad_fn",
            "grad",
            "is_leaf",
            "is_sparse",
            "is_quantized",
            "is_nested",
            "itemsize",
            "nbytes",
            "names",
            "_version",
        )
        if hasattr(Tensor, name)
    ),
}

# Ops that move or reshape label elements without reading them: applied to y_a, y_b and λ alike.
_SHAPE: set[Any] = {
    Tensor.view,
    Tensor.view_as,
    Tensor.reshape,
    Tensor.reshape_as,
    Tensor.flatten,
    Tensor.unflatten,
    Tensor.squeeze,
    Tensor.unsqueeze,
    Tensor.permute,
    Tensor.transpose,
    Tensor.t,
    Tensor.movedim,
    Tensor.expand,
    Tensor.expand_as,
    Tensor.contiguous,
    Tensor.clone,
    Tensor.detach,
    Tensor.__getitem__,
    Tensor.narrow,
    Tensor.select,
    Tensor.index_select,
    Tensor.repeat,
    Tensor.repeat_interleave,
    Tensor.flip,
    Tensor.roll,
    Tensor.split,
    Tensor.chunk,
    Tensor.unbind,
    torch.flatten,
    torch.reshape,
    torch.squeeze,
    torch.unsqueeze,
    torch.permute,
    torch.transpose,
    torch.narrow,
    torch.select,
    torch.index_select,
    torch.flip,
    torch.roll,
    torch.split,
    torch.chunk,
    torch.unbind,
    torch.repeat_interleave,
    *(getattr(Tensor, name).__get__ for name in ("T", "mT", "data") if hasattr(Tensor, name)),
}
# Ops that change device or dtype: applied to y_a and y_b; λ only follows the device. A floating result is a
# float cast: the mixed values λ·y_a + (1-λ)·y_b.
_CONVERT: set[Any] = {
    Tensor.to,
    Tensor.cpu,
    Tensor.cuda,
    Tensor.pin_memory,
    Tensor.long,
    Tensor.int,
    Tensor.short,
    Tensor.char,
    Tensor.byte,
    Tensor.bool,
    Tensor.type,
    Tensor.type_as,
    Tensor.float,
    Tensor.double,
    Tensor.half,
    Tensor.bfloat16,
}
_MIXUP_LOSSES = {"cross_entropy", "nll_loss"}
# Losses that would read one side only: refused, pointing at mix_loss or a float cast.
_OTHER_LOSSES: set[Any] = {
    getattr(F, name)
    for name in dir(F)
    if (name.endswith("_loss") or name in {"binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"})
    and name not in _MIXUP_LOSSES
    and callable(getattr(F, name))
}

_HELP = (
    "Under MixupCallback the integer labels of a training batch are `MixedLabels` (`y_a`, the partner labels `y_b`, "
    "the weights `lam`): F.cross_entropy / F.nll_loss (nn.CrossEntropyLoss / nn.NLLLoss) compute the exact mixup "
    "loss from them, a float cast (`y.float()`, `y.type_as(logits)`) or F.one_hot(y, C) gives the mixed targets, and "
    "`y.mix_loss(loss_fn, output)` interpolates any other loss. See the README section 'How the mixed labels reach "
    "your loss'."
)


class MixedLabelsError(ValueError):
    """A use of :class:`MixedLabels` that would silently see only one side of each mixed pair.

    A ``ValueError`` rather than a ``TypeError``: torch turns a ``TypeError`` raised inside ``==`` or ``+`` into
    ``NotImplemented``, and Python would then silently compare by identity.
    """


class LabelTracker:
    """Shared by every :class:`MixedLabels` derived from one batch's labels: whether they reached a loss.

    Attributes:
        consumed: set when the labels reach a mixup-aware loss or become mixed targets (float cast, ``one_hot``).
        reads: how many reads saw the dominant label (for diagnostics).
    """

    __slots__ = ("consumed", "reads", "recipes")

    def __init__(self) -> None:
        self.consumed = False
        self.reads = 0
        # results of reads (e.g. the mask `y == k`) and how to recompute them on each side, so that an in-place
        # change or an elementwise map that uses them (`y[y == k] = v`, `torch.where(y == k, v, y)`) is exact
        self.recipes: dict[int, tuple[Any, Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = {}


class MixedLabels(Tensor):
    """Integer labels ``y_a`` that carry their mixup partners ``y_b`` and the weights ``lam``.

    Args:
        y_a: integer labels ``(B, ...)``, the weight-``lam`` side of every mixed sample.
        y_b: integer labels of the partners, same shape and device.
        lam: weights of ``y_a``: ``(B,)`` (one per sample) or the labels' full shape.
        label_smoothing: ε that :func:`torch.nn.functional.cross_entropy` (and ``one_hot``) apply once to both sides.
        label_reads: what reads of the label values outside a loss see: ``"dominant"`` (default) or ``"strict"``
            (refused with :class:`MixedLabelsError`).
        tracker: the :class:`LabelTracker` to share (a new one by default).

    Example:
        >>> import torch.nn.functional as F
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
        >>> labels = MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([0.7, 1.0]))
        >>> expected = (0.7 * F.cross_entropy(logits, torch.tensor([0, 1]), reduction="none")
        ...             + 0.3 * F.cross_entropy(logits, torch.tensor([1, 1]), reduction="none")).mean()
        >>> bool(torch.isclose(F.cross_entropy(logits, labels), expected))
        True
        >>> labels.tolist(), labels.float().tolist()  # a read sees the dominant label; a cast, the mixed values
        ([0, 1], [0.30000001192092896, 1.0])
    """

    y_b: Tensor
    lam: Tensor
    label_smoothing: float
    label_reads: str
    tracker: LabelTracker
    _y_a: Tensor
    _dominant: Tensor | None

    @staticmethod
    def __new__(  # noqa: D102
        cls,
        y_a: Tensor,
        y_b: Tensor,
        lam: Tensor,
        label_smoothing: float = 0.0,
        label_reads: LabelReads = "dominant",
        tracker: LabelTracker | None = None,
    ) -> MixedLabels:
        for name, value in (("y_a", y_a), ("y_b", y_b)):
            if not isinstance(value, Tensor) or value.is_floating_point() or value.is_complex():
                kind = value.dtype if isinstance(value, Tensor) else type(value).__name__
                raise TypeError(f"Expected argument `{name}` to be an integer label tensor, but got {kind}.")
        y_a, y_b = _plain(y_a), _plain(y_b)
        if y_a.shape != y_b.shape or y_a.device != y_b.device:
            raise ValueError(
                f"Expected `y_a` and `y_b` of the same shape and device, but got {tuple(y_a.shape)} on {y_a.device} "
                f"and {tuple(y_b.shape)} on {y_b.device}."
            )
        if not isinstance(lam, Tensor) or not lam.is_floating_point():
            raise TypeError(f"Expected argument `lam` to be a floating-point tensor, but got {type(lam).__name__}.")
        lam = to_device(_plain(lam), y_a.device, torch.float32)
        if lam.shape != y_a.shape:
            if y_a.ndim < 1 or lam.shape != (y_a.shape[0],):
                raise ValueError(
                    f"Expected argument `lam` of shape ({y_a.shape[0] if y_a.ndim else ''},) or {tuple(y_a.shape)}, "
                    f"but got {tuple(lam.shape)}."
                )
            lam = lam.view(-1, *([1] * (y_a.ndim - 1))).expand(y_a.shape)
        check_probability(label_smoothing, "label_smoothing", upper_open=True)
        check_choice(label_reads, "label_reads", LABEL_READS)
        return _wrap(y_a, y_b, lam, float(label_smoothing), label_reads, tracker or LabelTracker())

    @property
    def y_a(self) -> Tensor:
        """The sample's own labels as a plain tensor (weight ``lam``)."""
        return self._y_a

    @property
    def dominant(self) -> Tensor:
        """The per-element dominant label as a plain tensor: ``y_a`` where ``lam >= 0.5``, else ``y_b``."""
        if self._dominant is None:
            with torch._C.DisableTorchFunctionSubclass():
                self._dominant = torch.where(self.lam >= 0.5, self._y_a, self.y_b)
        return self._dominant

    def mixed_values(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """``lam·y_a + (1-lam)·y_b`` as a plain float tensor: the mixed targets; counts as reaching a loss."""
        self.tracker.consumed = True
        if self.label_smoothing:
            raise MixedLabelsError(
                f"The labels carry label_smoothing={self.label_smoothing}, which a float cast cannot apply (smoothing "
                "binary or multi-hot targets is ambiguous). Smooth in your loss and set "
                "MixupCallback(label_smoothing=0)."
            )
        with torch._C.DisableTorchFunctionSubclass():
            return blend_pair(self._y_a, self.y_b, self.lam).to(dtype)

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        return f"MixedLabels(y_a={self._y_a}, y_b={self.y_b}, lam={self.lam})"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (_rebuild, (self._y_a, self.y_b, self.lam, self.label_smoothing, self.label_reads))

    def __deepcopy__(self, memo: dict[int, Any]) -> MixedLabels:
        return _wrap(
            self._y_a.clone(),
            self.y_b.clone(),
            self.lam.clone(),
            self.label_smoothing,
            self.label_reads,
            LabelTracker(),
        )

    def mix_loss(
        self, loss_fn: Callable[..., Tensor], output: Tensor, reduction: str = "mean", **kwargs: Any
    ) -> Tensor:
        """Mixup loss of any loss function that takes ``reduction="none"``: interpolated, then reduced.

        ``F.cross_entropy`` and ``F.nll_loss`` go through the mixed-label versions (class weights, ``ignore_index``
        and label smoothing as torch handles them). Any other loss is interpolated per element and its ``"mean"``
        is the plain average.

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
        check_choice(reduction, "reduction", ("none", "mean", "sum"))
        if loss_fn is F.cross_entropy or loss_fn is F.nll_loss:
            return loss_fn(output, self, reduction=reduction, **kwargs)
        if self.label_smoothing:
            name = getattr(loss_fn, "__name__", repr(loss_fn))
            raise MixedLabelsError(
                f"The labels carry label_smoothing={self.label_smoothing}, which only F.cross_entropy and F.nll_loss "
                f"apply; `{name}` would silently drop it. Smooth in your loss and set MixupCallback(label_smoothing=0)."
            )
        self.tracker.consumed = True
        loss_a = loss_fn(output, self._y_a, reduction="none", **kwargs)
        loss_b = loss_fn(output, self.y_b, reduction="none", **kwargs)
        lam = self.lam if self.lam.shape == loss_a.shape else _lam_for(self.lam, loss_a)
        loss = blend_pair(loss_a, loss_b, to_device(lam, loss_a.device))
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
        with torch._C.DisableTorchFunctionSubclass():
            if func in _METADATA:
                return func(*args, **kwargs)
            first = args[0] if args else None
            if func is F.cross_entropy:
                return _cross_entropy(*args, **kwargs)
            if func is F.nll_loss:
                return _nll_loss(*args, **kwargs)
            if func is F.one_hot:
                return _one_hot(*args, **kwargs)
            labels = _find_labels(args, kwargs)
            if func in _OTHER_LOSSES:
                raise MixedLabelsError(
                    f"`{_name(func)}` would see only one side of each mixed pair. Use "
                    f"`labels.mix_loss(F.{_name(func)}, output)` for its exact mixup loss, or cast integer "
                    f"(binary / multi-hot) labels to float first (`labels.float()`) to get the mixed targets. {_HELP}"
                )
            if isinstance(first, MixedLabels):
                if func in _SHAPE:
                    return _apply_structural(func, first, args, kwargs, shape=True)
                if func in _CONVERT:
                    return _apply_structural(func, first, args, kwargs, shape=False)
                if _is_inplace(func):
                    return _apply_inplace(func, first, args, kwargs)
            return _generic(func, labels, args, kwargs)


def _plain(t: Tensor) -> Tensor:
    """The tensor without the subclass (sharing its data)."""
    if type(t) is Tensor:
        return t
    if isinstance(t, MixedLabels):
        return t._y_a
    with torch._C.DisableTorchFunctionSubclass():
        return t.as_subclass(Tensor)


def _wrap(
    y_a: Tensor, y_b: Tensor, lam: Tensor, label_smoothing: float, label_reads: str, tracker: LabelTracker
) -> MixedLabels:
    obj = Tensor._make_subclass(MixedLabels, y_a)
    obj._y_a = y_a
    obj.y_b = y_b
    obj.lam = lam
    obj.label_smoothing = label_smoothing
    obj.label_reads = label_reads
    obj.tracker = tracker
    obj._dominant = None
    return obj


def _rebuild(y_a: Tensor, y_b: Tensor, lam: Tensor, label_smoothing: float, label_reads: str) -> MixedLabels:
    return _wrap(y_a, y_b, lam, label_smoothing, label_reads, LabelTracker())


def _derive(parent: MixedLabels, y_a: Tensor, y_b: Tensor, lam: Tensor) -> MixedLabels:
    return _wrap(y_a, y_b, lam, parent.label_smoothing, parent.label_reads, parent.tracker)


def _name(func: Any) -> str:
    return str(getattr(func, "__name__", None) or getattr(func, "__qualname__", None) or repr(func))


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    else:
        yield value


def _find_labels(args: tuple[Any, ...], kwargs: dict[str, Any]) -> MixedLabels:
    for value in _walk((args, kwargs)):
        if isinstance(value, MixedLabels):
            return value
    raise TypeError("MixedLabels.__torch_function__ called without MixedLabels among the arguments.")


def _substitute(value: Any, pick: Callable[[MixedLabels], Tensor]) -> Any:
    if isinstance(value, MixedLabels):
        return pick(value)
    if isinstance(value, tuple):
        return tuple(_substitute(v, pick) for v in value)
    if isinstance(value, list):
        return [_substitute(v, pick) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, pick) for k, v in value.items()}
    return value


def _map_result(result: Any, fn: Callable[[Tensor], Any]) -> Any:
    if isinstance(result, (tuple, list)):
        return type(result)(_map_result(r, fn) for r in result)
    return fn(result) if isinstance(result, Tensor) else result


def _apply_structural(
    func: Callable[..., Any], labels: MixedLabels, args: tuple[Any, ...], kwargs: dict[str, Any], *, shape: bool
) -> Any:
    rest = _substitute(args[1:], lambda m: m.dominant), _substitute(kwargs, lambda m: m.dominant)
    res_a = func(labels._y_a, *rest[0], **rest[1])
    if not shape and isinstance(res_a, Tensor) and (res_a.is_floating_point() or res_a.is_complex()):
        return labels.mixed_values(res_a.dtype).to(res_a.device)  # a float cast: the mixed targets
    res_b = _apply_like(func, labels.y_b, rest, res_a)
    if shape:
        res_lam = _apply_like(func, labels.lam, rest, res_a)
    else:
        res_lam = _map_result(res_a, lambda t: to_device(labels.lam, t.device))
    if isinstance(res_a, Tensor):
        assert isinstance(res_b, Tensor) and isinstance(res_lam, Tensor)  # same func, same structure
        return _derive(labels, res_a, res_b, res_lam)
    if isinstance(res_a, (tuple, list)):  # split / chunk / unbind
        return type(res_a)(_derive(labels, a, b, w) for a, b, w in zip(res_a, res_b, res_lam, strict=True))
    return res_a


def _apply_like(func: Callable[..., Any], t: Tensor, rest: tuple[Any, Any], reference: Any) -> Any:
    """``func`` on the partner labels or λ, whose memory layout may differ from ``y_a``'s.

    A ``view`` that needs ``y_a``'s strides falls back to ``reshape`` (same elements, same order).
    """
    try:
        return func(t, *rest[0], **rest[1])
    except RuntimeError:
        if isinstance(reference, Tensor) and reference.numel() == t.numel():
            return t.reshape(reference.shape)
        raise


# Integer results of the labels' shape that are not an elementwise map of them: a read, not mixed labels.
_NOT_ELEMENTWISE = {
    "argsort", "sort", "msort", "cumsum", "cumprod", "cummax", "cummin", "unique", "unique_consecutive",
    "searchsorted", "diff", "tril", "triu", "diag", "diagonal", "matmul", "mm", "bmm", "mv", "outer", "kron",
}  # fmt: skip


_INPLACE_DUNDERS = {
    "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
    "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__",
}  # fmt: skip


def _is_inplace(func: Any) -> bool:
    name = _name(func)
    return name in _INPLACE_DUNDERS or (name.endswith("_") and not name.startswith("_"))


def _side(value: Any, labels: MixedLabels, side: str) -> Any:
    """The arguments of an op for one side.

    Mixed labels become that side, and a tensor read from these labels (a tracked recipe) is recomputed on it.
    """
    if isinstance(value, MixedLabels):
        return value._y_a if side == "a" else value.y_b
    if isinstance(value, Tensor):
        recipe = labels.tracker.recipes.get(id(value))
        if recipe is not None and recipe[0]() is value:
            _, func, args, kwargs = recipe
            return func(*_side(args, labels, side), **_side(kwargs, labels, side))
        return value
    if isinstance(value, tuple):
        return tuple(_side(v, labels, side) for v in value)
    if isinstance(value, list):
        return [_side(v, labels, side) for v in value]
    if isinstance(value, dict):
        return {k: _side(v, labels, side) for k, v in value.items()}
    return value


def _apply_inplace(func: Callable[..., Any], labels: MixedLabels, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """An in-place change of the labels (``y[y == 5] = 0``, ``masked_fill_``): applied to each side alike."""
    func(labels._y_a, *_side(args[1:], labels, "a"), **_side(kwargs, labels, "a"))
    func(labels.y_b, *_side(args[1:], labels, "b"), **_side(kwargs, labels, "b"))
    labels._dominant = None
    return labels


def _needs_grad(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if not torch.is_grad_enabled():
        return False
    return any(
        isinstance(v, Tensor) and not isinstance(v, MixedLabels) and v.requires_grad for v in _walk((args, kwargs))
    )


def _generic(func: Callable[..., Any], labels: MixedLabels, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Any other op: an elementwise integer map of the labels stays mixed; everything else is a read."""
    grad = _needs_grad(args, kwargs)
    if not grad and not _is_inplace(func) and _name(func) not in _NOT_ELEMENTWISE:
        res_a = func(*_side(args, labels, "a"), **_side(kwargs, labels, "a"))
        if (
            isinstance(res_a, Tensor)
            and not (res_a.is_floating_point() or res_a.is_complex() or res_a.dtype == torch.bool)
            and res_a.shape == labels.shape
            and res_a.device == labels.device
        ):
            res_b = func(*_side(args, labels, "b"), **_side(kwargs, labels, "b"))
            return _derive(labels, res_a, res_b, labels.lam)
    if labels.label_reads == "strict":
        raise MixedLabelsError(
            f"`{_name(func)}` reads the label values, which under mixup have two sides (MixupCallback("
            f"label_reads='strict') refuses such reads; the default 'dominant' lets them see the dominant label). "
            f"{_HELP}"
        )
    if grad:
        raise MixedLabelsError(
            f"`{_name(func)}` reads the label values while building a loss (another argument requires grad), so it "
            "would silently use one side of each mixed pair — e.g. a hand-written loss that gathers log-probabilities "
            "by the labels, or integer labels multiplied into a loss. Use `labels.mix_loss(loss_fn, output)`, a float "
            "cast (`labels.float()`) or F.one_hot(labels, C) for mixed targets, or compute it under torch.no_grad() "
            f"if it is a metric. {_HELP}"
        )
    labels.tracker.reads += 1
    result = func(*_substitute(args, lambda m: m.dominant), **_substitute(kwargs, lambda m: m.dominant))
    if isinstance(result, Tensor) and result.shape == labels.shape:
        labels.tracker.recipes[id(result)] = (weakref.ref(result), func, args, kwargs)
    return result


def _reduce(loss: Tensor, reduction: str, denominator: Tensor | None = None) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / denominator if denominator is not None else loss.mean()
    raise ValueError(f"Expected argument `reduction` to be one of ('none', 'mean', 'sum'), but got {reduction!r}.")


def _lam_for(lam: Tensor, loss: Tensor) -> Tensor:
    """λ laid out like a per-element loss computed from these labels."""
    if lam.numel() == loss.numel():
        return lam.reshape(loss.shape)
    raise ValueError(
        f"Expected the per-element loss to have one value per label ({tuple(lam.shape)}), but got "
        f"{tuple(loss.shape)}. Compute the loss with reduction='none' on labels of this shape."
    )


def _deprecated_args(size_average: Any, reduce: Any) -> None:
    if size_average is not None or reduce is not None:
        raise TypeError(
            "The deprecated `size_average`/`reduce` arguments are not supported with mixed labels; use `reduction`."
        )


def _target_weight(target: Tensor, weight: Tensor | None, ignore_index: int, dtype: torch.dtype) -> Tensor:
    """The weight torch gives each label in a mean reduction: its class weight, 0 where ignored."""
    valid = target != ignore_index
    w = valid.to(dtype)
    if weight is not None:
        w = w * weight.to(dtype)[torch.where(valid, target, torch.zeros_like(target)).long()]
    return w


def _mixed_reduce(
    loss_a: Tensor,
    loss_b: Tensor,
    target: MixedLabels,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    """Reduce the two per-element losses as torch reduces each: ``λ·L(y_a) + (1-λ)·L(y_b)`` for one λ.

    Each side's weighted sum is divided by that side's torch denominator (the summed class weights of its
    non-ignored labels), so with one λ per batch the result is exactly the λ-weighted sum of the user's two losses.
    """
    lam = target.lam if target.lam.shape == loss_a.shape else _lam_for(target.lam, loss_a)
    lam = to_device(lam, loss_a.device, loss_a.dtype)
    if reduction == "none":
        return blend_pair(loss_a, loss_b, lam)
    side_a = torch.where(lam == 0, 0.0, loss_a * lam)
    side_b = torch.where(lam == 1, 0.0, loss_b * (1 - lam))
    if reduction == "sum":
        return side_a.sum() + side_b.sum()
    if reduction != "mean":
        raise ValueError(f"Expected argument `reduction` to be one of ('none', 'mean', 'sum'), but got {reduction!r}.")
    dtype = loss_a.dtype
    denom_a = _target_weight(target.y_a, weight, ignore_index, dtype).sum()
    denom_b = _target_weight(target.y_b, weight, ignore_index, dtype).sum()
    return side_a.sum() / denom_a + side_b.sum() / denom_b


def _check_range(target: MixedLabels, num_classes: int, ignore_index: int) -> bool | None:
    """The out-of-bounds message torch gives for labels on the CPU (on accelerators the kernels assert).

    Returns whether every label is a class in ``[0, num_classes)`` other than ``ignore_index`` (nothing ignored), or
    ``None`` where that is not looked at (accelerators, compilation).
    """
    if target.device.type != "cpu" or torch.compiler.is_compiling() or target.numel() == 0:
        return None
    plain = True
    for side in (target.y_a, target.y_b):
        low, high = (int(v) for v in torch.aminmax(side))  # one pass; the detailed look only when out of range
        if low >= 0 and high < num_classes:
            plain = plain and not (low <= ignore_index <= high)
            continue
        bad = (side != ignore_index) & ((side < 0) | (side >= num_classes))
        if bool(bad.any()):
            raise IndexError(f"Target {int(side[bad][0])} is out of bounds.")
        plain = False
    return plain


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
        raise MixedLabelsError(f"Mixed labels must be the `target` of F.cross_entropy, not its input. {_HELP}")
    _deprecated_args(size_average, reduce)
    if label_smoothing and target.label_smoothing:
        raise ValueError(
            f"Label smoothing would be applied twice: the loss has label_smoothing={label_smoothing} and the mixed "
            f"labels carry label_smoothing={target.label_smoothing}. Set it in one place only."
        )
    target.tracker.consumed = True
    smoothing = label_smoothing or target.label_smoothing
    plain = _check_range(target, int(input.shape[1]), ignore_index) if input.ndim >= 2 else None
    if (
        weight is None
        and not smoothing
        and input.ndim == 2
        and target.ndim == 1
        and target.dtype in (torch.int64, torch.uint8)
        and input.shape[0] == target.shape[0]
    ):
        return _cross_entropy_fast(input, target, ignore_index, reduction, plain=bool(plain))
    common: dict[str, Any] = {"weight": weight, "ignore_index": ignore_index, "reduction": "none"}
    if smoothing:
        common["label_smoothing"] = smoothing
    loss_a = F.cross_entropy(input, target.y_a, **common)
    loss_b = F.cross_entropy(input, target.y_b, **common)
    return _mixed_reduce(loss_a, loss_b, target, weight, ignore_index, reduction)


def _cross_entropy_fast(
    input: Tensor, target: MixedLabels, ignore_index: int, reduction: str, *, plain: bool = False
) -> Tensor:
    """The common case, ``(N, C)`` logits without class weights or smoothing: one log-softmax and two gathers.

    Ignored labels are masked rather than looked for, so there is no host synchronisation on an accelerator. On the
    CPU, where the range check has already looked at the labels (``plain``: none ignored), the masks are skipped.
    """
    logp = F.log_softmax(input if input.dtype in (torch.float32, torch.float64) else input.float(), dim=1)
    lam = to_device(target.lam, logp.device, logp.dtype)
    labels = torch.stack([target.y_a, target.y_b], dim=1).long()  # (N, 2)
    if plain and lam.device.type == "cpu" and bool(((lam > 0) & (lam < 1)).all()):
        # no ignored label and no λ at 0 or 1 (so no zero weight can meet an infinite log-probability)
        picked = logp.gather(1, labels)
        per_sample = -torch.lerp(picked[:, 1], picked[:, 0], lam)
        return _reduce(per_sample, reduction)
    valid = labels != ignore_index
    picked = logp.gather(1, labels.masked_fill(~valid, 0))
    weights = torch.stack([lam, 1 - lam], dim=1) * valid  # λ and 1 - λ, 0 for ignored labels
    terms = torch.where(weights > 0, -picked * weights, 0.0)  # a zero weight never meets an infinite log-prob
    if reduction == "mean":
        counts = valid.sum(0).to(logp.dtype)  # each side's torch denominator: its non-ignored labels
        return (terms.sum(0) / counts).sum()
    if reduction == "none":
        return terms.sum(1)
    return _reduce(terms.sum(1), reduction)


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
        raise MixedLabelsError(f"Mixed labels must be the `target` of F.nll_loss, not its input. {_HELP}")
    _deprecated_args(size_average, reduce)
    target.tracker.consumed = True
    if input.ndim >= 2:
        _check_range(target, int(input.shape[1]), ignore_index)
    eps = target.label_smoothing
    if eps and weight is not None:
        raise ValueError("Label smoothing with class weights is only supported by F.cross_entropy, not F.nll_loss.")
    loss_a = F.nll_loss(input, target.y_a, weight=weight, ignore_index=ignore_index, reduction="none")
    loss_b = F.nll_loss(input, target.y_b, weight=weight, ignore_index=ignore_index, reduction="none")
    if eps:  # smoothing on log-probabilities, as F.cross_entropy applies it: (1-ε)·nll + ε·mean(-log p)
        smooth = -input.mean(dim=1)
        loss_a = torch.where(target.y_a != ignore_index, (1 - eps) * loss_a + eps * smooth, 0.0)
        loss_b = torch.where(target.y_b != ignore_index, (1 - eps) * loss_b + eps * smooth, 0.0)
    return _mixed_reduce(loss_a, loss_b, target, weight, ignore_index, reduction)


def _one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """``F.one_hot`` of mixed labels: the mixed one-hot targets ``λ·onehot(y_a) + (1-λ)·onehot(y_b)`` (float32)."""
    if not isinstance(tensor, MixedLabels):
        raise MixedLabelsError(f"Mixed labels must be the tensor F.one_hot encodes. {_HELP}")
    tensor.tracker.consumed = True
    if num_classes == -1:
        num_classes = int(torch.maximum(tensor.y_a.max(), tensor.y_b.max())) + 1 if tensor.numel() else 0
    one_a = F.one_hot(tensor.y_a.long(), num_classes).float()
    one_b = F.one_hot(tensor.y_b.long(), num_classes).float()
    eps = tensor.label_smoothing
    if eps:
        one_a = one_a * (1 - eps) + eps / num_classes
        one_b = one_b * (1 - eps) + eps / num_classes
    return blend_pair(one_a, one_b, tensor.lam.unsqueeze(-1))
