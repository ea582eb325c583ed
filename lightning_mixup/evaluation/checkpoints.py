"""Safe checkpoint loading for the evaluation: ``torch.load(weights_only=True)`` here, never trusted to a layer below.

A checkpoint is a pickle, and unpickling can run any code the file names. :func:`load_checkpoint` therefore reads the
file itself with ``torch.load(path, map_location=..., weights_only=True)``, which only rebuilds tensors and plain
containers (dict, list, str, numbers, ...), then builds the module from the saved hyper-parameters and calls
``load_state_dict``. It never calls ``LightningModule.load_from_checkpoint``: Lightning ≤ 2.5.1 silently drops the
``weights_only`` argument given to it, and with torch < 2.6 the file is then unpickled in full. Whatever versions are
installed, a malicious file is refused before anything in it runs.

What is accepted:

- a Lightning checkpoint (``trainer.save_checkpoint``): the class is built as Lightning builds it, from
  ``checkpoint["hyper_parameters"]`` (plain data), updated with ``checkpoint_kwargs``, keeping only the arguments
  its ``__init__`` accepts (unless it takes ``**kwargs``); ``hparams_name`` is honoured; ``configure_model`` and
  ``on_load_checkpoint`` run as in Lightning; then ``load_state_dict(checkpoint["state_dict"])``. LightningCLI's
  ``_instantiator``/``_class_path`` entries are dropped (the class you give is the class built);
- a plain ``state_dict`` file (``torch.save(model.state_dict(), path)``) or ``{"state_dict": ...}``: the class is
  built with ``checkpoint_kwargs`` (or its defaults);
- with ``model=``: the weights are loaded into that instance (``prefix`` selects and strips a key prefix).

A file that needs any other object (a pickled module, an optimizer object, a custom class in the hyper-parameters)
is refused with a ``ValueError`` naming the object and the two ways out: allow-list the class with
``torch.serialization.add_safe_globals`` if you trust it, or re-save the weights as a plain ``state_dict``.
``weights_only=False`` unpickles everything: only for files you trust.
"""

from __future__ import annotations

import inspect
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

HPARAMS_KEY = "hyper_parameters"  # LightningModule.CHECKPOINT_HYPER_PARAMS_KEY
HPARAMS_NAME_KEY = "hparams_name"  # LightningModule.CHECKPOINT_HYPER_PARAMS_NAME
CLI_KEYS = ("_instantiator", "_class_path")
# torch's weights-only unpickler: a global outside its allow-list, a global of a module it always blocks (sys, os,
# posix, nt), a call or an object build of anything else (wordings of torch 2.4 to 2.13)
_ALLOWABLE = re.compile(r"GLOBAL ([\w.]+) was not an allowed global|Unsupported class ([\w.]+)")
_BLOCKED = re.compile(r"unsupported GLOBAL ([\w.]+) whose module ([\w.]+) is blocked", re.IGNORECASE)
_REFUSED = re.compile(r"Trying to call reduce for unrecognized function[^\n]*|Can only [^\n]*allowlisted[^\n]*")
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"


def _read_file(path: Path, *, weights_only: bool, map_location: str | torch.device) -> Any:
    """``torch.load`` of ``path`` with every failure turned into one clear error."""
    if path.is_dir():
        raise IsADirectoryError(
            f"Expected argument `path` to be a checkpoint file, but {str(path)!r} is a directory. A sharded "
            "(distributed) checkpoint is a directory: consolidate it into one file first (e.g. `python -m "
            "lightning.pytorch.utilities.consolidate_checkpoint <dir>` for FSDP)."
        )
    if not path.is_file():
        raise FileNotFoundError(f"Expected argument `path` to be a checkpoint file, but {str(path)!r} does not exist.")
    with path.open("rb") as handle:
        head = handle.read(4)
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO)):
        raise ValueError(
            f"Expected a PyTorch checkpoint written by `torch.save`, but {str(path)!r} is not one "
            f"(it starts with {head!r})."
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        refused = weights_only and isinstance(err, pickle.UnpicklingError) and _refusal(str(path), str(err))
        raise ValueError(
            refused or f"Could not read {str(path)!r} as a PyTorch checkpoint (corrupted or truncated?): "
            f"{_first_line(err) or type(err).__name__}"
        ) from err


def _refusal(path: str, message: str) -> str | None:
    """The message of a weights-only refusal, naming the blocked object and the ways out; ``None``: not one."""
    resave = "re-save the weights as a plain state_dict (`torch.save(model.state_dict(), path)`)"
    blocked, allowable, refused = _BLOCKED.search(message), _ALLOWABLE.search(message), _REFUSED.search(message)
    if blocked:
        what = (
            f"it calls `{blocked.group(1)}`, from the module `{blocked.group(2)}` that torch never allows in a "
            "weights-only load (it can run commands): the file is not a plain checkpoint and may be malicious. Nothing "
            f"in the file was run. Ask its author to {resave}."
        )
    elif allowable:
        name = allowable.group(1) or allowable.group(2)
        what = (
            f"it holds a `{name}` object, which is not a tensor or plain data, and unpickling it could run code. "
            f"Nothing in the file was run. If you trust the file and `{name}` is harmless, allow it with "
            f"`torch.serialization.add_safe_globals([{name}])`; better, {resave} or save only plain data as "
            "hyper-parameters."
        )
    elif refused:
        what = (
            f"it needs an object that is not a tensor or plain data ({refused.group(0).strip()}). Nothing in the file "
            f"was run. Better, {resave}; if you trust the file, allow its classes with "
            "`torch.serialization.add_safe_globals([...])`."
        )
    else:
        return None
    unsafe = "`weights_only=False` (`--unsafe-load`) unpickles everything: only for files you trust."
    return f"Refused to load {path!r} weights-only: {what} {unsafe}"


def _first_line(err: object) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), "")


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items())


