import ast
from pathlib import Path

import pytest
import torch
from torchmetrics.classification import MulticlassCalibrationError

import lightning_mixup.evaluation as evaluation
from lightning_mixup.evaluation import ReliabilityDiagram, RobustnessSanityWarning, run_sanity_checks
from lightning_mixup.evaluation.sanity import looks_like_probabilities, warn_failed


def by_name(checks):
    return {c.name: c for c in checks}


def test_each_check_fails_on_what_it_guards_against():
    checks = by_name(
        run_sanity_checks(
            0.9,
            {
                "fgsm": {0.0: 0.8, 0.1: 0.5, 0.2: 0.6},  # ε = 0 is not clean; accuracy rises 0.1 → 0.2
                "pgd": {0.0: 0.9, 0.1: 0.55, 0.5: 0.3},  # PGD weaker than FGSM at 0.1; not near zero at 0.5
                "pgdl2": {0.0: 0.9, 4.0: 0.0},
            },
            num_examples=100,
            input_dim=64,
        )
    )
    assert checks["eps0_is_clean[fgsm]"].passed is False
    assert "0.8000 vs clean 0.9000" in checks["eps0_is_clean[fgsm]"].detail
    assert checks["monotone_in_eps[fgsm]"].passed is False
    assert "ε 0.1→0.2: +0.1000" in checks["monotone_in_eps[fgsm]"].detail
    assert checks["pgd_not_weaker_than_fgsm"].passed is False
    assert checks["large_eps_near_zero[pgd]"].passed is False
    assert checks["large_eps_near_zero[pgdl2]"].passed is True  # 4.0 ≥ 0.5·√64
    assert checks["eps0_is_clean[pgd]"].passed is True
    assert checks["monotone_in_eps[pgd]"].passed is True
    # each failure names the cells it makes untrustworthy; passed checks name none
    assert checks["eps0_is_clean[fgsm]"].cells == (("fgsm", 0.0), ("fgsm", 0.1), ("fgsm", 0.2))
    assert checks["monotone_in_eps[fgsm]"].cells == (("fgsm", 0.2),)
    assert checks["pgd_not_weaker_than_fgsm"].cells == (("pgd", 0.1),)
    assert checks["large_eps_near_zero[pgd]"].cells == (("pgd", 0.0), ("pgd", 0.1), ("pgd", 0.5))
    assert all(not c.cells for c in checks.values() if c.passed is not False)


def test_stronger_attacks_must_not_be_weaker():
    checks = by_name(
        run_sanity_checks(
            0.9,
            {
                "fgsm": {0.1: 0.5, 0.2: 0.3},
                "pgd": {0.1: 0.4, 0.2: 0.2},
                "autoattack": {0.1: 0.45, 0.2: 0.1},  # AutoAttack above PGD at 0.1
                "transfer_fgsm": {0.1: 0.4, 0.2: 0.3},  # the transferred FGSM breaks more than the white-box one
                "transfer_pgd": {0.1: 0.6, 0.2: 0.5},
            },
            num_examples=100,
        )
    )
    assert checks["autoattack_not_weaker_than_pgd"].cells == (("autoattack", 0.1),)
    assert checks["autoattack_not_weaker_than_pgd"].doc == "pgd-weaker"
    white_box = checks["white_box_not_weaker_than_transfer[fgsm]"]
    assert white_box.passed is False and white_box.cells == (("fgsm", 0.1),) and white_box.doc == "transfer-stronger"
    assert checks["white_box_not_weaker_than_transfer[pgd]"].passed is True
    assert "transfer_pgd_not_weaker_than_transfer_fgsm" not in checks  # iterative examples transfer worse: normal


def test_checks_pass_on_a_sound_evaluation_and_skip_what_does_not_apply():
    checks = run_sanity_checks(
        0.9,
        {"fgsm": {0.0: 0.9, 0.1: 0.5}, "pgd": {0.0: 0.9, 0.1: 0.4, 0.5: 0.0}, "pgdl2": {0.5: 0.2}},
        num_examples=100,
    )
    named = by_name(checks)
    assert named["large_eps_near_zero[pgdl2]"].passed is None  # no input_dim: no L2 threshold
    assert named["eps0_is_clean[pgdl2]"].passed is None
    assert named["monotone_in_eps[pgdl2]"].passed is None
    assert all(c.passed is not False for c in checks)


