"""One home for argument checks, so every message has the same shape.

Every check raises with the template ``Expected argument `name` to be <what>, but got <value>.`` (torchmetrics'
``utilities/checks.py`` style). Pure Python and torch: no Lightning import. Bools are never accepted where numbers
are meant (``True`` is an ``int`` to Python, but ``warmup_epochs=True`` is a mistake, not 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor

__all__ = [
    "check_bool",
    "check_choice",
    "check_finite_float",
    "check_int",
    "check_key",
    "check_probability",
    "check_tensor",
    "describe",
]


def describe(value: Any) -> str:
    """A short description of a value for an error message: its repr, or the type and shape of a tensor."""
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else f"a {type(value).__name__}"


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None, optional: bool = False
) -> None:
    """An ``int`` (never a ``bool``) in ``[minimum, maximum]``, or ``None`` when ``optional``.

    Example:
        >>> check_int(3, "warmup_epochs", minimum=0)
        >>> check_int(True, "warmup_epochs", minimum=0)
        Traceback (most recent call last):
        ...
        ValueError: Expected argument `warmup_epochs` to be an int >= 0, but got True.
    """
    if optional and value is None:
        return
    ok = isinstance(value, int) and not isinstance(value, bool)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        what = _int_what(minimum, maximum, optional)
        raise ValueError(f"Expected argument `{name}` to be {what}, but got {value!r}.")


def _int_what(minimum: int | None, maximum: int | None, optional: bool) -> str:
    if minimum is not None and maximum is not None:
        what = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        what = f"an int >= {minimum}"
    elif maximum is not None:
        what = f"an int <= {maximum}"
    else:
        what = "an int"
    return f"{what} or None" if optional else what


def check_finite_float(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    allow_zero: bool = True,
    min_positive: float | None = None,
    expected: str | None = None,
) -> None:
    """A finite real number (not a bool) in ``[minimum, maximum]``.

    Args:
        value: the value to check.
        name: the argument's name, for the message.
        minimum: the smallest allowed value.
        maximum: the largest allowed value.
        allow_zero: whether exactly 0 is allowed when ``minimum`` is 0 and ``min_positive`` is set.
        min_positive: the smallest allowed value other than 0 (e.g. to refuse a subnormal α).
        expected: what the message says is expected, in place of the description built from the bounds.

    Example:
        >>> check_finite_float(0.2, "alpha", minimum=0.0, min_positive=1e-3)
        >>> check_finite_float(1e-320, "alpha", minimum=0.0, min_positive=1e-3)
        Traceback (most recent call last):
        ...
        ValueError: Expected argument `alpha` to be 0 or a finite float >= 0.001, but got 1e-320.
    """
    ok = _is_real(value) and math.isfinite(value)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if ok and min_positive is not None and value != 0:
        ok = abs(value) >= min_positive
    if ok and value == 0 and not allow_zero:
        ok = False
    if ok:
        return
    if expected is not None:
        what = expected
    elif min_positive is not None:
        what = f"0 or a finite float >= {min_positive}" if allow_zero else f"a finite float >= {min_positive}"
        if maximum is not None:
            what += f" and <= {maximum}"
    elif minimum is not None and maximum is not None:
        what = f"a finite float in [{minimum}, {maximum}]"
    elif minimum is not None:
        what = "a non-negative finite float" if minimum == 0 else f"a finite float >= {minimum}"
    elif maximum is not None:
        what = f"a finite float <= {maximum}"
    else:
        what = "a finite float"
    raise ValueError(f"Expected argument `{name}` to be {what}, but got {value!r}.")


def check_probability(value: Any, name: str = "prob", *, upper_open: bool = False) -> None:
    """A real number in ``[0, 1]`` (``[0, 1)`` with ``upper_open``), never a bool.

    Example:
        >>> check_probability(1.5, "switch_prob")
        Traceback (most recent call last):
        ...
        ValueError: Expected argument `switch_prob` to be a float in [0, 1], but got 1.5.
    """
    ok = _is_real(value) and 0.0 <= value <= 1.0 and not (upper_open and value == 1.0)
    if not ok:
        interval = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"Expected argument `{name}` to be a float in {interval}, but got {value!r}.")


def check_bool(value: Any, name: str) -> None:
    """A ``bool``.

    Example:
        >>> check_bool(1, "log")
        Traceback (most recent call last):
        ...
        ValueError: Expected argument `log` to be a bool, but got 1.
    """
    if not isinstance(value, bool):
        raise ValueError(f"Expected argument `{name}` to be a bool, but got {value!r}.")


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> None:
    """One of ``choices`` (a module-level tuple, also used in the ``Literal`` of the argument's type).

    Example:
        >>> check_choice("bach", "mode", ("batch", "pair", "elem"))
        Traceback (most recent call last):
        ...
        ValueError: Expected argument `mode` to be one of ('batch', 'pair', 'elem'), but got 'bach'.
    """
    try:
        ok = value in choices and not isinstance(value, bool)
    except TypeError:  # unhashable or incomparable
        ok = False
    if not ok:
        raise ValueError(f"Expected argument `{name}` to be one of {tuple(choices)}, but got {value!r}.")


def check_key(value: Any, name: str, *, optional: bool = True) -> None:
    """A batch key: an ``int`` index or a ``str`` key/field name (``None`` to detect it when ``optional``)."""
    if optional and value is None:
        return
    if not isinstance(value, (int, str)) or isinstance(value, bool):
        what = "an int index, a str key or None" if optional else "an int index or a str key"
        raise ValueError(f"Expected argument `{name}` to be {what}, but got {value!r}.")


def check_tensor(
    value: Any, name: str, *, min_ndim: int = 0, floating: bool | None = None, shape_hint: str | None = None
) -> None:
    """A ``torch.Tensor`` with at least ``min_ndim`` dimensions (and a floating or integer dtype if asked).

    Raises:
        TypeError: if ``value`` is not a tensor, or has the wrong kind of dtype.
        ValueError: if it has too few dimensions.

    Example:
        >>> check_tensor([1, 2], "x", min_ndim=1)
        Traceback (most recent call last):
        ...
        TypeError: Expected argument `x` to be a torch.Tensor, but got [1, 2].
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"Expected argument `{name}` to be a torch.Tensor, but got {describe(value)}.")
    if value.ndim < min_ndim:
        shape = shape_hint or f"at least {min_ndim} dimension" + ("s" if min_ndim != 1 else "")
        raise ValueError(f"Expected argument `{name}` of shape {shape}, but got shape {tuple(value.shape)}.")
    if floating is True and not value.is_floating_point():
        raise TypeError(f"Expected argument `{name}` to be a floating-point tensor, but got {value.dtype}.")
    if floating is False and (value.is_floating_point() or value.is_complex()):
        raise TypeError(f"Expected argument `{name}` to be an integer tensor, but got {value.dtype}.")


def check_two_halves(logits: Any, y: Any, batch_size: int) -> None:
    """Logits ``(2B, C)`` of a batch's two halves (RegMixup's clean + mixed rows, MIT's two mixtures), labels ``(B,)``.

    Raises:
        TypeError: if either is not a tensor of the right kind.
        ValueError: if the shapes do not match ``batch_size``.
    """
    check_tensor(logits, "logits", min_ndim=2, shape_hint="(2B, C)")
    check_tensor(y, "y", min_ndim=1, floating=False, shape_hint="(B,)")
    if logits.shape[0] != 2 * batch_size or y.shape[0] != batch_size:
        raise ValueError(
            f"Expected `logits` of shape (2B, C) and `y` of shape (B,) with B = {batch_size}, but got "
            f"{tuple(logits.shape)} and {tuple(y.shape)}."
        )
