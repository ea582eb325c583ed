"""Reference models: the mixup paper's UCI network, a small CNN for 8×8 digits, PreAct ResNet-18, a regressor.

- ``"mlp"``: fully connected, 2 hidden layers of 128 ReLU units — the network of the paper's UCI experiments
  (Zhang et al. 2018, §3.4: Adam, batch 16).
- ``"cnn"``: two 3×3 conv layers (32, 64 channels) and a linear head, for 1×8×8 digits.
- ``"preact_resnet18"``: PreAct ResNet-18 (He et al. 2016, https://arxiv.org/abs/1603.05027) for 32×32 images,
  the paper's CIFAR-10 network; meant for GPU users.

:class:`MitClassifier` is the :class:`Classifier` whose step returns ``self.mit_loss(x, y)`` (MIT needs the mixin);
:class:`Regressor` an MLP with the plain ``F.mse_loss`` step (C-Mixup, ``method="cmixup"``).

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

from lightning_mixup._checks import check_choice, check_int
from lightning_mixup.metrics import MixupAccuracy
from lightning_mixup.mixin import MixupMixin

Architecture = Literal["mlp", "cnn", "preact_resnet18"]
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", "preact_resnet18")
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


def _preact_resnet18(in_channels: int, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)]
    in_planes = 64
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_PreActBlock(in_planes, planes, stride), _PreActBlock(planes, planes, 1)]
        in_planes = planes
    layers += [nn.BatchNorm2d(512), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def _mlp_layers(features: int, hidden: int, outputs: int) -> list[nn.Module]:
    """Two hidden ReLU layers of width ``hidden``: the paper's UCI network."""
    return [nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)]


def build_backbone(arch: Architecture, input_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> nn.Module:
    """The network for ``arch`` on inputs of ``input_shape`` (without the batch dimension).

    Example:
        >>> build_backbone("cnn", (1, 8, 8), 10)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    check_choice(arch, "arch", ARCHITECTURES)
    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), *_mlp_layers(math.prod(input_shape), hidden, num_classes))
    if len(input_shape) != 3:
        raise ValueError(f"Expected image inputs (C, H, W) for arch={arch!r}, but got input_shape={input_shape}.")
    channels, height, width = input_shape
    if arch == "cnn":
        return nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * (height // 2) * (width // 2), 128), nn.ReLU(),
            nn.Linear(128, num_classes),
        )  # fmt: skip
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
        hidden: hidden width of the ``"mlp"`` network.
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
        check_choice(optimizer, "optimizer", OPTIMIZERS)
        check_int(num_classes, "num_classes", minimum=2)
        if (normalize_mean is None) != (normalize_std is None):
            raise ValueError("Expected both `normalize_mean` and `normalize_std`, or neither.")
        self.save_hyperparameters()
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.max_epochs_for_schedule = max_epochs_for_schedule
        self.net = build_backbone(arch, tuple(input_shape), num_classes, hidden)
        if normalize_mean is not None and normalize_std is not None:
            self.net = nn.Sequential(Normalize(normalize_mean, normalize_std), self.net)
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


class MitClassifier(MixupMixin, Classifier):
    """:class:`Classifier` trained with Mixup Inference in Training: the step returns ``self.mit_loss(x, y)``.

    Use with ``MixupCallback(method="mixup_inference_training")``; without a callback (or outside training) the
    loss is the plain ``F.cross_entropy(self(x), y)``. Takes :class:`Classifier`'s arguments.

    Example:
        >>> MitClassifier("mlp", input_shape=[4], num_classes=3)(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
    """

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        """MIT's loss (Wang et al., CVPR 2023) through the mixin."""
        x, y = batch
        loss = self.mit_loss(x, y)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss


class Regressor(pl.LightningModule):
    """An MLP regressor whose ``training_step`` is the plain ``F.mse_loss(self(x), y)`` on targets ``(B,)``.

    Under ``MixupCallback(method="cmixup")`` (or mixup) the inputs and float targets arrive mixed and the same step
    computes the method's loss. Validation and test log the RMSE.

    Args:
        num_features: number of input features.
        hidden: width of the two hidden layers.
        lr: Adam's learning rate.
        weight_decay: L2 weight decay.

    Example:
        >>> Regressor(10)(torch.zeros(2, 10)).shape
        torch.Size([2])
    """

    def __init__(self, num_features: int = 10, hidden: int = 64, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__()
        check_int(num_features, "num_features", minimum=1)
        check_int(hidden, "hidden", minimum=1)
        self.save_hyperparameters()
        self.lr, self.weight_decay = lr, weight_decay
        self.net = nn.Sequential(*_mlp_layers(num_features, hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Predictions ``(B,)``."""
        return self.net(x).squeeze(-1)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        """Plain MSE; under MixupCallback the inputs and targets arrive mixed."""
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def _evaluate(self, batch: list[Tensor], stage: str) -> None:
        x, y = batch
        self.log(f"{stage}/rmse", F.mse_loss(self(x), y).sqrt(), prog_bar=stage == "val")

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        """Validation RMSE."""
        self._evaluate(batch, "val")

    def test_step(self, batch: list[Tensor], batch_idx: int) -> None:
        """Test RMSE."""
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> Any:
        """Adam."""
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
