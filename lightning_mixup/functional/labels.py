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
  ``F.one_hot(y, C)`` the mixed one-hot targets ỹ = ``λ·onehot(y_a) + (1-λ)·onehot(y_b)`` — mixup's own
  definition. **The contract:** a loss computed from ỹ is ``ℓ(f(x̃), ỹ)``. It equals ``λ·ℓ(y_a) + (1-λ)·ℓ(y_b)``
  only for a loss linear in its target (cross-entropy with class probabilities, a DEC log or digamma term); for
  Dice, Jaccard, Brier / MSE, focal or a KL regulariser it is mixup's soft-target loss, not the λ-combination.
  Code that checks the labels' shape before one-hot encoding them (a loss refusing soft targets by
  ``targets.ndim``) gets a warning (an error under ``label_reads="strict"``), since mixed labels have the shape of
  hard labels. The exact combination of any loss: ``y.mix_loss(criterion, output, reduction=None)``.
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
the labels reached a loss (or became targets) and which ops read them, so the callback can name a model that
ignores its labels, or a loss built from reads (``y == c``) that saw the dominant label only.

Where the code is: this module holds the class and its construction; :mod:`._dispatch` sorts every torch op on it
into the categories above, :mod:`._losses` computes the mixed losses. ``docs/design.md`` walks a label from
the batch to the loss, with a worked example.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup._checks import check_choice, check_probability, describe
from lightning_mixup._device import to_device
from lightning_mixup.functional.apply import blend_pair

LabelReads = Literal["dominant", "strict"]
LABEL_READS: tuple[str, ...] = ("dominant", "strict")

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
        read_ops: how many times each op read them (``{"__eq__": 4}``), named in the "never reached a loss" error.
    """

    __slots__ = ("consumed", "read_ops", "reads", "recipes")

    def __init__(self) -> None:
        self.consumed = False
        self.reads = 0
        self.read_ops: dict[str, int] = {}
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
        weight: optional per-row weights ``(B,)`` (or the labels' full shape), multiplied into each per-element
            loss while torch's mean denominator is left as it is (RegMixup's η on its mixed rows). ``None`` (default)
            weighs every element 1. A float cast or ``F.one_hot`` cannot express a weight other than 1 and raises.

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
    weight: Tensor | None
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
        weight: Tensor | None = None,
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
            raise TypeError(f"Expected argument `lam` to be a floating-point tensor, but got {describe(lam)}.")
        lam = _per_element(lam, y_a, "lam")
        if weight is not None:
            if not isinstance(weight, Tensor) or not weight.is_floating_point():
                raise TypeError(
                    f"Expected argument `weight` to be a floating-point tensor or None, but got {describe(weight)}."
                )
            weight = _per_element(weight, y_a, "weight")
        check_probability(label_smoothing, "label_smoothing", upper_open=True)
        check_choice(label_reads, "label_reads", LABEL_READS)
        return _wrap(y_a, y_b, lam, float(label_smoothing), label_reads, tracker or LabelTracker(), weight)

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
        self._refuse_weight("A float cast")
        if self.label_smoothing:
            raise MixedLabelsError(
                f"The labels carry label_smoothing={self.label_smoothing}, which a float cast cannot apply (smoothing "
                "binary or multi-hot targets is ambiguous). Smooth in your loss and set "
                "MixupCallback(label_smoothing=0)."
            )
        with torch._C.DisableTorchFunctionSubclass():
            return blend_pair(self._y_a, self.y_b, self.lam).to(dtype)

    def _refuse_weight(self, what: str) -> None:
        if self.weight is not None:
            with torch._C.DisableTorchFunctionSubclass():
                uniform = bool((self.weight == 1).all())
            if not uniform:
                raise MixedLabelsError(
                    f"{what} cannot carry the per-row loss weights of these labels (RegMixup's η ≠ 1): only "
                    "F.cross_entropy, F.nll_loss and `mix_loss` apply them. Use one of those, or regmixup_eta=1."
                )

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        extra = "" if self.weight is None else f", weight={self.weight}"
        return f"MixedLabels(y_a={self._y_a}, y_b={self.y_b}, lam={self.lam}{extra})"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (_rebuild, (self._y_a, self.y_b, self.lam, self.label_smoothing, self.label_reads, self.weight))

    def __deepcopy__(self, memo: dict[int, Any]) -> MixedLabels:
        return _wrap(
            self._y_a.clone(),
            self.y_b.clone(),
            self.lam.clone(),
            self.label_smoothing,
            self.label_reads,
            LabelTracker(),
            None if self.weight is None else self.weight.clone(),
        )

    def mix_loss(
        self, loss_fn: Callable[..., Tensor], output: Tensor, reduction: str | None = "mean", **kwargs: Any
    ) -> Tensor:
        """Mixup loss of any loss function that takes ``reduction="none"``: interpolated, then reduced.

        ``F.cross_entropy`` and ``F.nll_loss`` go through the mixed-label versions (class weights, ``ignore_index``
        and label smoothing as torch handles them). Any other loss is interpolated per element and its ``"mean"``
        is the plain average. ``reduction=None`` is for a loss that reduces itself (a focal, Dice or Jaccard
        module, a loss that compares ``y == c``): it is called once per side, ``loss_fn(output, y, **kwargs)``
        with plain integer labels, and the result is ``λ·L(y_a) + (1-λ)·L(y_b)`` — exact for any loss, with one
        λ per batch (``mode="batch"``, the default).

        Args:
            loss_fn: called as ``loss_fn(output, labels, reduction="none", **kwargs)`` (``reduction=None``:
                ``loss_fn(output, labels, **kwargs)``).
            output: the model's output for the mixed batch.
            reduction: ``"mean"``, ``"sum"``, ``"none"``, or ``None`` for a loss that reduces itself.
            kwargs: passed to ``loss_fn``.

        Raises:
            MixedLabelsError: if the labels carry label smoothing and ``loss_fn`` cannot apply it, or, with
                ``reduction=None``, if λ differs between samples (``mode="pair"``/``"elem"``).

        Example:
            >>> import torch.nn.functional as F
            >>> labels = MixedLabels(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.25]))
            >>> logits = torch.tensor([[0.0, 0.0]])
            >>> float(labels.mix_loss(F.multi_margin_loss, logits))
            0.5
            >>> float(labels.mix_loss(lambda out, y: (out.argmax(1) != y).float().mean(), logits, reduction=None))
            0.75
        """
        if reduction is None:
            return self._mix_reduced(loss_fn, output, **kwargs)
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
        lam = self.lam if self.lam.shape == loss_a.shape else _losses.lam_for(self.lam, loss_a)
        loss = blend_pair(loss_a, loss_b, to_device(lam, loss_a.device))
        if self.weight is not None:
            loss = loss * to_device(_losses.lam_for(self.weight, loss), loss.device, loss.dtype)
        return _losses.reduce_loss(loss, reduction)

    def _mix_reduced(self, loss_fn: Callable[..., Tensor], output: Tensor, **kwargs: Any) -> Tensor:
        """``λ·L(y_a) + (1-λ)·L(y_b)`` for a loss that reduces itself; one λ for the whole batch."""
        name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
        lam = self.lam.reshape(-1)
        if lam.numel() and not bool((lam == lam[0]).all()):
            raise MixedLabelsError(
                f"Expected one λ for the batch to weight `{name}`, which reduces itself (reduction=None), but the "
                f"labels carry λ from {float(lam.min())} to {float(lam.max())} (mode='pair' or 'elem'). Use "
                "MixupCallback(mode='batch'), or a loss_fn that takes reduction='none'."
            )
        if self.label_smoothing:
            raise MixedLabelsError(
                f"The labels carry label_smoothing={self.label_smoothing}, which `{name}` would silently drop. Smooth "
                "in your loss and set MixupCallback(label_smoothing=0)."
            )
        self.tracker.consumed = True
        weight = float(lam[0]) if lam.numel() else 1.0
        loss_a = loss_fn(output, self._y_a, **kwargs)
        if weight == 1.0:
            return loss_a
        loss_b = loss_fn(output, self.y_b, **kwargs)
        return blend_pair(loss_a, loss_b, torch.tensor(weight, device=loss_a.device))

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Route every torch op on mixed labels: see :mod:`~lightning_mixup.functional._dispatch`."""
        return _dispatch.dispatch(func, args, kwargs or {})


