"""Where the inputs and targets are in a training batch, and a copy of the batch with them replaced.

Pure Python (no Lightning, no torch state). Batches are lists, tuples, namedtuples or mappings; keys are int
indices, namedtuple field names or mapping keys.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Union

BatchKey = Union[int, str]  # noqa: UP007 (jsonargparse reads this alias at runtime on Python 3.10)

# Conventional names of dict batches: exactly one of each must be present (several are ambiguous and refused).
# `mask` is the segmentation target of torchgeo and segmentation_models_pytorch ({"image", "mask"}).
TARGET_NAMES: tuple[str, ...] = ("labels", "label", "targets", "target", "y", "mask")
INPUT_NAMES: tuple[str, ...] = ("input_ids", "pixel_values", "inputs", "input", "x", "images", "image", "features")
# Inputs that come in groups, all mixed with the same λ and partner: pytorch-tabular's float `continuous` features
# and integer `categorical` ids (looked up by embeddings: embedding mixup). Used when no name of INPUT_NAMES is
# present; a member without elements (pytorch-tabular's `Tensor()` for a table without such columns) is left out.
INPUT_GROUPS: tuple[tuple[str, ...], ...] = (("continuous", "categorical"),)
# Companions of the inputs, combined for a mixed pair: a position is attended if either sample attends it.
MASK_NAMES: tuple[str, ...] = ("attention_mask",)


def describe_batch(batch: Any) -> str:
    """A short description of a batch's structure for error messages."""
    if isinstance(batch, Mapping):
        return f"a {type(batch).__name__} with keys {list(batch.keys())}"
    if hasattr(batch, "_fields"):
        return f"a {type(batch).__name__} with fields {list(batch._fields)}"
    if is_sequence(batch):
        return f"a {type(batch).__name__} of length {len(batch)}"
    shape = getattr(batch, "shape", None)
    return f"a {type(batch).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def is_sequence(batch: Any) -> bool:
    """A list or tuple batch (not a string, not a tensor)."""
    return isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and not hasattr(batch, "shape")


def detect_keys(
    batch: Any, input_key: BatchKey | list[BatchKey] | None, target_key: BatchKey | None
) -> tuple[list[BatchKey], BatchKey, list[BatchKey]]:
    """Resolve ``(input keys, target key, mask keys)`` for a batch; explicit keys win.

    Sequences default to inputs at 0 and targets at 1. Mappings use the conventional names
    (:data:`INPUT_NAMES`, :data:`TARGET_NAMES`), else an input group (:data:`INPUT_GROUPS`: pytorch-tabular's
    ``continuous`` and ``categorical``, both inputs); ``attention_mask`` is returned as a mask key when present.

    Warns:
        UserWarning: if an explicit ``input_key`` names some members of an input group and the batch has others
            with elements (``input_key="continuous"`` with non-empty ``categorical`` ids): those stay unmixed.

    Raises:
        ValueError: if the batch has no such entries, or the names are ambiguous; the message lists the keys.

    Example:
        >>> detect_keys({"input_ids": 1, "attention_mask": 2, "labels": 3}, None, None)
        (['input_ids'], 'labels', ['attention_mask'])
        >>> detect_keys((1, 2), None, None)
        ([0], 1, [])
        >>> detect_keys({"target": 1, "continuous": [0.5], "categorical": [3]}, None, None)
        (['continuous', 'categorical'], 'target', [])
    """
    hint = "Set MixupCallback(input_key=..., target_key=...) to where the inputs and targets are."
    if isinstance(batch, Mapping):
        if target_key is None:
            target_key = _conventional(batch, TARGET_NAMES, "target", hint)
        if input_key is None:
            group = _group(batch)
            input_key = group if group and not any(n in batch for n in INPUT_NAMES) else None
            if input_key is None:
                input_key = _conventional(batch, INPUT_NAMES, "input", hint)
        else:
            _warn_partial_group(batch, input_key)
        masks: list[BatchKey] = [name for name in MASK_NAMES if name in batch]
    elif is_sequence(batch):
        if input_key is None and target_key is None and len(batch) != 2:
            raise ValueError(
                f"Expected a training batch (inputs, targets), but got {describe_batch(batch)}: with more than two "
                f"entries it is ambiguous which are the inputs. {hint}"
            )
        input_key = 0 if input_key is None else input_key
        target_key = 1 if target_key is None else target_key
        masks = []
    else:
        raise ValueError(
            f"Expected the training batch to be a list, tuple, namedtuple or mapping holding inputs and targets, but "
            f"got {describe_batch(batch)}. MixupCallback mixes inputs together with their targets; a batch without "
            "targets (an autoencoder, a GAN's real samples) has nothing to mix them with — for a GAN use "
            "MixupMixin.mix_discriminator in the discriminator step."
        )
    inputs = list(input_key) if isinstance(input_key, (list, tuple)) else [input_key]
    if target_key in inputs:
        raise ValueError(f"Expected `input_key` and `target_key` to differ, but both name {target_key!r}.")
    for key in [*inputs, target_key]:
        get(batch, key, "input_key" if key in inputs else "target_key")
    return inputs, target_key, [m for m in masks if m not in inputs and m != target_key]


