r"""OOD detection sets and scores for MNIST-1D and digits, and mixup inference (MI) under an adaptive attack.

**OOD sets** (issue #25 asks to define and justify them). Each is built from the in-distribution *test* inputs, so
it has their size, scale and noise, and no training at all is needed for it (every arm is scored on the same set):

- ``"reversed"`` (MNIST-1D, near OOD, a shifted template): every test signal reversed in time. The values, their
  distribution, the noise and the length are unchanged; only the order of the template's strokes is not one the
  classes were drawn from (MNIST-1D's templates are not palindromes). It asks whether the confidence reacts to
  shape rather than to amplitude.
- ``"mirrored"`` (digits, near OOD): the test images of the classes that are not mirror-symmetric (all but 0, 1
  and 8) flipped left to right: the same strokes, the same ink per pixel row and nearly the same per-pixel
  statistics, but shapes (a mirrored 2, 3, 4, 5, 6, 7, 9) that no class has. (A contrast-inverted image,
  ``16 - pixel``, was tried first and rejected: the background pixels whose training standard deviation is near 0
  become huge after standardisation, so every model is *more* confident on it, AUROC ≈ 0 for every arm, a
  degenerate set that measures the standardisation, not the method.)
- ``"noise"`` (both, far OOD, a sanity check): Gaussian noise with the training split's per-feature mean and
  standard deviation (digits: clipped to the pixel range), so a detector cannot win by a trivial change of scale.

Scores: maximum softmax probability (``"msp"``) and negative entropy (``"entropy"``), through
:func:`lightning_mixup.evaluation.uncertainty.ood_detection` (in-distribution is the positive class): AUROC (higher is
better) and FPR at 95 % TPR (lower is better). The metric keys are ``auroc_<set>_<score>`` and
``fpr95_<set>_<score>``.

**Mixup inference** (Pang et al., ICLR 2020) is a test-time defence for mixup-trained models: the prediction averages
the softmax of ``λx + (1-λ)x_s`` over pool samples ``x_s``. A randomised defence must be attacked through its
randomness (Athalye et al. 2018), so the attack here is torchattacks' ``EOTPGD`` on
:class:`~lightning_mixup.evaluation.mixup_inference.MixupInference` (MI-PL, λ = 0.5, the official default, pool: the
inner validation split), compared with the same PGD on the undefended model (deterministic: EOT changes nothing
there). Costs are kept small for the CPU: a fixed subset of the test set, 10 PGD steps, 5 EOT samples, 10 MI draws.

References:
    - Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution Examples in Neural
      Networks", ICLR 2017, https://arxiv.org/abs/1610.02136
    - Pang, Xu & Zhu, "Mixup Inference: Better Exploiting Mixup to Defend Adversarial Attacks", ICLR 2020,
      https://arxiv.org/abs/1909.11515
    - Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML 2018,
      https://arxiv.org/abs/1802.00420
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lightning_mixup.evaluation.mixup_inference import MixupInference
from lightning_mixup.evaluation.uncertainty import ood_detection

OOD_SCORES: tuple[str, ...] = ("msp", "entropy")
#: MI's settings for the study: the official λ and variant, fewer draws and attack steps than the paper (CPU budget).
MI_SETTINGS = {"lam": 0.5, "variant": "pl", "num_samples": 10, "pgd_steps": 10, "eot_iter": 5, "examples": 300}


def _noise(train_x: Tensor, n: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0)
    return mean + std * torch.randn((n, *train_x.shape[1:]), generator=gen)


def mnist1d_ood_sets(test_x: Tensor, train_x: Tensor, seed: int = 0) -> dict[str, Tensor]:
    """MNIST-1D's OOD sets: ``"reversed"`` test signals and ``"noise"`` with the training per-position moments.

    Example:
        >>> sets = mnist1d_ood_sets(torch.arange(6.0).view(2, 3), torch.randn(10, 3))
        >>> sets["reversed"].tolist(), sets["noise"].shape
        ([[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]], torch.Size([2, 3]))
    """
    return {"reversed": test_x.flip(-1), "noise": _noise(train_x, int(test_x.shape[0]), seed)}


#: digits classes whose mirror image is still (nearly) the class: left out of the ``"mirrored"`` OOD set.
MIRROR_SYMMETRIC: tuple[int, ...] = (0, 1, 8)


def digits_ood_sets(
    test_x: Tensor, test_y: Tensor, train_x: Tensor, mean: Tensor, std: Tensor, seed: int = 0
) -> dict[str, Tensor]:
    """The digits OOD sets in the model's standardised space: ``"mirrored"`` and ``"noise"`` (module docstring).

    ``test_x`` and ``train_x`` are ``(N, 64)`` 8×8 images standardised with ``mean`` and ``std`` (per pixel, as the
    tabular pipeline does).

    Example:
        >>> x = torch.arange(64.0).view(1, 64)
        >>> sets = digits_ood_sets(x, torch.tensor([2]), x, torch.zeros(64), torch.ones(64))
        >>> sets["mirrored"].view(8, 8)[0, :3].tolist()  # the first row, right to left
        [7.0, 6.0, 5.0]
    """
    pixels = test_x * std + mean
    keep = ~torch.isin(test_y, torch.tensor(MIRROR_SYMMETRIC))
    mirrored = pixels[keep].view(-1, 8, 8).flip(-1).reshape(-1, 64)
    noise_pixels = (_noise(train_x * std + mean, int(test_x.shape[0]), seed)).clamp(0.0, 16.0)
    return {"mirrored": (mirrored - mean) / std, "noise": (noise_pixels - mean) / std}


def ood_metrics(model: nn.Module, id_x: Tensor, ood_sets: dict[str, Tensor]) -> dict[str, float]:
    """``auroc_<set>_<score>`` and ``fpr95_<set>_<score>`` of ``model``'s logits, ID test inputs against each set."""
    with torch.no_grad():
        id_logits = model(id_x).float()
        out: dict[str, float] = {}
        for name, x in ood_sets.items():
            logits = model(x).float()
            for score in OOD_SCORES:
                result = ood_detection(id_logits, logits, score=score)  # type: ignore[arg-type]
                out[f"auroc_{name}_{score}"] = float(result.auroc)
                out[f"fpr95_{name}_{score}"] = float(result.fpr_at_95_tpr)
    return out


