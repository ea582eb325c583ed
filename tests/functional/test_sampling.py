import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lightning_mixup.functional import sample_beta, sample_cutmix, sample_mixup


@pytest.mark.parametrize("alpha", [0.4, 1.0, 4.0])
def test_sample_beta_matches_the_beta_distribution(alpha):
    lam = sample_beta(alpha, 4000, generator=torch.Generator().manual_seed(0))
    result = stats.kstest(lam.double().numpy(), stats.beta(alpha, alpha).cdf)
    assert result.pvalue > 1e-3


def test_sample_beta_tiny_alpha_stays_in_range():
    lam = sample_beta(1e-3, 1000, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(lam).all()
    assert ((lam >= 0) & (lam <= 1)).all()
    assert ((lam < 0.01) | (lam > 0.99)).float().mean() > 0.95


def test_same_seed_same_draws():
    a = sample_mixup(16, alpha=0.4, mode="elem", generator=torch.Generator().manual_seed(3))
    b = sample_mixup(16, alpha=0.4, mode="elem", generator=torch.Generator().manual_seed(3))
    c = sample_mixup(16, alpha=0.4, mode="elem", generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.lam, b.lam) and torch.equal(a.index, b.index)
    assert not torch.equal(a.lam, c.lam)


def test_modes_shape_lambda():
    g = torch.Generator().manual_seed(0)
    batch = sample_mixup(9, alpha=1.0, mode="batch", generator=g)
    assert torch.unique(batch.lam).numel() == 1
    assert sorted(batch.index.tolist()) == list(range(9))
    elem = sample_mixup(9, alpha=1.0, mode="elem", generator=g)
    assert torch.unique(elem.lam).numel() == 9
    pair = sample_mixup(9, alpha=1.0, mode="pair", generator=g)
    assert torch.equal(pair.index[pair.index], torch.arange(9))
    assert torch.equal(pair.lam, pair.lam[pair.index])
    assert (pair.index == torch.arange(9)).sum() == 1  # odd one out mixes with itself


@given(batch_size=st.integers(0, 33), seed=st.integers(0, 2**31))
@settings(max_examples=40, deadline=None)
def test_pair_index_is_an_involution_for_any_batch_size(batch_size, seed):
    params = sample_mixup(batch_size, alpha=1.0, mode="pair", generator=torch.Generator().manual_seed(seed))
    assert torch.equal(params.index[params.index], torch.arange(batch_size))
    assert (params.index == torch.arange(batch_size)).sum() == batch_size % 2


@pytest.mark.parametrize("batch_size", [0, 1])
def test_batch_of_one_or_zero_is_identity(batch_size):
    params = sample_mixup(batch_size, alpha=1.0)
    assert torch.equal(params.lam, torch.ones(batch_size))
    assert not params.mixed_mask().any()


def test_alpha_zero_and_prob_zero_switch_off():
    assert torch.equal(sample_mixup(8, alpha=0.0).lam, torch.ones(8))
    assert torch.equal(sample_mixup(8, alpha=1.0, prob=0.0).lam, torch.ones(8))


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_apply_probability_is_applied_once(mode):
    g = torch.Generator().manual_seed(0)
    applied = []
    for _ in range(2000 if mode == "batch" else 100):
        params = sample_mixup(20, alpha=1.0, mode=mode, prob=0.3, generator=g)
        applied.append((params.lam < 1).float())
    share = torch.cat(applied).mean().item()
    assert share == pytest.approx(0.3, abs=0.03)  # 0.09 if the probability were applied twice


@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    mode=st.sampled_from(["batch", "pair", "elem"]),
)
@settings(max_examples=60, deadline=None)
def test_cutmix_lambda_equals_kept_area(height, width, seed, mode):
    params = sample_cutmix(6, (height, width), alpha=1.0, mode=mode, generator=torch.Generator().manual_seed(seed))
    top, bottom, left, right = params.boxes.unbind(1)
    assert ((top >= 0) & (top <= bottom) & (bottom <= height)).all()
    assert ((left >= 0) & (left <= right) & (right <= width)).all()
    kept = 1 - ((bottom - top) * (right - left)).float() / (height * width)
    assert torch.allclose(params.lam, kept)


def test_cutmix_box_height_follows_height_not_width():
    # a tall, thin image: the box must be clipped by H on rows and by W on columns
    params = sample_cutmix(64, (40, 4), alpha=1.0, mode="elem", generator=torch.Generator().manual_seed(0))
    top, bottom, left, right = params.boxes.unbind(1)
    assert (bottom - top).max() > 4
    assert (right - left).max() <= 4


def test_cutmix_uncorrected_lambda_is_the_beta_draw():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    corrected = sample_cutmix(4, (7, 7), alpha=1.0, mode="elem", generator=g1)
    raw = sample_cutmix(4, (7, 7), alpha=1.0, mode="elem", correct_lam=False, generator=g2)
    assert torch.equal(corrected.boxes, raw.boxes)
    assert not torch.allclose(corrected.lam, raw.lam)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": -1.0}, r"`alpha` to be a positive finite float \(0 switches mixing off.*but got -1.0"),
        ({"alpha": 1e-320}, r"`alpha` to be a positive finite float \(0 switches mixing off.*but got 1e-320"),
        ({"alpha": True}, "Expected argument `alpha` to be a positive finite float"),
        ({"alpha": 1.0, "prob": True}, r"Expected argument `prob` to be a float in \[0, 1\], but got True"),
        ({"alpha": float("nan")}, "Expected argument `alpha`"),
        ({"alpha": 1.0, "mode": "rows"}, r"Expected argument `mode` to be one of \('batch', 'pair', 'elem'\)"),
        ({"alpha": 1.0, "prob": 1.5}, r"Expected argument `prob` to be a float in \[0, 1\], but got 1.5"),
    ],
)
def test_sample_mixup_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_mixup(4, **kwargs)


def test_sample_errors_batch_size_and_size():
    with pytest.raises(ValueError, match="Expected argument `batch_size` to be an int >= 0, but got -1"):
        sample_mixup(-1, alpha=1.0)
    with pytest.raises(ValueError, match="Expected argument `batch_size` to be an int >= 0, but got True"):
        sample_mixup(True, alpha=1.0)
    with pytest.raises(ValueError, match="Expected argument `n` to be an int >= 0, but got -3"):
        sample_beta(1.0, -3)
    with pytest.raises(ValueError, match=r"Expected argument `size` to be a pair of positive ints"):
        sample_cutmix(4, (True, 3), alpha=1.0)
    with pytest.raises(ValueError, match=r"Expected argument `size` to be a pair of positive ints \(H, W\)"):
        sample_cutmix(4, (0, 3), alpha=1.0)
    with pytest.raises(ValueError, match="Expected argument `alpha` to be positive to draw from Beta"):
        sample_beta(0.0, 3)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_small_draws_python_path_matches_the_beta_distribution(alpha):
    # batches draw a handful of λ at a time: those go through the scalar rejection sampler
    g = torch.Generator().manual_seed(1)
    lam = torch.cat([sample_beta(alpha, 4, generator=g) for _ in range(1000)])
    assert stats.kstest(lam.double().numpy(), stats.beta(alpha, alpha).cdf).pvalue > 1e-3
