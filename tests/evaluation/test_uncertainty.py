import itertools
import math

import pytest
import torch
from torchmetrics import MeanSquaredError

from lightning_mixup.evaluation.uncertainty import (
    AURC,
    GaussianNLL,
    OODDetection,
    aurc,
    gaussian_nll,
    ood_detection,
    ood_detection_from_scores,
    ood_scores,
    regression_metrics,
    risk_coverage_curve,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def sklearn_reference(id_scores, ood_scores_, level=0.95):
    """AUROC and FPR at `level` TPR from sklearn, ID positive, every threshold kept."""
    scores = torch.cat([id_scores, ood_scores_]).double().numpy()
    labels = [1] * len(id_scores) + [0] * len(ood_scores_)
    fpr, tpr, _ = sklearn_metrics.roc_curve(labels, scores, drop_intermediate=False)
    first = int((tpr >= level).argmax())
    return sklearn_metrics.roc_auc_score(labels, scores), float(fpr[first])


# ---------------------------------------------------------------------------------------------------------- OOD


def test_ood_scores_are_msp_and_negative_entropy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 5, generator=gen, dtype=torch.float64) * 3
    probs = torch.softmax(logits, dim=1)
    torch.testing.assert_close(ood_scores(logits, "msp"), probs.max(dim=1).values)
    entropy = torch.distributions.Categorical(logits=logits).entropy()
    torch.testing.assert_close(ood_scores(logits, "entropy"), -entropy)
    # sign convention: a confident row scores above a uniform row for both scores
    rows = torch.tensor([[9.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    for score in ("msp", "entropy"):
        confident, uniform = ood_scores(rows, score).tolist()
        assert confident > uniform
    assert ood_scores(rows, "entropy")[1].item() == pytest.approx(-math.log(3))
    # saturated softmax: 0 · log 0 counts 0, never nan
    assert ood_scores(torch.tensor([[1000.0, 0.0]]), "entropy").item() == 0.0


def test_fpr95_hand_computation_exact_level():
    # 20 ID scores 1..20, OOD scores 0.5, 1.5, 2.5, 10.5, 30: 95 % of 20 = 19 ID accepted -> threshold 2
    id_scores = torch.arange(1, 21, dtype=torch.float64)
    ood = torch.tensor([0.5, 1.5, 2.5, 10.5, 30.0], dtype=torch.float64)
    result = ood_detection_from_scores(id_scores, ood)
    assert result.threshold == 2.0
    assert result.tpr_reached == 0.95
    assert result.fpr_at_95_tpr == 3 / 5  # 2.5, 10.5 and 30 are accepted
    # AUROC = P(ID > OOD): pairs won by ID = 20 + 19 + 18 + 10 + 0 = 67 of 100
    assert result.auroc == pytest.approx(67 / 100)
    assert (result.num_id, result.num_ood) == (20, 5)
    assert (result.auroc, result.fpr_at_95_tpr) == pytest.approx(sklearn_reference(id_scores, ood))


def test_fpr95_hand_computation_with_ties():
    # 18 ID above 5, 2 ID tied with one OOD at 0.2: 95 % is unreachable without accepting the tie -> TPR 1.0
    id_scores = torch.cat([torch.linspace(5, 6, 18, dtype=torch.float64), torch.full((2,), 0.2, dtype=torch.float64)])
    ood = torch.tensor([0.2, 0.1, 5.5, 0.0], dtype=torch.float64)
    result = ood_detection_from_scores(id_scores, ood)
    assert result.threshold == pytest.approx(0.2)
    assert result.tpr_reached == 1.0
    assert result.fpr_at_95_tpr == 2 / 4  # 0.2 (tied) and 5.5
    # ties count one half: ID wins 18·3 + 2·2 pairs outright, 2 ties with the OOD 0.2, loses 18 - 9 to 5.5 ...
    wins = sum(float(i > o) + 0.5 * float(i == o) for i in id_scores.tolist() for o in ood.tolist())
    assert result.auroc == pytest.approx(wins / 80)
    assert (result.auroc, result.fpr_at_95_tpr) == pytest.approx(sklearn_reference(id_scores, ood))


@pytest.mark.parametrize("seed", range(12))
def test_ood_detection_matches_sklearn_with_ties(seed):
    gen = torch.Generator().manual_seed(seed)
    n_id, n_ood = int(torch.randint(5, 60, (1,), generator=gen)), int(torch.randint(5, 60, (1,), generator=gen))
    # coarse scores so that many ID/OOD ties occur
    id_scores = torch.randint(0, 8, (n_id,), generator=gen).double() / 4 + 0.5
    ood = torch.randint(0, 8, (n_ood,), generator=gen).double() / 4
    for level in (0.95, 0.8, 1.0):
        result = ood_detection_from_scores(id_scores, ood, tpr=level)
        auroc, fpr = sklearn_reference(id_scores, ood, level)
        assert result.auroc == pytest.approx(auroc, abs=1e-6)
        assert result.fpr_at_95_tpr == pytest.approx(fpr, abs=1e-12)
        assert result.tpr_reached >= level
        # the threshold is the one described: accept score >= threshold
        assert result.tpr_reached == pytest.approx(float((id_scores >= result.threshold).double().mean()))
        assert result.fpr_at_95_tpr == pytest.approx(float((ood >= result.threshold).double().mean()))


@pytest.mark.parametrize("score", ["msp", "entropy"])
def test_ood_detection_from_logits_matches_sklearn(score):
    gen = torch.Generator().manual_seed(3)
    id_logits = 4 * torch.eye(5)[torch.randint(5, (200,), generator=gen)] + torch.randn(200, 5, generator=gen)
    ood_logits = torch.randn(150, 5, generator=gen) * 1.5
    result = ood_detection(id_logits, ood_logits, score=score)
    auroc, fpr = sklearn_reference(ood_scores(id_logits, score), ood_scores(ood_logits, score))
    assert result.score == score
    assert result.auroc == pytest.approx(auroc, abs=1e-6)
    assert result.fpr_at_95_tpr == pytest.approx(fpr)
    assert 0.5 < result.auroc < 1.0  # the confident ID logits are separable, not perfectly


def test_scores_far_outside_unit_interval_keep_their_order():
    # torchmetrics would apply a sigmoid to such scores, merging them all to 1.0 in float; ranks keep them apart
    gen = torch.Generator().manual_seed(1)
    id_scores, ood = torch.rand(30, generator=gen, dtype=torch.float64), torch.rand(25, generator=gen).double() * 0.9
    base = ood_detection_from_scores(id_scores, ood)
    shifted = ood_detection_from_scores(id_scores * 1e-3 + 60, ood * 1e-3 + 60)
    assert (shifted.auroc, shifted.fpr_at_95_tpr) == pytest.approx((base.auroc, base.fpr_at_95_tpr))
    assert base.auroc == pytest.approx(sklearn_reference(id_scores, ood)[0])
    assert shifted.threshold == pytest.approx(base.threshold * 1e-3 + 60)


def test_identical_scores_are_chance():
    result = ood_detection_from_scores(torch.full((10,), 0.3), torch.full((7,), 0.3))
    assert (result.auroc, result.fpr_at_95_tpr, result.tpr_reached) == (0.5, 1.0, 1.0)
    assert result.threshold == pytest.approx(0.3)


def test_swapping_id_and_ood_flips_auroc():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randint(0, 5, (40,), generator=gen).double(), torch.randint(0, 5, (30,), generator=gen).double()
    assert ood_detection_from_scores(a, b).auroc == pytest.approx(1 - ood_detection_from_scores(b, a).auroc)


def test_ood_metric_accumulates_like_the_function():
    gen = torch.Generator().manual_seed(4)
    id_logits = 3 * torch.eye(3)[torch.randint(3, (40,), generator=gen)] + torch.randn(40, 3, generator=gen)
    ood_logits = torch.randn(30, 3, generator=gen)
    metric = OODDetection(score="entropy", tpr=0.9)
    logits = torch.cat([id_logits, ood_logits])
    flags = torch.cat([torch.zeros(40, dtype=torch.bool), torch.ones(30, dtype=torch.bool)])
    order = torch.randperm(70, generator=gen)
    for chunk in order.split(16):
        metric.update(logits[chunk], flags[chunk].long())
    expected = ood_detection(id_logits, ood_logits, score="entropy", tpr=0.9)
    assert metric.compute() == expected


def test_ood_bad_inputs():
    good = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"Expected argument `score` to be one of \('msp', 'entropy'\), but got 'max'"):
        ood_scores(good, "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`logits` of shape \(N, C\) with C >= 2, but got shape \(4, 1\)"):
        ood_scores(torch.randn(4, 1))
    with pytest.raises(ValueError, match=r"`logits` of shape \(N, C\), but got shape \(4,\)"):
        ood_scores(torch.randn(4))
    with pytest.raises(TypeError, match="`logits` to be a floating-point tensor"):
        ood_scores(torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="`id_logits` to be finite, but got 1 non-finite"):
        ood_detection(torch.tensor([[0.0, float("nan")]]), good[:, :2])
    with pytest.raises(ValueError, match=r"same number of classes, but got shapes \(4, 3\) and \(2, 2\)"):
        ood_detection(good, torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"`ood_logits` to hold at least one sample, but got shape \(0, 3\)"):
        ood_detection(good, torch.randn(0, 3))
    with pytest.raises(ValueError, match=r"`tpr` to be a float in \(0, 1\], but got 0"):
        ood_detection(good, good, tpr=0)
    with pytest.raises(ValueError, match=r"`id_scores` of shape \(N,\) with N >= 1, but got shape \(0,\)"):
        ood_detection_from_scores(torch.zeros(0), torch.zeros(3))
    with pytest.raises(ValueError, match=r"`tpr` to be a float in \(0, 1\], but got True"):
        OODDetection(tpr=True)
    metric = OODDetection()
    with pytest.raises(ValueError, match=r"`is_ood` to be a tensor of shape \(4,\), but got a torch.int64 tensor"):
        metric.update(good, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="`is_ood` to hold only 0/1 or bool values"):
        metric.update(good, torch.tensor([0, 1, 2, 0]))
    metric.update(good, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one in-distribution and one OOD sample, but got 4 and 0"):
        metric.compute()


# ---------------------------------------------------------------------------------------------------------- AURC


def aurc_of_order(errors):
    """Plain AURC of errors listed from most to least confident."""
    return sum(sum(errors[:k]) / k for k in range(1, len(errors) + 1)) / len(errors)


def brute_force_aurc(confidence, errors):
    """The mean plain AURC over every order of the samples that sorts the confidences decreasingly."""
    values = []
    for order in itertools.permutations(range(len(confidence))):
        conf = [confidence[i] for i in order]
        if all(conf[i] >= conf[i + 1] for i in range(len(conf) - 1)):
            values.append(aurc_of_order([errors[i] for i in order]))
    return sum(values) / len(values)


def probs_from(confidence, correct):
    """Two-class probabilities with the given top-1 confidence (> 0.5), predicting class 0; labels from `correct`."""
    conf = torch.tensor(confidence, dtype=torch.float64)
    probs = torch.stack([conf, 1 - conf], dim=1)
    target = torch.tensor([0 if c else 1 for c in correct])
    return probs, target


@pytest.mark.parametrize("seed", range(8))
def test_aurc_matches_brute_force_over_tie_orders(seed):
    gen = torch.Generator().manual_seed(seed)
    confidence = (0.55 + 0.1 * torch.randint(0, 3, (7,), generator=gen).double()).tolist()  # 3 levels: many ties
    correct = (torch.rand(7, generator=gen) < 0.6).tolist()
    probs, target = probs_from(confidence, correct)
    errors = [0.0 if c else 1.0 for c in correct]
    assert aurc(probs, target, inputs="probs").item() == pytest.approx(brute_force_aurc(confidence, errors))


def test_aurc_hand_values():
    # distinct confidences 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (wrong): risks 0, 1/2, 1/3, 2/4
    probs, target = probs_from([0.9, 0.8, 0.7, 0.6], [True, False, True, False])
    assert aurc(probs, target, inputs="probs").item() == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    coverage, risk = risk_coverage_curve(probs, target, inputs="probs")
    assert coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk.tolist() == pytest.approx([0, 1 / 2, 1 / 3, 2 / 4])
    # all confidences tied: every coverage has the expected risk = the error rate
    probs, target = probs_from([0.7] * 5, [True, False, True, True, False])
    assert aurc(probs, target, inputs="probs").item() == pytest.approx(2 / 5)


def test_aurc_is_order_invariant_and_logits_equal_probs():
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(300, 4, generator=gen, dtype=torch.float64).mul(2).round()  # rounding creates ties
    target = torch.randint(4, (300,), generator=gen)
    value = aurc(logits, target)
    perm = torch.randperm(300, generator=gen)
    assert aurc(logits[perm], target[perm]).item() == pytest.approx(value.item(), abs=1e-12)
    assert aurc(torch.softmax(logits, 1), target, inputs="probs").item() == pytest.approx(value.item(), abs=1e-12)
    # between the oracle ranking and the reversed one
    errors = (logits.argmax(1) != target).double()
    assert aurc_of_order(sorted(errors.tolist())) < value.item() < aurc_of_order(sorted(errors.tolist(), reverse=True))


def test_aurc_of_an_oracle_ranking():
    # every correct prediction more confident than every wrong one: AURC -> r + (1 - r) log(1 - r)
    n, wrong = 10_000, 2_000
    confidence = torch.linspace(0.99, 0.51, n, dtype=torch.float64)
    correct = [True] * (n - wrong) + [False] * wrong
    probs, target = probs_from(confidence.tolist(), correct)
    r = wrong / n
    assert aurc(probs, target, inputs="probs").item() == pytest.approx(r + (1 - r) * math.log(1 - r), abs=1e-3)


def test_aurc_metric_accumulates_like_the_function():
    gen = torch.Generator().manual_seed(6)
    logits, target = torch.randn(50, 3, generator=gen).round(), torch.randint(3, (50,), generator=gen)
    metric = AURC()
    for part in range(0, 50, 16):
        metric.update(logits[part : part + 16], target[part : part + 16])
    assert metric.compute().item() == pytest.approx(aurc(logits, target).item(), abs=1e-12)


def test_aurc_bad_inputs():
    probs, target = probs_from([0.9, 0.8], [True, False])
    with pytest.raises(ValueError, match=r"`inputs` to be one of \('logits', 'probs'\), but got 'softmax'"):
        aurc(probs, target, inputs="softmax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`preds` to hold probabilities .* pass inputs='logits'"):
        aurc(probs * 2, target, inputs="probs")
    with pytest.raises(ValueError, match=r"`target` of shape \(2,\) to match `preds` \(2, 2\), but got shape \(3,\)"):
        aurc(probs, torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="`target` to be an integer tensor, but got torch.float32"):
        aurc(probs, torch.zeros(2))
    with pytest.raises(ValueError, match=r"`inputs` to be one of"):
        AURC(inputs="log")  # type: ignore[arg-type]
    for metric in (AURC(), OODDetection(), GaussianNLL()):
        with (
            pytest.warns(UserWarning, match="called before the ``update``"),
            pytest.raises(ValueError, match="at least one call of `update` before `compute`"),
        ):
            metric.compute()


# ---------------------------------------------------------------------------------------------------------- regression


def test_regression_metrics_match_hand_formulas():
    gen = torch.Generator().manual_seed(7)
    mean, target = torch.randn(40, 3, generator=gen, dtype=torch.float64), torch.randn(40, 3, generator=gen).double()
    var = torch.rand(40, 3, generator=gen, dtype=torch.float64) + 0.1
    rmse, nll = regression_metrics(mean, target, var)
    assert rmse.item() == pytest.approx(((mean - target) ** 2).mean().sqrt().item())
    hand = 0.5 * (torch.log(2 * math.pi * var) + (target - mean) ** 2 / var)
    assert nll is not None
    assert nll.item() == pytest.approx(hand.mean().item())
    assert regression_metrics(mean, target)[1] is None
    metric = MeanSquaredError(squared=False)
    metric.update(mean.flatten(), target.flatten())
    assert rmse.item() == pytest.approx(metric.compute().item())


def test_gaussian_nll_keeps_tiny_variances_and_is_differentiable():
    # torch's default clamp (eps=1e-6) would replace 1e-8; the exact formula must hold
    mean, target, var = torch.tensor([0.0], dtype=torch.float64), torch.tensor([1e-4], dtype=torch.float64), None
    var = torch.tensor([1e-8], dtype=torch.float64, requires_grad=True)
    nll = gaussian_nll(mean, target, var)
    assert nll.item() == pytest.approx(0.5 * (math.log(2 * math.pi * 1e-8) + 1e-8 / 1e-8))
    nll.backward()
    # d/dvar 0.5 (log var + r²/var) = 0.5 (1/var - r²/var²) = 0 at var = r²
    assert var.grad is not None and abs(var.grad.item()) < 1e-3


def test_gaussian_nll_metric_accumulates_like_the_function():
    gen = torch.Generator().manual_seed(8)
    mean, target = torch.randn(30, generator=gen), torch.randn(30, generator=gen)
    var = torch.rand(30, generator=gen) + 0.05
    metric = GaussianNLL()
    for part in (slice(0, 7), slice(7, 30)):
        metric.update(mean[part], target[part], var[part])
    assert metric.compute().item() == pytest.approx(gaussian_nll(mean, target, var).item(), rel=1e-6)


def test_regression_bad_inputs():
    mean = torch.zeros(4)
    with pytest.raises(ValueError, match=r"`target` of the shape of `mean` \(4,\), but got shape \(4, 1\)"):
        regression_metrics(mean, torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"`var` of the shape of `mean` \(4,\), but got shape \(3,\)"):
        regression_metrics(mean, mean, torch.ones(3))
    with pytest.raises(ValueError, match=r"`var` to be finite and positive .* but got 2 other values, e.g. 0.0"):
        regression_metrics(mean, mean, torch.tensor([1.0, 0.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="`var` to be finite and positive .* but got 1 other values, e.g. nan"):
        gaussian_nll(mean, mean, torch.tensor([1.0, float("nan"), 1.0, 1.0]))
    with pytest.raises(TypeError, match="`mean` to be a floating-point tensor, but got torch.int64"):
        regression_metrics(torch.zeros(4, dtype=torch.long), mean)
    with pytest.raises(ValueError, match=r"`mean` of shape \(N,\) or \(N, D\) with N >= 1, but got shape \(2, 2, 2\)"):
        regression_metrics(torch.zeros(2, 2, 2), torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="`target` to be a torch.Tensor, but got"):
        regression_metrics(mean, [0.0] * 4)  # type: ignore[arg-type]