def ood_metrics_from_logits(id_logits: Tensor, ood_logits: dict[str, Tensor]) -> dict[str, float]:
    """:func:`ood_metrics` from logits already computed."""
    out: dict[str, float] = {}
    for name, logits in ood_logits.items():
        for score in OOD_SCORES:
            result = ood_detection(id_logits.float(), logits.float(), score=score)  # type: ignore[arg-type]
            out[f"auroc_{name}_{score}"] = float(result.auroc)
            out[f"fpr95_{name}_{score}"] = float(result.fpr_at_95_tpr)
    return out


class _Normalised(nn.Module):
    """``model((x - mean) / std)``: the attack and MI work in the unit box, the model in its own scale."""

    def __init__(self, model: nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: Tensor) -> Tensor:
        return self.model((x - self.mean) / self.std)


def mi_robustness(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    pool: tuple[Tensor, Tensor],
    eps: Sequence[float],
    *,
    mean: Tensor,
    std: Tensor,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Robust accuracy of ``model`` and of MI on it under PGD / EOT-PGD (L∞) at each ε, inputs in ``[0, 1]``.

    Args:
        model: the trained classifier, taking ``(x - mean) / std``.
        x: ``(N, ...)`` test inputs in the unit box (the first ``MI_SETTINGS["examples"]`` are used).
        y: ``(N,)`` labels.
        pool: MI's clean pool ``(x_pool in the unit box, y_pool)``.
        eps: the attack radii (0: clean accuracy).
        mean: the model's normalisation, in unit-box units.
        std: idem.
        seed: seeds the attack's random start and MI's draws.

    Returns:
        ``{"undefended": {"ε": accuracy}, "mi": {"ε": accuracy}}``.
    """
    import torchattacks

    n = min(int(MI_SETTINGS["examples"]), int(x.shape[0]))
    x, y = x[:n], y[:n]
    base = _Normalised(model, mean, std).eval()
    gen = torch.Generator().manual_seed(seed)
    defended = MixupInference(
        base, pool[0], pool[1], lam=float(MI_SETTINGS["lam"]), num_samples=int(MI_SETTINGS["num_samples"]),
        variant="pl", generator=gen,
    ).eval()  # fmt: skip
    out: dict[str, dict[str, float]] = {"undefended": {}, "mi": {}}
    steps, eot = int(MI_SETTINGS["pgd_steps"]), int(MI_SETTINGS["eot_iter"])
    for e in eps:
        torch.manual_seed(seed)  # torchattacks' random start uses the global generator
        for name, target, eot_iter in (("undefended", base, 1), ("mi", defended, eot)):
            if e > 0:
                attack = torchattacks.EOTPGD(target, eps=e, alpha=2.5 * e / steps, steps=steps, eot_iter=eot_iter)
                adv = attack(x, y)
            else:
                adv = x
            with torch.no_grad():
                pred = target(adv).argmax(-1)
            out[name][f"{e:g}"] = float((pred == y).float().mean())
    return out
