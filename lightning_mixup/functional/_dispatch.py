"""How torch ops on :class:`~lightning_mixup.functional.labels.MixedLabels` are routed.

``MixedLabels.__torch_function__`` hands every op to :func:`dispatch`, which sorts it into one of these categories
(first match wins; ``docs/design.md`` has the table and a worked example):

1. metadata (``.shape``, ``.dtype``, ``len``): answered from ``y_a``;
2. ``F.cross_entropy``, ``F.nll_loss``, ``F.one_hot``: the mixed versions in :mod:`._losses`; ``F.embedding`` of
   the labels (a decoder fed its target sequence): the lookups of both sides mixed with λ;
3. any other loss (``F.mse_loss``, ``F.binary_cross_entropy``...): refused, it would read one side only;
4. shape ops (``view``, slicing, ``split``): applied to ``y_a``, ``y_b`` and λ alike, the result stays mixed;
5. conversions (``.to``, ``.long()``): applied to both sides; a floating result is a float cast, the mixed values;
6. in-place changes (``y[y == 5] = 0``, ``masked_fill_``): applied to each side;
7. anything else: an integer elementwise map of the labels (``y - 1``) stays mixed; every other use is a read of
   the dominant label (``lam >= 0.5``), refused under ``label_reads="strict"`` or while building a loss.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._device import to_device
from lightning_mixup.functional import _losses
from lightning_mixup.functional.apply import blend_pair
from lightning_mixup.functional.labels import _HELP, MixedLabels, MixedLabelsError, _derive

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


def dispatch(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Apply ``func`` to arguments among which are mixed labels, as the category of ``func`` says."""
    with torch._C.DisableTorchFunctionSubclass():
        if func in _METADATA:
            return func(*args, **kwargs)
        first = args[0] if args else None
        if func is F.cross_entropy:
            return _losses.cross_entropy(*args, **kwargs)
        if func is F.nll_loss:
            return _losses.nll_loss(*args, **kwargs)
        if func is F.one_hot:
            if isinstance(first, MixedLabels):
                _check_soft_target_refusal(first, sys._getframe(2))
            return _losses.one_hot(*args, **kwargs)
        if func is F.embedding and isinstance(first, MixedLabels):
            return _embedding(first, args, kwargs)
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


# Names whose presence in the code that one-hot encodes the labels suggests it checks their shape first.
_SHAPE_CHECKS = {"ndim", "dim", "ndimension"}


def _check_soft_target_refusal(labels: MixedLabels, caller: Any) -> None:
    """Warn (refuse under ``label_reads="strict"``) when the code one-hot encoding the labels checks their shape.

    A loss that refuses soft targets by their shape (torch-uncertainty's ``DECLoss``: ``targets.ndim != 1``) then
    one-hot encodes hard labels cannot see that mixed labels are mixed: they have the shape of hard labels, and
    ``F.one_hot`` gives it the mixed targets ỹ. Its loss is then ``ℓ(f(x̃), ỹ)``, which is ``λ·ℓ(y_a) + (1-λ)·ℓ(y_b)``
    only for a loss linear in its target.
    """
    code = getattr(caller, "f_code", None)
    if code is None or not _SHAPE_CHECKS & set(code.co_names):
        return
    where = f"`{code.co_qualname if hasattr(code, 'co_qualname') else code.co_name}`"
    message = (
        f"{where} checks the shape of its labels and then one-hot encodes them: a loss that refuses soft (mixup) "
        "targets this way cannot tell that MixedLabels are mixed (they have the shape of hard labels), and "
        "F.one_hot gives it the mixed targets ỹ = λ·onehot(y_a) + (1-λ)·onehot(y_b). Its loss is then ℓ(f(x̃), ỹ), "
        "which equals λ·ℓ(y_a) + (1-λ)·ℓ(y_b) only if it is linear in its target (cross-entropy with class "
        "probabilities; not Dice, Jaccard, Brier or a KL regulariser). For the exact combination compute it as "
        "`y.mix_loss(criterion, output, reduction=None)`; keep it as it is if ỹ is what you want."
    )
    if labels.label_reads == "strict":
        raise MixedLabelsError(f"{message} (MixupCallback(label_reads='strict') refuses it.) {_HELP}")
    warnings.warn(message, UserWarning, stacklevel=4)


def _embedding(labels: MixedLabels, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """Labels looked up as inputs (a decoder fed the target sequence): ``λ·E[y_a] + (1-λ)·E[y_b]`` per element.

    The lookups are mixed as the batch's own ids are (embedding mixup), with the labels' λ: the model sees both
    samples' targets as it sees both samples' inputs. The result is a plain float tensor.
    """
    rows_a = F.embedding(labels._y_a, *args[1:], **kwargs)
    rows_b = F.embedding(labels.y_b, *args[1:], **kwargs)
    return blend_pair(rows_a, rows_b, to_device(labels.lam, rows_a.device).unsqueeze(-1))


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
    weight = labels.weight  # per-row loss weights (RegMixup's η) move as λ does
    if weight is None:
        res_w = res_lam
    elif shape:
        res_w = _apply_like(func, weight, rest, res_a)
    else:
        res_w = _map_result(res_a, lambda t: to_device(weight, t.device))
    if isinstance(res_a, Tensor):
        assert isinstance(res_b, Tensor) and isinstance(res_lam, Tensor)  # same func, same structure
        return _derive(labels, res_a, res_b, res_lam, res_w if labels.weight is not None else None)
    if isinstance(res_a, (tuple, list)):  # split / chunk / unbind
        parts = zip(res_a, res_b, res_lam, res_w, strict=True)
        return type(res_a)(_derive(labels, a, b, w, v if labels.weight is not None else None) for a, b, w, v in parts)
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
    name = _name(func)
    labels.tracker.read_ops[name] = labels.tracker.read_ops.get(name, 0) + 1
    result = func(*_substitute(args, lambda m: m.dominant), **_substitute(kwargs, lambda m: m.dominant))
    if isinstance(result, Tensor) and result.shape == labels.shape:
        labels.tracker.recipes[id(result)] = (weakref.ref(result), func, args, kwargs)
    return result
