import math

import pytest
import torch

from lightning_mixup.functional.mit import MitParams, apply_mit, mit_loss, mit_recover, sample_mit
from lightning_mixup.functional.sampling import sample_beta


def nll(row, label):
    values = row.tolist()
    return math.log(sum(math.exp(v) for v in values)) - values[label]


def test_recovery_is_exact_for_an_affine_model():
    # logits affine in the input: f(l x_a + (1 - l) x_b) = l f(x_a) + (1 - l) f(x_b), so the decoupling is exact
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    params = MitParams(0.8, 0.3, torch.tensor([2, 0, 4, 1, 3]))
    logits = model(apply_mit(x, params))
    f_a, f_b = mit_recover(logits[:5], logits[5:], params)
    assert torch.allclose(f_a, model(x), atol=1e-12)
    assert torch.allclose(f_b, model(x[params.index]), atol=1e-12)


def test_loss_is_the_paper_formula_on_a_recorded_batch():
    logits = torch.tensor([[1.0, 0.2, -0.4], [0.3, 0.9, 0.0], [0.5, -0.5, 1.5], [0.2, 0.1, 0.7]])
    y = torch.tensor([0, 2])
    lam1, lam2 = 0.9, 0.2
    params = MitParams(lam1, lam2, torch.tensor([1, 0]))
    total = 0.0
    for i, j in enumerate([1, 0]):
        f1, f2 = logits[i], logits[2 + i]
        # the official code's form (main.py, MIT-L): coef1 = (1 - l1) / (1 - l2), coef2 = l2 / l1
        coef1, coef2 = (1 - lam1) / (1 - lam2), lam2 / lam1
        f_a = (f1 - coef1 * f2) / (lam1 - lam2 * coef1)
        f_b = (f2 - coef2 * f1) / (1 - lam2 - (1 - lam1) * coef2)
        total += 0.5 * nll(f_a, int(y[i])) / 2 + 0.5 * nll(f_b, int(y[j])) / 2
    assert mit_loss(logits, y, params).item() == pytest.approx(total, rel=1e-6)


def test_apply_mixes_the_same_partners_twice():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, -1.0]])
    params = MitParams(0.75, 0.125, torch.tensor([2, 0, 1]))
    mixed = apply_mit(x, params)
    j = params.index
    assert torch.allclose(mixed[:3], 0.75 * x + 0.25 * x[j])
    assert torch.allclose(mixed[3:], 0.125 * x + 0.875 * x[j])


@pytest.mark.parametrize("margin", [0.0, 0.5, 0.8])
def test_sampled_weights_respect_the_margin(margin):
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        p = sample_mit(6, alpha=1.0, margin=margin, generator=g)
        assert p.lam1 >= 0.5 >= p.lam2
        assert p.lam1 - p.lam2 >= margin and p.lam1 > p.lam2
        assert sorted(p.index.tolist()) == list(range(6))


def test_draw_order_and_reproducibility():
    p = sample_mit(5, alpha=1.0, margin=0.0, generator=torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    u, v = sample_beta(1.0, 2, generator=replay).tolist()
    index = torch.randperm(5, generator=replay)
    assert p.lam1 == pytest.approx(max(u, 1 - u), abs=1e-7)
    assert p.lam2 == pytest.approx(min(v, 1 - v), abs=1e-7)
    assert torch.equal(p.index, index)
    q = sample_mit(5, alpha=1.0, margin=0.0, generator=torch.Generator().manual_seed(7))
    assert (q.lam1, q.lam2) == (p.lam1, p.lam2) and torch.equal(q.index, p.index)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"Expected argument `margin` to be a float in \[0, 1\)"):
        sample_mit(4, margin=1.0)
    with pytest.raises(ValueError, match="Expected argument `alpha`"):
        sample_mit(4, alpha=0.0)
    with pytest.raises(ValueError, match="Expected argument `batch_size`"):
        sample_mit(-1)
    with pytest.raises(ValueError, match="no pair of weights was 0.9 apart"):
        sample_mit(4, alpha=1e4, margin=0.9, generator=torch.Generator().manual_seed(0))
    params = MitParams(0.75, 0.25, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"Expected `logits` of shape \(2B, C\)"):
        mit_loss(torch.zeros(3, 2), torch.tensor([0, 1]), params)
    with pytest.raises(TypeError, match="integer tensor"):
        mit_loss(torch.zeros(4, 2), torch.tensor([0.0, 1.0]), params)
    with pytest.raises(ValueError, match="Expected weights 0 <= lam2 <= 0.5 <= lam1 <= 1"):
        MitParams(0.4, 0.2, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="1-D int64 CPU tensor"):
        MitParams(0.75, 0.25, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="of the same shape"):
        mit_recover(torch.zeros(2, 3), torch.zeros(2, 2), params)
