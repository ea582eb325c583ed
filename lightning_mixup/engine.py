"""The Lightning-free mixing engine shared by :class:`~lightning_mixup.MixupCallback` and the mixin.

(Being rewritten for issue #9; the random-stream contract below is stable.)

Random stream: every training batch's draws come from a ``torch.Generator`` seeded with
:func:`batch_seed` ``(seed, rank, batch_number)``, where ``batch_number`` counts the training batches fetched so
far in the fit (0 for the first). Within a batch, the draws are made in call order.
"""

from __future__ import annotations

import hashlib

import torch

__all__ = ["batch_generator", "batch_seed"]


def batch_seed(seed: int, rank: int, batch_number: int) -> int:
    """The seed of the generator that draws the mixing parameters of one training batch.

    Example:
        >>> batch_seed(0, 0, 0) == batch_seed(0, 0, 0) != batch_seed(0, 0, 1)
        True
    """
    key = f"{seed}:{rank}:{batch_number}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def batch_generator(seed: int, rank: int, batch_number: int) -> torch.Generator:
    """A CPU generator seeded with :func:`batch_seed`: the source of one training batch's draws."""
    return torch.Generator().manual_seed(batch_seed(seed, rank, batch_number))