def _plain(t: Tensor) -> Tensor:
    """The tensor without the subclass (sharing its data)."""
    if type(t) is Tensor:
        return t
    if isinstance(t, MixedLabels):
        return t._y_a
    with torch._C.DisableTorchFunctionSubclass():
        return t.as_subclass(Tensor)


def _per_element(value: Tensor, y_a: Tensor, name: str) -> Tensor:
    """``lam`` or ``weight`` as float32 of the labels' full shape (a ``(B,)`` tensor is broadcast per sample)."""
    value = to_device(_plain(value), y_a.device, torch.float32)
    if value.shape != y_a.shape:
        if y_a.ndim < 1 or value.shape != (y_a.shape[0],):
            raise ValueError(
                f"Expected argument `{name}` of shape ({y_a.shape[0] if y_a.ndim else ''},) or {tuple(y_a.shape)}, "
                f"but got {tuple(value.shape)}."
            )
        value = value.view(-1, *([1] * (y_a.ndim - 1))).expand(y_a.shape)
    return value


def _wrap(
    y_a: Tensor,
    y_b: Tensor,
    lam: Tensor,
    label_smoothing: float,
    label_reads: str,
    tracker: LabelTracker,
    weight: Tensor | None = None,
) -> MixedLabels:
    obj = Tensor._make_subclass(MixedLabels, y_a)
    obj._y_a = y_a
    obj.y_b = y_b
    obj.lam = lam
    obj.label_smoothing = label_smoothing
    obj.label_reads = label_reads
    obj.tracker = tracker
    obj.weight = weight
    obj._dominant = None
    return obj


def _rebuild(
    y_a: Tensor, y_b: Tensor, lam: Tensor, label_smoothing: float, label_reads: str, weight: Tensor | None = None
) -> MixedLabels:
    return _wrap(y_a, y_b, lam, label_smoothing, label_reads, LabelTracker(), weight)


def _derive(parent: MixedLabels, y_a: Tensor, y_b: Tensor, lam: Tensor, weight: Tensor | None = None) -> MixedLabels:
    """Labels derived from ``parent`` by an op.

    ``weight``: the op applied to the parent's weight; ``None`` keeps it (an elementwise map keeps the shape).
    """
    if weight is None and parent.weight is not None:
        if parent.weight.shape != y_a.shape:
            raise MixedLabelsError(
                f"Expected the per-row weights to follow the labels' shape {tuple(y_a.shape)}, but got "
                f"{tuple(parent.weight.shape)}."
            )
        weight = to_device(parent.weight, y_a.device)
    return _wrap(y_a, y_b, lam, parent.label_smoothing, parent.label_reads, parent.tracker, weight)


# The routing and the losses use the class above; imported last so that either module may be imported first.
from lightning_mixup.functional import _dispatch, _losses  # noqa: E402
