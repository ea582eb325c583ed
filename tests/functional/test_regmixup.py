import math

import pytest
import torch
import torch.nn.functional as F

from lightning_mixup.functional.labels import MixedLabels
from lightning_mixup.functional.regmixup import apply_regmixup, regmixup_loss, sample_regmixup
from lightning_mixup.functional.sampling import MixParams

# A recorded batch: B = 3 samples, 3 classes, logits of the 2B rows (clean then mixed), one λ, a permutation.
LOGITS = torch.tensor(
    [
        [2.0, 0.5, -1.0],
        [0.1, 0.2, 1.5],
        [-0.3, 1.1, 0.4],
        [1.2, 1.0, -0.5],
        [0.0, -0.7, 0.9],
        [0.6, 0.6, 0.3],
    ]
)
Y = torch.tensor([0, 2, 1])
LAM = 0.7
INDEX = torch.tensor([2, 0, 1])
PARAMS = MixParams(lam=torch.full((3,), LAM), index=INDEX)


def nll(row, label):
    """-log softmax(row)[label] by hand."""
    values = row.tolist()
    return math.log(sum(math.exp(v) for v in values)) - values[label]


def paper_terms():
    """The paper's two terms by hand: CE on the clean samples and the mixup CE on the mixed ones (means over B)."""
    clean = sum(nll(LOGITS[i], int(Y[i])) for i in range(3)) / 3
    mixed = sum(
        LAM * nll(LOGITS[3 + i], int(Y[i])) + (1 - LAM) * nll(LOGITS[3 + i], int(Y[INDEX[i]])) for i in range(3)
    )
    return clean, mixed / 3


def test_drop_in_cross_entropy_is_half_the_paper_loss_with_eta_one():
    _, labels = apply_regmixup(torch.zeros(3, 2), Y, PARAMS)
    clean, mixed = paper_terms()
    assert F.cross_entropy(LOGITS, labels).item() == pytest.approx((clean + mixed) / 2, rel=1e-6)


def test_drop_in_matches_the_official_code_form():
    # models/regmixup.py: lam * CE(logits, cat(y, y)) + (1 - lam) * CE(logits, cat(y, y[index])), means over 2B
    official = LAM * F.cross_entropy(LOGITS, torch.cat([Y, Y])) + (1 - LAM) * F.cross_entropy(
        LOGITS, torch.cat([Y, Y[INDEX]])
    )
    _, labels = apply_regmixup(torch.zeros(3, 2), Y, PARAMS)
    assert torch.allclose(F.cross_entropy(LOGITS, labels), official, rtol=1e-6)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0, 2.0])
def test_regmixup_loss_is_the_paper_formula(eta):
    clean, mixed = paper_terms()
    assert regmixup_loss(LOGITS, Y, PARAMS, eta=eta).item() == pytest.approx(clean + eta * mixed, rel=1e-6)


def test_inputs_are_clean_then_mixed():
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    x2, labels = apply_regmixup(x, Y, PARAMS)
    expected = torch.cat([x, LAM * x + (1 - LAM) * x[INDEX]])
    assert torch.allclose(x2, expected)
    assert isinstance(labels, MixedLabels)
    assert labels.y_a.tolist() == [0, 2, 1, 0, 2, 1]
    assert labels.y_b.tolist() == [0, 2, 1, 1, 0, 2]
    assert labels.lam.tolist() == pytest.approx([1, 1, 1, LAM, LAM, LAM])


def test_float_targets_are_interpolated():
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    _, targets = apply_regmixup(torch.zeros(3, 1), y, PARAMS)
    assert torch.allclose(targets, torch.cat([y, LAM * y + (1 - LAM) * y[INDEX]]))


def test_inputs_are_not_modified():
    x, y = torch.rand(3, 2), Y.clone()
    x0 = x.clone()
    apply_regmixup(x, y, PARAMS)
    assert torch.equal(x, x0) and torch.equal(y, Y)


def test_sampling_is_reproducible_and_follows_beta_alpha_alpha():
    a = sample_regmixup(8, generator=torch.Generator().manual_seed(3))
    b = sample_regmixup(8, generator=torch.Generator().manual_seed(3))
    c = sample_regmixup(8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.lam, b.lam) and torch.equal(a.index, b.index)
    assert not torch.equal(a.lam, c.lam)
    lam = sample_regmixup(4000, alpha=20.0, mode="elem", generator=torch.Generator().manual_seed(0)).lam
    # Beta(20, 20): mean 1/2, standard deviation sqrt(1 / (4 * 41))
    assert float(lam.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(lam.std()) == pytest.approx(math.sqrt(1 / 164), rel=0.05)


def test_alpha_zero_leaves_the_mixed_half_a_copy():
    params = sample_regmixup(3, alpha=0.0)
    x = torch.rand(3, 2)
    x2, _ = apply_regmixup(x, Y, params)
    assert torch.equal(x2[3:], x)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="Expected argument `alpha`"):
        sample_regmixup(4, alpha=-1.0)
    with pytest.raises(ValueError, match="Expected argument `eta` to be a non-negative finite float"):
        regmixup_loss(LOGITS, Y, PARAMS, eta=-0.5)
    with pytest.raises(ValueError, match="batch size of the mixing parameters, 3"):
        apply_regmixup(torch.zeros(4, 2), torch.tensor([0, 1, 2, 0]), PARAMS)
    with pytest.raises(TypeError, match="Expected argument `params` to be a MixParams"):
        apply_regmixup(torch.zeros(3, 2), Y, "params")
    boxes = MixParams(lam=torch.full((3,), 0.5), index=INDEX, boxes=torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="CutMix parameters"):
        apply_regmixup(torch.zeros(3, 1, 4, 4), Y, boxes)
    with pytest.raises(ValueError, match=r"Expected `logits` of shape \(2B, C\)"):
        regmixup_loss(LOGITS[:3], Y, PARAMS)
    with pytest.raises(TypeError, match="integer tensor"):
        regmixup_loss(LOGITS, Y.float(), PARAMS)
