"""Stacked digits: a 1,000-mode image problem for GAN mode collapse that fits a CPU, and its mode counter.

VEEGAN (Srivastava et al., NeurIPS 2017, https://arxiv.org/abs/1705.07761, §5.2) and PacGAN (Lin et al., NeurIPS
2018, https://arxiv.org/abs/1712.04086, §5.2) stack three MNIST digits as the channels of one image: 1,000 modes
(the digit triples), counted by a pretrained digit classifier applied to each channel of generated samples. Here the
digits are scikit-learn's 1,797 8×8 digits (values scaled to [0, 1]), so a sample is a ``3×8×8`` image flattened to
192 numbers, and the classifier is a small MLP trained on them in a second (:func:`train_digit_classifier`).

The mode of a sample is ``100·c₀ + 10·c₁ + c₂`` for the classes ``cᵢ`` of its three channels; the coverage numbers
(modes captured, reverse KL to the uniform distribution over the 1,000 modes, share of confidently classified
samples) are computed by :class:`ClassifierModeCoverage` (the functional counting lives in
:mod:`lightning_mixup.gan.metrics`, which :class:`~lightning_mixup.gan.GANStabilityCallback` uses for any classifier).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from experiments.gan.data import SamplerDataModule
from lightning_mixup._checks import check_int, check_probability
from lightning_mixup.gan.metrics import classifier_coverage, classifier_mode_counts

__all__ = [
    "DIGIT_SIZE",
    "ClassifierModeCoverage",
    "StackedDigitClassifier",
    "StackedDigits",
    "StackedDigitsDataModule",
    "load_digits",
    "train_digit_classifier",
]

DIGIT_SIZE = 64  # 8×8 pixels


def load_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's digits: ``(1797, 64)`` float32 images in [0, 1] and ``(1797,)`` int64 labels.

    Example:
        >>> images, labels = load_digits()
        >>> images.shape, int(labels.max()), float(images.max())
        (torch.Size([1797, 64]), 9, 1.0)
    """
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    return torch.as_tensor(data.data, dtype=torch.float32) / 16.0, torch.as_tensor(data.target, dtype=torch.long)