def test_tolerances():
    curve = {"fgsm": {0.0: 0.9, 0.1: 0.5, 0.2: 0.508}}  # a rise of 1.6 examples in 200
    assert by_name(run_sanity_checks(0.9, curve, num_examples=200))["monotone_in_eps[fgsm]"].passed is True
    strict = run_sanity_checks(0.9, curve, num_examples=200, monotone_tol=0.0)
    assert by_name(strict)["monotone_in_eps[fgsm]"].passed is False


def test_tolerance_is_at_least_one_example():
    one = {"fgsm": {0.0: 0.6, 0.1: 0.4, 0.2: 0.4 + 1 / 30}, "pgd": {0.1: 0.4 + 1 / 30, 0.2: 0.4}}
    two = {"fgsm": {0.0: 0.6, 0.1: 0.4, 0.2: 0.4 + 2 / 30}, "pgd": {0.1: 0.4 + 2 / 30, 0.2: 0.4}}
    assert all(c.passed is not False for c in run_sanity_checks(0.6, one, num_examples=30))
    failed = {c.name for c in run_sanity_checks(0.6, two, num_examples=30) if c.passed is False}
    assert failed == {"monotone_in_eps[fgsm]", "pgd_not_weaker_than_fgsm"}


def test_failed_checks_warn_with_the_doc_section():
    checks = run_sanity_checks(0.9, {"fgsm": {0.0: 0.5}}, num_examples=10)
    with pytest.warns(RobustnessSanityWarning, match=r"eps0_is_clean\[fgsm\].*section 'eps-zero'"):
        warn_failed(checks)
    section_names = (
        "eps-zero",
        "monotone",
        "pgd-weaker",
        "transfer-stronger",
        "large-eps",
        "train-mode",
        "buffers",
        "probabilities",
        "input-range",
    )
    doc = evaluation.sanity.__doc__ or ""
    assert all(f"\n{name}\n" in doc for name in section_names)  # every section a warning names exists


def test_probability_detector():
    logits = torch.randn(8, 4)
    assert looks_like_probabilities(logits.softmax(1))
    assert not looks_like_probabilities(logits)
    assert not looks_like_probabilities(logits.log_softmax(1))
    assert not looks_like_probabilities(torch.ones(3, 1))


def test_reliability_bins_match_torchmetrics_ece():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 5, generator=g) * 4
    logits[:50, 0] = 60.0  # softmax exactly 1.0 in float32: torchmetrics' extra last bin
    probs = logits.softmax(1)
    assert bool((probs.amax(1) == 1.0).any())
    target = torch.randint(5, (500,), generator=g)
    metric = ReliabilityDiagram(n_bins=10)
    for chunk in range(0, 500, 128):
        metric.update(probs[chunk : chunk + 128], target[chunk : chunk + 128])
    bins = metric.compute()
    expected = MulticlassCalibrationError(5, n_bins=10, norm="l1")(probs, target).item()
    assert bins.ece == pytest.approx(expected, abs=1e-6)
    assert sum(bins.count) == 500 and len(bins.count) == 11
    merged = bins.merged()
    assert len(merged.count) == 10 and sum(merged.count) == 500
    with pytest.raises(ValueError, match="Expected argument `n_bins` to be an int >= 1, but got 0"):
        ReliabilityDiagram(n_bins=0)
    with pytest.raises(ValueError, match=r"Expected `probs` of shape \(B, C\)"):
        metric.update(probs[:, 0], target)


TRAINING_MODULES = ("callback", "mixin", "models", "policy", "functional", "data", "studies", "cli", "gan", "demos")


def test_evaluation_never_imports_training_code():
    root = Path(evaluation.__file__).parent
    offenders = []
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "lightning_mixup" and len(parts) > 1 and parts[1] in TRAINING_MODULES:
                    offenders.append(f"{path.name}: {name}")
                if parts[0] in ("torchvision", "matplotlib") and node.col_offset == 0:
                    offenders.append(f"{path.name}: top-level {name}")
    assert not offenders
