"""The MNIST-1D networks of the classification study, and ``build_backbone`` with them added.

- ``"mnist1d_mlp"``, ``"mnist1d_cnn"``: the MLP (100 units, one residual hidden layer, 15,210 parameters) and the
  CNN (three stride-2 1-D convolutions of 25 channels and a linear head, 5,210 parameters) of the MNIST-1D
  repository's benchmark (Greydanus & Kobak 2020, https://arxiv.org/abs/2011.14439, ``notebooks/models.py``), for
  inputs ``(B, L)`` or ``(B, 1, L)``.

Every other architecture is the plugin's :func:`lightning_mixup.models.build_backbone`.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from lightning_mixup import models

ARCHITECTURES: tuple[str, ...] = (*models.ARCHITECTURES, "mnist1d_mlp", "mnist1d_cnn")


class MNIST1DMLP(nn.Module):
    """MNIST-1D's MLP: ``h = relu(W1 x)``, ``h = h + relu(W2 h)``, logits ``W3 h``.

    Example:
        >>> sum(p.numel() for p in MNIST1DMLP(40, 10).parameters())
        15210
    """

    def __init__(self, input_size: int, num_classes: int, hidden: int = 100) -> None:
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of ``(B, L)`` (or ``(B, 1, L)``) signals."""
        h = F.relu(self.linear1(x.flatten(1)))
        h = h + F.relu(self.linear2(h))
        return self.linear3(h)


class MNIST1DCNN(nn.Module):
    """MNIST-1D's CNN: three ReLU 1-D convolutions (kernel 5, 3, 3; stride 2; 25 channels) and a linear head.

    Example:
        >>> import torch
        >>> net = MNIST1DCNN(40, 10)
        >>> sum(p.numel() for p in net.parameters()), tuple(net(torch.zeros(2, 40)).shape)
        (5210, (2, 10))
    """

    def __init__(self, length: int, num_classes: int, channels: int = 25) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        out = length
        for kernel in (5, 3, 3):
            out = (out + 2 - kernel) // 2 + 1
        self.linear = nn.Linear(channels * out, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of ``(B, L)`` or ``(B, 1, L)`` signals."""
        h = x.reshape(x.shape[0], 1, x.shape[-1])
        h = F.relu(self.conv1(h))
        h = F.relu(self.conv2(h))
        h = F.relu(self.conv3(h))
        return self.linear(h.flatten(1))


def build_backbone(arch: str, input_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> nn.Module:
    """The network for ``arch``: the MNIST-1D networks here, the plugin's for the others.

    Example:
        >>> sum(p.numel() for p in build_backbone("mnist1d_cnn", (40,), 10).parameters())
        5210
    """
    if arch == "mnist1d_mlp":
        return MNIST1DMLP(math.prod(input_shape), num_classes)  # the repository's width, 100
    if arch == "mnist1d_cnn":
        return MNIST1DCNN(input_shape[-1], num_classes)
    return models.build_backbone(arch, input_shape, num_classes, hidden)  # type: ignore[arg-type]


__all__ = ["ARCHITECTURES", "MNIST1DCNN", "MNIST1DMLP", "build_backbone"]