class StackedDigits:
    """Three uniformly drawn digits stacked as channels: samples ``(n, 3·64)``, 1,000 modes.

    Args:
        channels: digits per sample (3: 1,000 modes).

    Example:
        >>> data = StackedDigits()
        >>> x, modes = data.sample_with_modes(4, torch.Generator().manual_seed(0))
        >>> x.shape, data.num_modes, bool(modes.max() < 1000)
        (torch.Size([4, 192]), 1000, True)
    """

    def __init__(self, channels: int = 3) -> None:
        check_int(channels, "channels", minimum=1)
        self.channels = channels
        self.images, self.labels = load_digits()

    @property
    def data_dim(self) -> int:
        """``channels · 64``."""
        return self.channels * DIGIT_SIZE

    @property
    def num_modes(self) -> int:
        """``10 ** channels``."""
        return 10**self.channels

    def sample_with_modes(self, num_samples: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Samples ``(n, channels·64)`` and their true modes ``(n,)``; one ``randint`` draw."""
        index = torch.randint(self.images.shape[0], (num_samples, self.channels), generator=generator)
        place = 10 ** torch.arange(self.channels - 1, -1, -1)
        return self.images[index].reshape(num_samples, -1), (self.labels[index] * place).sum(-1)

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Samples ``(n, channels·64)``."""
        return self.sample_with_modes(num_samples, generator)[0]


class StackedDigitsDataModule(SamplerDataModule):
    """Stacked-digit training batches ``(x,)``, ``x`` of shape ``(B, 192)`` in [0, 1].

    Args:
        channels: digits per sample.
        num_samples: ``None``: fresh samples every step; an int: a fixed training set.
        batch_size: real samples per discriminator step.
        seed: the seed of the data.

    Example:
        >>> dm = StackedDigitsDataModule(batch_size=8)
        >>> dm.setup("fit")
        >>> next(iter(dm.train_dataloader()))[0].shape
        torch.Size([8, 192])
    """

    def __init__(self, channels: int = 3, num_samples: int | None = None, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__(StackedDigits(channels), num_samples, batch_size, seed)


class StackedDigitClassifier(nn.Module):
    """Applies a digit classifier to every channel: ``(n, C·64)`` or ``(n, C, 8, 8)`` -> logits ``(n, C, 10)``.

    Args:
        digit_classifier: maps ``(m, 64)`` digits to ``(m, 10)`` logits; ``None`` trains one with
            :func:`train_digit_classifier` (a second or two; what the shipped configs use).
        channels: digits per sample.

    Example:
        >>> clf = StackedDigitClassifier(nn.Linear(64, 10), channels=3)
        >>> clf(torch.zeros(2, 192)).shape
        torch.Size([2, 3, 10])
    """

    def __init__(self, digit_classifier: nn.Module | None = None, channels: int = 3) -> None:
        super().__init__()
        check_int(channels, "channels", minimum=1)
        self.digit_classifier = digit_classifier if digit_classifier is not None else train_digit_classifier()
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        """Per-channel logits ``(n, C, 10)``."""
        flat = x.reshape(x.shape[0] * self.channels, DIGIT_SIZE)
        return self.digit_classifier(flat).reshape(x.shape[0], self.channels, -1)


def train_digit_classifier(seed: int = 0, steps: int = 150, hidden: int = 128) -> nn.Module:
    """A ReLU MLP ``64 -> hidden -> 10`` trained on 1,500 of scikit-learn's digits (full-batch Adam, seeded).

    About 97-98 % accuracy on the 297 held-out digits; returned frozen, in eval mode, with ``held_out_accuracy``
    set. Trained once per process and arguments (a copy of the cached network is returned), on one torch thread (the
    thread count is restored afterwards): a tiny network on a busy machine only loses time to thread hand-offs.

    Example:
        >>> clf = train_digit_classifier(steps=30)
        >>> clf.held_out_accuracy > 0.5
        True
    """
    check_int(steps, "steps", minimum=1)
    return copy.deepcopy(_trained_digit_classifier(seed, steps, hidden))


@functools.lru_cache(maxsize=4)
def _trained_digit_classifier(seed: int, steps: int, hidden: int) -> nn.Module:
    images, labels = load_digits()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(images.shape[0], generator=generator)
    train, test = order[:1500], order[1500:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(DIGIT_SIZE, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():
            for _ in range(steps):
                optimizer.zero_grad()
                nn.functional.cross_entropy(net(images[train]), labels[train]).backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    net.eval()
    with torch.no_grad():
        accuracy = float((net(images[test]).argmax(-1) == labels[test]).float().mean())
    net.held_out_accuracy = accuracy  # type: ignore[assignment]
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class ClassifierModeCoverage(Metric):
    """Classifier-based mode coverage of generated images: modes captured, confident share, reverse KL.

    Inputs:
        - ``logits``: ``(S, K)`` or ``(S, C, k)`` classifier outputs for ``S`` generated samples.

    Args:
        num_modes: the number of modes, ``K`` or ``k^C`` (1,000 for three stacked digits).
        confidence: see :func:`~lightning_mixup.gan.metrics.classifier_mode_counts`.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Returns (``compute``):
        a dict of scalar tensors ``"modes_captured"``, ``"high_quality_share"`` (the confident share),
        ``"reverse_kl"``.

    Example:
        >>> metric = ClassifierModeCoverage(num_modes=4)
        >>> metric.update(torch.eye(4)[[0, 1, 1, 3]] * 10)
        >>> {k: round(v.item(), 3) for k, v in metric.compute().items()}
        {'modes_captured': 3.0, 'high_quality_share': 1.0, 'reverse_kl': 0.347}
    """

    is_differentiable = False
    higher_is_better: bool | None = None
    full_state_update = False
    counts: Tensor
    confident: Tensor
    total: Tensor

    def __init__(self, num_modes: int, confidence: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_int(num_modes, "num_modes", minimum=1)
        check_probability(confidence, "confidence")
        self.num_modes = num_modes
        self.confidence = float(confidence)
        self.add_state("counts", default=torch.zeros(num_modes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("confident", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: Tensor) -> None:
        """Count a batch of classifier outputs."""
        counts, confident, total = classifier_mode_counts(logits, confidence=self.confidence)
        if counts.numel() != self.num_modes:
            raise ValueError(
                f"Expected logits for {self.num_modes} modes, but got logits of shape {tuple(logits.shape)} "
                f"({counts.numel()} modes)."
            )
        self.counts += counts.to(self.counts.device)
        self.confident += confident.to(self.confident.device)
        self.total += total.to(self.total.device)

    def compute(self) -> dict[str, Tensor]:
        """The three coverage numbers over everything seen since the last reset."""
        return classifier_coverage(self.counts, self.confident, self.total)