def split_checkpoint(checkpoint: Any, path: str = "<checkpoint>") -> tuple[Mapping[str, Tensor], dict[str, Any] | None]:
    """The ``(state_dict, hyper_parameters)`` of a loaded checkpoint; ``None`` when it saved no hyper-parameters.

    Accepts a Lightning checkpoint, ``{"state_dict": ...}``, a plain ``state_dict``, or a whole pickled module (which
    only a trusted load, ``weights_only=False`` or an allow-listed class, can produce).

    Raises:
        ValueError: for anything else.

    Example:
        >>> state, hparams = split_checkpoint({"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": {"k": 3}})
        >>> list(state), hparams
        (['w'], {'k': 3})
        >>> split_checkpoint({"w": torch.zeros(1)})[1] is None
        True
    """
    if isinstance(checkpoint, nn.Module):
        return checkpoint.state_dict(), None
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        state = checkpoint["state_dict"]
        hparams = checkpoint.get(HPARAMS_KEY)
        if not _is_state_dict(state):
            raise ValueError(
                f"Expected the `state_dict` of {path!r} to map parameter names to tensors, but got "
                f"{type(state).__name__}."
            )
        if hparams is not None and not isinstance(hparams, Mapping):
            raise ValueError(
                f"Expected the `{HPARAMS_KEY}` of {path!r} to be a dict, but got {type(hparams).__name__}."
            )
        return state, None if hparams is None else dict(hparams)
    if _is_state_dict(checkpoint):
        return checkpoint, None
    is_dict = isinstance(checkpoint, Mapping)
    kind = f"a dict with keys {sorted(map(str, checkpoint))[:8]}" if is_dict else type(checkpoint).__name__
    raise ValueError(
        f"Expected a Lightning checkpoint (a dict with a `state_dict`) or a plain state_dict in {path!r}, but it "
        f"holds {kind}."
    )


