import math
import time

import pytest
import torch
import torch.nn.functional as F

from lightning_mixup.functional.cmixup import apply_cmixup, cmixup_probabilities, sample_cmixup
from lightning_mixup.functional.sampling import MixParams, sample_beta


def kernel_row(labels, i, bandwidth):
    """P(j | i) by hand: exp(-|y_i - y_j|^2 / (2 sigma^2)), normalised, j = i included."""
    weights = [
        math.exp(-sum((a - b) ** 2 for a, b in zip(labels[i], other, strict=True)) / (2 * bandwidth**2))
        for other in labels
    ]
    total = sum(weights)
    return [w / total for w in weights]


@pytest.mark.parametrize(
    ("y", "rows"),
    [
        (torch.tensor([0.0, 1.0, 3.0]), [[0.0], [1.0], [3.0]]),
        (torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]]), [[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]]),
    ],
)
def test_probabilities_are_the_gaussian_kernel_of_label_distance(y, rows):
    probs = cmixup_probabilities(y, bandwidth=1.5)
    for i in range(3):
        assert probs[i].tolist() == pytest.approx(kernel_row(rows, i, 1.5), rel=1e-12)


def test_partners_follow_the_kernel_probabilities():
    y = torch.tensor([0.0, 0.5, 2.0])
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(3, 3)
    for _ in range(2000):
        index = sample_cmixup(y, bandwidth=1.0, generator=g).index
        counts[torch.arange(3), index] += 1
    frequencies = counts / 2000
    expected = torch.tensor([kernel_row([[0.0], [0.5], [2.0]], i, 1.0) for i in range(3)], dtype=torch.float32)
    assert torch.allclose(frequencies, expected, atol=0.03)


def test_a_sample_can_be_its_own_partner():
    # far-apart labels and a narrow kernel: each sample's only likely partner is itself
    y = torch.tensor([0.0, 100.0, 200.0, 300.0])
    params = sample_cmixup(y, bandwidth=1.0, generator=torch.Generator().manual_seed(0))
    assert params.index.tolist() == [0, 1, 2, 3]


def test_draw_order_and_reproducibility():
    y = torch.tensor([[0.1, 0.0], [0.3, 1.0], [2.0, 2.0], [0.0, 0.2]])
    params = sample_cmixup(y, alpha=2.0, bandwidth=0.8, generator=torch.Generator().manual_seed(5))
    replay = torch.Generator().manual_seed(5)
    u = torch.rand(4, generator=replay, dtype=torch.float64)
    cumulative = cmixup_probabilities(y, bandwidth=0.8).cumsum(1)
    index = torch.tensor([int((row <= float(v) * float(row[-1])).sum()) for row, v in zip(cumulative, u, strict=True)])
    lam = sample_beta(2.0, 1, generator=replay)
    assert torch.equal(params.index, index)
    assert torch.equal(params.lam, lam.expand(4))
    again = sample_cmixup(y, alpha=2.0, bandwidth=0.8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again.lam, params.lam) and torch.equal(again.index, params.index)
    elem = sample_cmixup(y, mode="elem", generator=torch.Generator().manual_seed(5))
    assert len(set(elem.lam.tolist())) == 4


@pytest.mark.parametrize("y", [torch.tensor([1.0, 3.0, -2.0]), torch.tensor([[1.0, 0.0], [3.0, 1.0], [-2.0, 4.0]])])
def test_mse_of_the_mixed_batch_is_the_paper_loss(y):
    params = MixParams(lam=torch.full((3,), 0.3), index=torch.tensor([1, 1, 0]))
    x = torch.tensor([[1.0], [2.0], [4.0]])
    mixed_x, mixed_y = apply_cmixup(x, y, params)
    w = torch.tensor([[0.5]]) if y.ndim == 1 else torch.tensor([[0.5, -1.0]])
    pred = (mixed_x @ w).squeeze(-1) if y.ndim == 1 else mixed_x @ w
    # by hand: x~_i = 0.3 x_i + 0.7 x_j, y~_i = 0.3 y_i + 0.7 y_j, loss = mean (f(x~) - y~)^2
    expected = 0.0
    rows = y.reshape(3, -1).tolist()
    for i, j in enumerate([1, 1, 0]):
        x_mix = 0.3 * float(x[i]) + 0.7 * float(x[j])
        for k, wk in enumerate(w.flatten().tolist()):
            expected += (wk * x_mix - (0.3 * rows[i][k] + 0.7 * rows[j][k])) ** 2
    expected /= y.numel()
    assert F.mse_loss(pred, mixed_y).item() == pytest.approx(expected, rel=1e-6)


def test_batch_of_1024_is_fast():
    y = torch.randn(1024, 3, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    sample_cmixup(y, generator=g)
    start = time.perf_counter()
    params = sample_cmixup(y, generator=g)
    elapsed = time.perf_counter() - start
    print(f"sample_cmixup, B = 1024, k = 3: {elapsed * 1e3:.1f} ms")
    assert params.batch_size == 1024
    assert elapsed < 2.0


def test_identity_cases():
    y = torch.tensor([1.0, 2.0])
    assert sample_cmixup(y, alpha=0.0).lam.tolist() == [1.0, 1.0]
    assert sample_cmixup(torch.tensor([1.0])).index.tolist() == [0]


def test_bad_inputs_raise():
    with pytest.raises(TypeError, match="floating-point tensor"):
        sample_cmixup(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"of shape \(B,\) or \(B, k\)"):
        sample_cmixup(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="finite regression targets"):
        sample_cmixup(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="Expected argument `bandwidth`"):
        sample_cmixup(torch.tensor([1.0, 2.0]), bandwidth=0.0)
    with pytest.raises(ValueError, match="Expected argument `mode` to be one of"):
        sample_cmixup(torch.tensor([1.0, 2.0]), mode="pair")
    with pytest.raises(ValueError, match="Expected argument `alpha`"):
        sample_cmixup(torch.tensor([1.0, 2.0]), alpha=-2.0)
    params = MixParams(lam=torch.ones(2), index=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="batch size of the mixing parameters, 2"):
        apply_cmixup(torch.zeros(2, 1), torch.zeros(3), params)
