"""Reference classifiers: the mixup paper's UCI network, a small CNN for 8×8 digits, and PreAct ResNet-18.

- ``"mlp"``: fully connected, 2 hidden layers of 128 ReLU units — the network of the paper's UCI experiments
  (Zhang et al. 2018, §3.4: Adam, batch 16).
- ``"cnn"``: two 3×3 conv layers (32, 64 channels) and a linear head, for 1×8×8 digits.
- ``"mnist1d_mlp"``, ``"mnist1d_cnn"``: the MLP (100 units, one residual hidden layer, 15,210 parameters) and the
  CNN (three stride-2 1-D convolutions of 25 channels and a linear head, 5,210 parameters) of the MNIST-1D
  repository's benchmark (Greydanus & Kobak 2020, https://arxiv.org/abs/2011.14439, ``notebooks/models.py``), for
  inputs ``(B, L)`` or ``(B, 1, L)``.
- ``"preact_resnet18"``: PreAct ResNet-18 (He et al. 2016, https://arxiv.org/abs/1603.05027) for 32×32 images,
  the paper's CIFAR-10 network; meant for GPU users.

Inputs are expected in their natural range ([0, 1] pixels for images); an optional per-channel normalisation
``(x - mean) / std`` is part of the model, so adversarial attacks can work in input space.

References: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import math
from typing import Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from lightning_mixup.metrics import MixupAccuracy

Architecture = Literal["mlp", "cnn", "mnist1d_mlp", "mnist1d_cnn", "preact_resnet18"]
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", "mnist1d_mlp", "mnist1d_cnn", "preact_resnet18")
OptimizerName = Literal["adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


class Normalize(nn.Module):
    """``(x - mean) / std`` over the channel dimension (dim 1), as the model's first layer."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or not mean or any(s <= 0 for s in std):
            raise ValueError(f"Expected `mean` and `std` of the same non-zero length with std > 0, got {mean}, {std}.")
        self.register_buffer("mean", torch.tensor(mean).view(1, -1))
        self.register_buffer("std", torch.tensor(std).view(1, -1))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``(B, C, ...)``."""
        shape = (1, -1, *([1] * (x.ndim - 2)))
        return (x - self.mean.view(shape)) / self.std.view(shape)


class _PreActBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_planes, planes, 1, stride, bias=False) if stride != 1 or in_planes != planes else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


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


def _preact_resnet18(in_channels: int, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)]
    in_planes = 64
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_PreActBlock(in_planes, planes, stride), _PreActBlock(planes, planes, 1)]
        in_planes = planes
    layers += [nn.BatchNorm2d(512), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def build_backbone(arch: Architecture, input_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> nn.Module:
    """The network for ``arch`` on inputs of ``input_shape`` (without the batch dimension).

    Example:
        >>> build_backbone("cnn", (1, 8, 8), 10)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"Expected argument `arch` to be one of {ARCHITECTURES}, but got {arch!r}.")
    if arch == "mlp":
        features = math.prod(input_shape)
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
    if arch == "mnist1d_mlp":
        return MNIST1DMLP(math.prod(input_shape), num_classes)  # the repository's width, 100
    if arch == "mnist1d_cnn":
        return MNIST1DCNN(input_shape[-1], num_classes)
    if len(input_shape) != 3:
        raise ValueError(f"Expected image inputs (C, H, W) for arch={arch!r}, but got input_shape={input_shape}.")
    channels, height, width = input_shape
    if arch == "cnn":
        return nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (height // 2) * (width // 2), 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )
    return _preact_resnet18(channels, num_classes)


class Classifier(pl.LightningModule):
    """A reference classifier whose ``training_step`` is the plain ``F.cross_entropy(self(x), y)``.

    It knows nothing of mixup: add :class:`~lightning_mixup.MixupCallback` to the trainer to train it with mixup.
    The training accuracy is :class:`~lightning_mixup.MixupAccuracy` (λ-weighted under mixup); validation and
    test log accuracy and NLL.

    Args:
        arch: ``"mlp"`` (paper's UCI net), ``"cnn"`` (digits) or ``"preact_resnet18"`` (CIFAR-10).
        input_shape: shape of one input, e.g. ``[1, 8, 8]`` or ``[4]``.
        num_classes: number of classes.
        hidden: hidden width of the ``"mlp"`` network (the MNIST-1D networks keep their published sizes).
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9).
        lr: learning rate.
        weight_decay: L2 weight decay.
        max_epochs_for_schedule: with SGD, a cosine schedule over this many epochs (0: constant).
        normalize_mean: per-channel mean of an input normalisation inside the model (``None``: none).
        normalize_std: per-channel standard deviation of that normalisation.

    Example:
        >>> model = Classifier("mlp", input_shape=[4], num_classes=3)
        >>> model(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        arch: Architecture = "cnn",
        input_shape: list[int] | tuple[int, ...] = (1, 8, 8),
        num_classes: int = 10,
        hidden: int = 128,
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        max_epochs_for_schedule: int = 0,
        normalize_mean: list[float] | None = None,
        normalize_std: list[float] | None = None,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Expected argument `optimizer` to be one of {OPTIMIZERS}, but got {optimizer!r}.")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"Expected argument `num_classes` to be an int >= 2, but got {num_classes!r}.")
        if (normalize_mean is None) != (normalize_std is None):
            raise ValueError("Expected both `normalize_mean` and `normalize_std`, or neither.")
        self.save_hyperparameters()
        self.optimizer_name = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs_for_schedule = max_epochs_for_schedule
        backbone = build_backbone(arch, tuple(input_shape), num_classes, hidden)
        if normalize_mean is not None and normalize_std is not None:
            backbone = nn.Sequential(Normalize(normalize_mean, normalize_std), backbone)
        self.net = backbone
        self.train_acc = MixupAccuracy()
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)``."""
        return self.net(x)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        """Plain cross-entropy; under MixupCallback the labels make it the mixup loss."""
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc(logits.detach(), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def _evaluate(self, batch: list[Tensor], stage: str, accuracy: torchmetrics.Metric) -> None:
        x, y = batch
        logits = self(x)
        accuracy(logits, y)
        self.log(f"{stage}/nll", F.cross_entropy(logits, y), prog_bar=stage == "val")
        self.log(f"{stage}/acc", accuracy, prog_bar=stage == "val")

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        """Validation accuracy and NLL."""
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: list[Tensor], batch_idx: int) -> None:
        """Test accuracy and NLL."""
        self._evaluate(batch, "test", self.test_acc)

    def configure_optimizers(self) -> Any:
        """Adam, or SGD with momentum and an optional cosine schedule."""
        if self.optimizer_name == "adam":
            return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        opt = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        if self.max_epochs_for_schedule > 0:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.max_epochs_for_schedule)
            return [opt], [sched]
        return opt
