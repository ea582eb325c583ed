"""Sanity checks of a robustness evaluation, against a broken evaluation or gradient masking.

Following auto-attack's ``checks.py`` and Carlini et al.'s checklist, every evaluation reports these checks with
its results (:class:`~lightning_mixup.evaluation.results.SanityCheck`) and raises a
:class:`RobustnessSanityWarning` for each failure, naming the section below that explains it.

A failed check also names the ``(attack, ε)`` cells it makes untrustworthy
(:attr:`~lightning_mixup.evaluation.results.SanityCheck.cells`, collected in
:attr:`~lightning_mixup.evaluation.results.RobustnessResult.failed_cells`): the cell where PGD is weaker than FGSM,
the larger ε of a rise, every cell of an attack whose ε = 0 accuracy is not the clean one or that fails the
large-ε check, every cell when the model was in training mode, returned probabilities or changed its buffers.
Studies show those cells as failed and leave them out of verdicts.

Sections (the ``doc`` field of a check):

eps-zero
    An attack at ε = 0 must give the clean accuracy exactly. If it does not, the attack sees different inputs
    than the clean pass: a normalisation applied twice (torchattacks' ``set_normalization_used`` assumes its
    inputs are already normalised; this package never uses it and normalises inside the attacked model), inputs
    outside [0, 1] that torchattacks clamps, or a model whose output is random (dropout left on).

monotone
    Robust accuracy should not rise with ε: every perturbation allowed at a small ε is allowed at a larger one.
    A rise by more than the tolerance points at a weak or masked attack (Athalye et al. 2018): gradients that
    are zero, saturated or shattered, so a larger step lands somewhere the gradient did not predict. Single-step
    FGSM can legitimately rise a little at large ε ("label leaking", overshooting); PGD should not.

pgd-weaker
    PGD starts near the FGSM point and takes several projected steps inside the same ball, so at the same ε it
    should not leave more examples correct than FGSM. If it does, the step size or number of steps is too small,
    or the loss surface is masked. (PGD here runs from the clean input and from random restarts and keeps any
    run that breaks an example, see :mod:`lightning_mixup.evaluation.attacks`; a single random-start run failed
    this check on about 1 % of the bundled tabular cells.) The same check compares AutoAttack with PGD
    (``autoattack_not_weaker_than_pgd``): the ensemble starts with APGD-CE, a PGD with an adaptive step, so it
    should not leave more examples correct than PGD.

large-eps
    At a large ε (L∞ ≥ 0.5 in [0, 1] pixel space: every image can reach mid-grey; L2 ≥ 0.5·√d) an iterative
    attack should bring accuracy close to zero. A high accuracy there means the attack is not working (gradient
    masking, a non-differentiable model, inputs the attack cannot move) rather than a robust model.

transfer-stronger
    Examples crafted on another model (``transfer_from``) and transferred should not break *more* examples than
    the same white-box attack on the model itself, which sees the model's own gradients. If they do, the model's
    gradients are masked (Athalye et al. 2018, §3: "black-box attacks succeed where white-box ones fail" is a
    sign of obfuscated gradients), and the white-box cells at that ε are marked. The reverse (transfer PGD weaker
    than transfer FGSM) is normal: iterative examples overfit their source model and transfer worse (Kurakin et
    al. 2017), so it is not checked.

train-mode
    The model was found in training mode during an attack (a module whose ``train()`` ignores ``eval()``, or a
    forward that switches modes): dropout makes the attack random and batch norm would use, and update, batch
    statistics. The evaluator puts the model in eval mode and restores every module's mode afterwards.

buffers
    A buffer of the model (batch-norm running statistics) changed during evaluation. An evaluation must leave the
    model exactly as it found it.

probabilities
    The model's outputs look like probabilities (non-negative rows summing to 1). The attacks and the NLL apply
    cross-entropy to the outputs as logits; on probabilities the gradients are squashed (a classic source of
    gradient masking) and the NLL is wrong. Return logits.

input-range
    Inputs outside [0, 1]. torchattacks clamps adversarial examples to [0, 1], so such inputs are changed even at
    ε = 0. Pass images in [0, 1] and give the model's normalisation as ``normalize_mean``/``normalize_std`` (or
    make it the model's first layer); rescale tabular features to [0, 1] (e.g. min-max of the training split,
    as :mod:`experiments.studies.robustness` does).

References:
    - Croce & Hein, auto-attack, ICML 2020, https://arxiv.org/abs/2003.01690
    - Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML 2018,
      https://arxiv.org/abs/1802.00420
    - Carlini et al., "On Evaluating Adversarial Robustness", 2019, https://arxiv.org/abs/1902.06705
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

from lightning_mixup.evaluation.results import SanityCheck, format_eps

DOC = "lightning_mixup.evaluation.sanity"
LINF_ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "autoattack", "transfer_fgsm", "transfer_pgd")
ITERATIVE_ATTACKS: tuple[str, ...] = ("pgd", "pgdl2", "autoattack")
#: ``(stronger, weaker)`` attack pairs: at a common ε > 0 the stronger must not leave more examples correct.
STRENGTH_ORDER: tuple[tuple[str, str, str], ...] = (
    ("pgd_not_weaker_than_fgsm", "pgd", "fgsm"),
    ("autoattack_not_weaker_than_pgd", "autoattack", "pgd"),
    ("white_box_not_weaker_than_transfer[fgsm]", "fgsm", "transfer_fgsm"),
    ("white_box_not_weaker_than_transfer[pgd]", "pgd", "transfer_pgd"),
)


class RobustnessSanityWarning(UserWarning):
    """A sanity check of a robustness evaluation failed; the message names the section of this module."""


def doc_pointer(section: str) -> str:
    """Where a failure is explained: ``"see section 'monotone' of lightning_mixup.evaluation.sanity"``."""
    return f"See section {section!r} of `{DOC}` (help({DOC}))."


def warn_sanity(message: str, section: str, stacklevel: int = 2) -> None:
    """Raise a :class:`RobustnessSanityWarning` that points at ``section``."""
    warnings.warn(f"{message} {doc_pointer(section)}", RobustnessSanityWarning, stacklevel=stacklevel + 1)


def looks_like_probabilities(outputs: Tensor, atol: float = 1e-4) -> bool:
    """Whether every row of ``outputs`` ``(B, C)`` is non-negative and sums to 1, i.e. softmax outputs.

    Example:
        >>> looks_like_probabilities(torch.tensor([[0.2, 0.8], [0.5, 0.5]]))
        True
        >>> looks_like_probabilities(torch.tensor([[2.0, -1.0], [0.5, 0.5]]))
        False
    """
    if outputs.ndim != 2 or outputs.numel() == 0 or outputs.shape[1] < 2:
        return False
    detached = outputs.detach().float()
    sums_to_one = torch.allclose(detached.sum(dim=1), torch.ones_like(detached[:, 0]), atol=atol)
    return bool(sums_to_one and (detached >= 0).all())


def run_sanity_checks(
    clean_accuracy: float,
    robust_accuracy: Mapping[str, Mapping[float, float]],
    *,
    num_examples: int,
    input_dim: int | None = None,
    monotone_tol: float = 0.01,
    pgd_fgsm_tol: float = 0.01,
    large_linf_eps: float = 0.5,
    large_eps_max_accuracy: float = 0.1,
) -> list[SanityCheck]:
    """The accuracy-based checks: ε = 0 is clean, monotone in ε, stronger not weaker, near zero at a large ε.

    "Stronger not weaker" (:data:`STRENGTH_ORDER`): PGD ≤ FGSM, AutoAttack ≤ PGD, and each white-box attack ≤ its
    transferred twin, at every common ε > 0. Each failed check lists the ``(attack, ε)`` cells it makes
    untrustworthy in :attr:`~lightning_mixup.evaluation.results.SanityCheck.cells`.

    Args:
        clean_accuracy: accuracy on clean inputs.
        robust_accuracy: ``{attack: {ε: accuracy}}`` for attacks ``"fgsm"``, ``"pgd"``, ``"pgdl2"``,
            ``"autoattack"``, ``"transfer_fgsm"``, ``"transfer_pgd"``.
        num_examples: number of examples. The ε = 0 check allows less than one example of difference; the
            monotone and strength checks allow their tolerance or one example, whichever is larger (on a test
            set of 30 examples one example is 3.3 %).
        input_dim: features per example; sets the L2 "large ε" to ``0.5·√input_dim`` (``None``: no L2 check).
        monotone_tol: allowed rise of accuracy from one ε to the next larger one.
        pgd_fgsm_tol: allowed excess of the stronger attack's accuracy over the weaker one's at the same L∞ ε.
        large_linf_eps: the L∞ ε from which an iterative attack should reach ``large_eps_max_accuracy``.
        large_eps_max_accuracy: the accuracy an iterative attack must stay below at a large ε.

    Returns:
        The checks; ``passed=None`` where a check did not apply.

    Example:
        >>> checks = run_sanity_checks(0.9, {"fgsm": {0.0: 0.9, 0.1: 0.5}, "pgd": {0.1: 0.6}}, num_examples=100)
        >>> [(c.name, c.passed) for c in checks]  # doctest: +NORMALIZE_WHITESPACE
        [('eps0_is_clean[fgsm]', True), ('monotone_in_eps[fgsm]', True), ('eps0_is_clean[pgd]', None),
         ('monotone_in_eps[pgd]', None), ('pgd_not_weaker_than_fgsm', False), ('large_eps_near_zero[pgd]', None)]
    """
    checks: list[SanityCheck] = []
    one_example = 1.0 / max(num_examples, 1)
    monotone_tol = max(monotone_tol, one_example + 1e-6)  # float32 metric values
    pgd_fgsm_tol = max(pgd_fgsm_tol, one_example + 1e-6)
    for attack, curve in robust_accuracy.items():
        eps = sorted(curve)
        name, ok = f"eps0_is_clean[{attack}]", abs(curve.get(0.0, math.nan) - clean_accuracy) <= 0.5 * one_example
        if 0.0 not in curve:
            checks.append(SanityCheck(name, None, "ε=0 not in the grid", "eps-zero"))
        else:
            detail = f"accuracy at ε=0 {curve[0.0]:.4f} vs clean {clean_accuracy:.4f}"
            checks.append(SanityCheck(name, ok, detail, "eps-zero", () if ok else tuple((attack, e) for e in eps)))
        rises = [(a, b, curve[b] - curve[a]) for a, b in itertools.pairwise(eps) if curve[b] - curve[a] > monotone_tol]
        detail = "; ".join(f"ε {format_eps(a)}→{format_eps(b)}: +{d:.4f}" for a, b, d in rises)
        detail = f"{detail or 'accuracy non-increasing in ε'} (tol {monotone_tol:.4g})"
        cells = tuple((attack, b) for _, b, _ in rises)
        applies = len(eps) >= 2
        checks.append(
            SanityCheck(f"monotone_in_eps[{attack}]", not rises if applies else None,
                        detail if applies else "fewer than two ε", "monotone", cells)
        )  # fmt: skip
    for name, strong_name, weak_name in STRENGTH_ORDER:
        strong, weak = robust_accuracy.get(strong_name), robust_accuracy.get(weak_name)
        if strong is None or weak is None:
            continue
        doc = "transfer-stronger" if weak_name.startswith("transfer_") else "pgd-weaker"
        common = sorted(set(strong) & set(weak) - {0.0})
        worse = [(e, strong[e], weak[e]) for e in common if strong[e] - weak[e] > pgd_fgsm_tol]
        label_strong, label_weak = strong_name.replace("_", " "), weak_name.replace("_", " ")
        detail = "; ".join(f"ε={format_eps(e)}: {label_strong} {s:.4f} > {label_weak} {w:.4f}" for e, s, w in worse)
        detail = detail or f"{label_strong} ≤ {label_weak} + {pgd_fgsm_tol:.4g} at ε {[format_eps(e) for e in common]}"
        cells = tuple((strong_name, e) for e, _, _ in worse)
        checks.append(SanityCheck(name, not worse if common else None, detail if common else "no common ε > 0", doc,
                                  cells))  # fmt: skip
    for attack in ITERATIVE_ATTACKS:
        iterative = robust_accuracy.get(attack)
        if iterative is None:
            continue
        threshold = large_linf_eps if attack != "pgdl2" else (0.5 * math.sqrt(input_dim) if input_dim else math.inf)
        large = [e for e in iterative if e >= threshold]
        worst = max((iterative[e] for e in large), default=math.nan)
        ok = worst <= large_eps_max_accuracy
        detail = f"max accuracy {worst:.4f} at ε ≥ {threshold:.4g} (must be ≤ {large_eps_max_accuracy})"
        cells = () if ok or not large else tuple((attack, e) for e in sorted(iterative))  # the attack is not working
        checks.append(
            SanityCheck(f"large_eps_near_zero[{attack}]", ok if large else None,
                        detail if large else f"no ε ≥ {threshold:.4g} in the grid", "large-eps", cells)
        )  # fmt: skip
    return checks


def warn_failed(checks: Iterable[SanityCheck], stacklevel: int = 2) -> None:
    """One :class:`RobustnessSanityWarning` per failed check."""
    for check in checks:
        if check.passed is False:
            warn_sanity(f"Sanity check `{check.name}` failed: {check.detail}.", check.doc, stacklevel=stacklevel + 1)
