"""Moving the small tensors that mixing draws on the CPU to the batch's device without stalling the training loop."""

from __future__ import annotations

import torch
from torch import Tensor


def to_device(tensor: Tensor, device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
    """``tensor.to(device, dtype)``, without a host synchronisation when a CPU tensor goes to a CUDA device.

    Mixing draws its parameters (λ, partner indices, copied rows) on the CPU every step, from its own generator. A
    plain copy from pageable host memory makes torch wait for the device's whole stream to finish, which stops the
    host from queueing the next work ahead of the GPU: measured at 11 % of a ResNet-18 bf16-mixed step on an H200
    (``benchmarks/cuda_check.py``). The copy goes through pinned memory instead, ``non_blocking``; torch's caching
    host allocator keeps the pinned block until the copy has run. The values are the same either way. Under
    ``torch.compile`` (Manifold Mixup inside a compiled forward) the plain copy is traced instead.

    Example:
        >>> to_device(torch.tensor([0.25, 1.0]), torch.device("cpu"), torch.float64)
        tensor([0.2500, 1.0000], dtype=torch.float64)
    """
    if tensor.device.type == "cpu" and device.type == "cuda" and not torch.compiler.is_compiling():
        staged = tensor if dtype is None else tensor.to(dtype)
        return staged.pin_memory().to(device, non_blocking=True)
    return tensor.to(device=device, dtype=dtype)