def _group(batch: Mapping[Any, Any]) -> list[BatchKey]:
    """The members with elements of the first input group present in ``batch`` (empty if none)."""
    for names in INPUT_GROUPS:
        present: list[BatchKey] = [name for name in names if name in batch and _has_elements(batch[name])]
        if present:
            return present
    return []


def _has_elements(value: Any) -> bool:
    numel = getattr(value, "numel", None)
    return bool(numel()) if callable(numel) else True


def _warn_partial_group(batch: Mapping[Any, Any], input_key: BatchKey | list[BatchKey]) -> None:
    chosen = list(input_key) if isinstance(input_key, (list, tuple)) else [input_key]
    group = _group(batch)
    left = [name for name in group if name not in chosen]
    if left and len(left) < len(group):
        both = [*chosen, *left]
        warnings.warn(
            f"MixupCallback(input_key={input_key!r}) mixes only part of the batch's inputs: {left} stay unmixed, so "
            f"the model sees them from one sample and the rest from a mix of two. Set input_key={both!r} to mix them "
            "all with the same λ and partner (integer ids by their embedding lookups), or keep this choice knowingly.",
            UserWarning,
            stacklevel=4,
        )


def _conventional(batch: Mapping[Any, Any], names: tuple[str, ...], what: str, hint: str) -> str:
    """The one key of ``batch`` among ``names``, or a ValueError listing the batch's keys."""
    found = [name for name in names if name in batch]
    if len(found) != 1:
        detail = f"no entry with a conventional {what} name" if not found else f"several {what} candidates {found}"
        raise ValueError(
            f"Expected the training batch to have one {what} entry named one of {names}, but got {detail} in a "
            f"{type(batch).__name__} with keys {list(batch.keys())}. {hint}"
        )
    return found[0]


def get(batch: Any, key: BatchKey, what: str) -> Any:
    """The entry at ``key`` (index, field or key), or a ValueError naming ``what`` and the batch's structure."""
    try:
        if isinstance(batch, Mapping):
            return batch[key]
        if is_sequence(batch):
            if isinstance(key, str):
                if not hasattr(batch, "_fields"):
                    raise KeyError(key)
                return getattr(batch, key)
            return batch[key]
    except (KeyError, IndexError, AttributeError, TypeError):
        pass
    raise ValueError(
        f"Expected the training batch to have an entry at {what}={key!r}, but got {describe_batch(batch)}. Set "
        f"MixupCallback(input_key=..., target_key=...) to where the inputs and targets are."
    )


def replace(batch: Any, updates: dict[BatchKey, Any]) -> Any:
    """A copy of the batch container with some entries replaced; the original container is not changed.

    Example:
        >>> batch = [1, 2, 3]
        >>> replace(batch, {1: 20}), batch
        ([1, 20, 3], [1, 2, 3])
    """
    if isinstance(batch, Mapping):
        new = copy.copy(batch)
        for key, value in updates.items():
            new[key] = value  # type: ignore[index]
        return new
    if hasattr(batch, "_fields"):  # namedtuple
        fields = batch._fields
        return batch._replace(**{(fields[k] if isinstance(k, int) else k): v for k, v in updates.items()})
    items = list(batch)
    for key, value in updates.items():
        items[key] = value  # type: ignore[index]
    if isinstance(batch, tuple):
        return tuple(items)
    new_list = copy.copy(batch)
    new_list[:] = items
    return new_list