def constructor_kwargs(
    module_class: type[nn.Module],
    hparams: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
    hparams_name: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments Lightning's ``load_from_checkpoint`` would build ``module_class`` with.

    The saved hyper-parameters (minus LightningCLI's ``_instantiator``/``_class_path``), nested under
    ``hparams_name`` when the module saved them as one argument, updated with ``overrides``; only arguments the
    class's ``__init__`` accepts are kept unless it takes ``**kwargs``.

    Example:
        >>> class Net(nn.Module):
        ...     def __init__(self, width: int = 4) -> None:
        ...         super().__init__()
        >>> constructor_kwargs(Net, {"width": 8, "lr": 0.1, "_instantiator": "x"}, {"width": 16})
        {'width': 16}
    """
    loaded = {k: v for k, v in (hparams or {}).items() if k not in CLI_KEYS}
    parameters = inspect.signature(module_class.__init__).parameters
    names = [n for n, p in list(parameters.items())[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if hparams_name and hparams_name in names:
        loaded = {hparams_name: loaded}
    kwargs = {**loaded, **dict(overrides or {})}
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    return kwargs


def load_checkpoint(
    path: str | os.PathLike[str],
    module_class: type[nn.Module] | None = None,
    *,
    model: nn.Module | None = None,
    prefix: str = "",
    checkpoint_kwargs: Mapping[str, Any] | None = None,
    strict: bool = True,
    weights_only: bool = True,
    map_location: str | torch.device = "cpu",
) -> nn.Module:
    """Load a classifier from a checkpoint file, weights-only by default: nothing in the file is ever run.

    Give either ``module_class`` (built from the checkpoint's hyper-parameters, see the module docstring) or
    ``model`` (an instance whose ``state_dict`` is loaded).

    Args:
        path: a Lightning ``.ckpt`` file, or a plain ``state_dict`` file.
        module_class: the ``LightningModule`` (or any ``nn.Module``) class to build.
        model: a module to load the weights into, instead of ``module_class``.
        prefix: with ``model``: the state-dict key prefix to keep and strip (e.g. ``"net."`` to load a
            LightningModule's ``self.net`` into a plain ``nn.Module``).
        checkpoint_kwargs: with ``module_class``: constructor arguments that override the saved hyper-parameters
            (for a plain ``state_dict``: all the arguments).
        strict: ``load_state_dict(strict=...)``.
        weights_only: ``torch.load(weights_only=True)``; ``False`` unpickles everything: only for files you trust.
        map_location: where to load the tensors.

    Returns:
        The module (``model`` itself when given), with its weights loaded.

    Raises:
        TypeError: if neither or both of ``module_class`` and ``model`` are given, or ``module_class`` is not an
            ``nn.Module`` class.
        FileNotFoundError: if ``path`` does not exist.
        IsADirectoryError: if ``path`` is a directory (e.g. a sharded checkpoint).
        ValueError: if the file is not a PyTorch checkpoint, needs objects other than tensors and plain data (with
            ``weights_only``), or its weights or hyper-parameters do not fit the class.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "weights.pt"
        >>> torch.save(nn.Linear(4, 3).state_dict(), path)
        >>> load_checkpoint(path, nn.Linear, checkpoint_kwargs={"in_features": 4, "out_features": 3})
        Linear(in_features=4, out_features=3, bias=True)
    """
    if (module_class is None) == (model is None):
        raise TypeError("Expected exactly one of `module_class` (a LightningModule class) and `model` (an nn.Module).")
    if module_class is not None and not (isinstance(module_class, type) and issubclass(module_class, nn.Module)):
        raise TypeError(
            f"Expected argument `module_class` to be a LightningModule (or nn.Module) subclass, but got "
            f"{module_class!r}."
        )
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"Expected argument `model` to be an nn.Module, but got {type(model).__name__}.")
    if checkpoint_kwargs is not None and not isinstance(checkpoint_kwargs, Mapping):
        raise TypeError(f"Expected argument `checkpoint_kwargs` to be a dict, but got {checkpoint_kwargs!r}.")
    path = Path(path)
    checkpoint = _read_file(path, weights_only=weights_only, map_location=map_location)
    state, hparams = split_checkpoint(checkpoint, str(path))
    if model is not None:
        if prefix:
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not state:
                raise ValueError(f"Expected state-dict keys starting with {prefix!r} in {str(path)!r}, but found none.")
        _load_weights(model, state, strict, str(path))
        return model
    cls = cast("type[nn.Module]", module_class)  # not None: exactly one of module_class and model was checked
    name = checkpoint.get(HPARAMS_NAME_KEY) if isinstance(checkpoint, Mapping) else None
    kwargs = constructor_kwargs(cls, hparams, checkpoint_kwargs, name if isinstance(name, str) else None)
    try:
        module = cls(**kwargs)
    except TypeError as err:
        source = "the checkpoint's hyper-parameters" if hparams else "no saved hyper-parameters"
        raise ValueError(
            f"Could not build {cls.__name__}(**{kwargs!r}) from {source} in {str(path)!r}: {err}. Give the "
            "missing or corrected constructor arguments as `checkpoint_kwargs`."
        ) from err
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:  # a Lightning checkpoint
        configure = getattr(type(module), "configure_model", None)
        base = next((c for c in type(module).__mro__ if c.__name__ == "LightningModule"), None)
        if configure is not None and base is not None and configure is not getattr(base, "configure_model", None):
            cast(Any, module).configure_model()  # as Lightning does before loading the weights
        hook = getattr(module, "on_load_checkpoint", None)
        if callable(hook):
            hook(checkpoint)
    built = f"`checkpoint_kwargs` {dict(checkpoint_kwargs)!r}" if checkpoint_kwargs else "its default arguments"
    hint = (
        f" {cls.__name__} was built with {built} because the file saved no hyper-parameters (a plain state_dict): "
        "give the arguments it was trained with as `checkpoint_kwargs=` (`--init-args`), or load into a built "
        "instance with `model=`."
    )
    _load_weights(module, state, strict, str(path), "" if hparams else hint)
    return module


def _load_weights(module: nn.Module, state: Mapping[str, Tensor], strict: bool, path: str, hint: str = "") -> None:
    try:
        module.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        details = "; ".join(line.strip() for line in str(err).splitlines()[1:] if line.strip()) or _first_line(err)
        raise ValueError(
            f"The weights in {path!r} do not fit {type(module).__name__}: {details.rstrip('.')}.{hint}"
        ) from err
