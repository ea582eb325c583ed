import math
import time

import pytest
import torch
import torch.nn.functional as F

from lightning_mixup.functional.labels import MixedLabels
from lightning_mixup.functional.sampling import sample_beta
from lightning_mixup.functional.warping import (
    beta_cdf,
    beta_quantile,
    kernel_tau,
    pair_distance,
    sample_kernel_warping,
    warp_lam,
)

scipy_special = pytest.importorskip("scipy.special")


# closed forms of the symmetric Beta CDF: arcsine law (a = ½), uniform (1), and the polynomials of a = 2 and 3
CLOSED_FORMS = {
    0.5: lambda x: 2 / math.pi * torch.asin(torch.sqrt(x)),
    1.0: lambda x: x,
    2.0: lambda x: 3 * x**2 - 2 * x**3,
    3.0: lambda x: 10 * x**3 - 15 * x**4 + 6 * x**5,
}


@pytest.mark.parametrize("a", sorted(CLOSED_FORMS))
def test_beta_cdf_and_quantile_against_closed_forms(a):
    x = torch.linspace(0, 1, 257, dtype=torch.float64)
    assert float((beta_cdf(x, a) - CLOSED_FORMS[a](x)).abs().max()) < 1e-12
    p = torch.rand(500, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    q = beta_quantile(p, a)
    assert float((CLOSED_FORMS[a](q) - p).abs().max()) < 1e-12
    if a == 0.5:  # the arcsine law's quantile is sin²(πp/2)
        assert float((q - torch.sin(math.pi * p / 2) ** 2).abs().max()) < 1e-12


@pytest.mark.parametrize("a", [1e-3, 0.05, 17.0, 400.0, 3e3, 9e5, 1.1e6, 1e8, 1e12, 1e16])
def test_beta_quantile_inverts_the_cdf(a):
    spread = min(0.5, 8 / math.sqrt(8 * a))  # for large a, look where the CDF moves
    x = torch.linspace(0.5 - spread, 0.5 + spread, 201, dtype=torch.float64)[1:-1]
    p = beta_cdf(x, a)
    inner = (p > 1e-9) & (p < 1 - 1e-9)  # where x is resolved from p in float64
    assert float(((beta_quantile(p[inner], a) - x[inner]) / spread).abs().max()) < 1e-6


def test_the_scipy_and_the_normal_limit_regimes_meet():
    # below 1e6 scipy, above it the Student-t / normal form: continuous across the switch
    x = 0.5 + torch.linspace(-3, 3, 61, dtype=torch.float64) / (2 * math.sqrt(2e6 + 1))
    below, above = beta_cdf(x, 1e6 * (1 - 1e-12)), beta_cdf(x, 1e6 * (1 + 1e-12))
    assert float((below - above).abs().max()) < 1e-11  # 2e-14 with scipy 1.17, 1.8e-12 with 1.13


def test_warped_lambda_with_uniform_lambda_is_a_beta_draw():
    # the paper's construction: λ ~ U(0, 1) = Beta(1, 1), λ' = BetaQuantile(λ; τ, τ) is a draw of Beta(τ, τ)
    stats = pytest.importorskip("scipy.stats")
    lam = sample_beta(1.0, 4000, generator=torch.Generator().manual_seed(0))
    warped = warp_lam(lam, torch.ones(4000), tau_max=3.0)  # equal distances: d̄ = 1, τ = τ_max
    assert stats.kstest(warped.double().numpy(), stats.beta(3.0, 3.0).cdf).pvalue > 0.01
    assert stats.kstest(warped.double().numpy(), stats.beta(1.5, 1.5).cdf).pvalue < 1e-6


def test_beta_cdf_for_a_huge_concentration_is_the_normal_limit():
    # scipy loses digits at huge a (0.1 at 1e16); above 1e6 the normal form takes over; Beta(a, a) is then normal
    # with standard deviation 1 / (2 sqrt(2a + 1))
    a = 1e14
    x = torch.linspace(0.5 - 1e-7, 0.5 + 1e-7, 201, dtype=torch.float64)
    z = (x - 0.5) * 2 * math.sqrt(2 * a + 1)
    assert torch.allclose(beta_cdf(x, a), 0.5 * torch.special.erfc(-z / math.sqrt(2)), atol=1e-6)


def test_beta_cdf_fixed_points_and_per_element_concentration():
    a = torch.tensor([0.01, 1.0, 50.0, 1e6, 1e300])
    assert beta_cdf(torch.zeros(5), a).tolist() == [0.0] * 5
    assert beta_cdf(torch.ones(5), a).tolist() == [1.0] * 5
    assert beta_cdf(torch.full((5,), 0.5), a).tolist() == [0.5] * 5
    x = torch.tensor([0.1, 0.3, 0.45, 0.4999, 0.7], dtype=torch.float64)
    expected = scipy_special.betainc(a[:4].double().numpy(), a[:4].double().numpy(), x[:4].numpy())
    assert beta_cdf(x[:4], a[:4].double()).tolist() == pytest.approx(expected.tolist(), abs=1e-9)
    assert beta_cdf(x[4:], a[4:]).tolist() == [1.0]  # a step at 0.5
    # a kernel that underflows (τ = 0) or overflows (τ = inf) is clamped: quantiles at the ends or at 0.5
    p = torch.tensor([0.0, 0.2, 0.5, 0.8, 1.0], dtype=torch.float64)
    assert beta_quantile(p, 0.0).float().tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert beta_quantile(p, math.inf).tolist() == [0.0, 0.5, 0.5, 0.5, 1.0]
    assert beta_cdf(p, math.inf).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_kernel_and_warp_against_the_formula_by_hand():
    lam = torch.tensor([0.2, 0.35, 0.5, 0.9])
    distance = torch.tensor([0.5, 1.0, 4.0, 2.5])
    tau_max, tau_std = 1.3, 0.4
    mean = sum(distance.tolist()) / 4
    taus = [tau_max * math.exp(-(d / mean - 1) / (2 * tau_std**2)) for d in distance.tolist()]
    assert kernel_tau(distance, tau_max=tau_max, tau_std=tau_std).tolist() == pytest.approx(taus, rel=1e-12)
    expected = [float(scipy_special.betainc(1 / t, 1 / t, v)) for t, v in zip(taus, lam.tolist(), strict=True)]
    warped = warp_lam(lam, distance, tau_max=tau_max, tau_std=tau_std, warping="beta_cdf")
    assert warped.dtype == torch.float32
    assert warped.tolist() == pytest.approx(expected, abs=1e-7)
    # the authors' configs: the quantile of Beta(tau, tau)
    expected = [float(scipy_special.betaincinv(t, t, v)) for t, v in zip(taus, lam.tolist(), strict=True)]
    warped = warp_lam(lam, distance, tau_max=tau_max, tau_std=tau_std, warping="inverse_beta_cdf")
    assert warped.tolist() == pytest.approx(expected, abs=1e-7)


def test_all_pairs_identical_gives_the_kernel_at_zero_distance():
    tau = kernel_tau(torch.zeros(3), tau_max=1.0, tau_std=0.5)
    assert tau.tolist() == pytest.approx([math.exp(2.0)] * 3)


@pytest.mark.parametrize("warping", ["beta_cdf", "inverse_beta_cdf"])
def test_sampling_replays_the_draws_and_warps_them(warping):
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [3.0, 1.0], [3.0, 1.2], [-2.0, 0.5]])
    params = sample_kernel_warping(
        x, alpha=1.0, tau_max=1.0, tau_std=0.25, warping=warping, generator=torch.Generator().manual_seed(2)
    )
    replay = torch.Generator().manual_seed(2)
    index = torch.randperm(5, generator=replay)
    lam = sample_beta(1.0, 5, generator=replay)
    distance = [float(((x[i] - x[j]) ** 2).sum()) for i, j in enumerate(index.tolist())]
    mean = sum(distance) / 5
    taus = [math.exp(-(d / mean - 1) / (2 * 0.25**2)) for d in distance]
    if warping == "beta_cdf":
        expected = [float(scipy_special.betainc(1 / t, 1 / t, v)) for t, v in zip(taus, lam.tolist(), strict=True)]
    else:
        expected = [float(scipy_special.betaincinv(t, t, v)) for t, v in zip(taus, lam.tolist(), strict=True)]
    assert torch.equal(params.index, index)
    assert params.lam.tolist() == pytest.approx(expected, abs=1e-7)
    again = sample_kernel_warping(
        x, alpha=1.0, tau_max=1.0, tau_std=0.25, warping=warping, generator=torch.Generator().manual_seed(2)
    )
    assert torch.equal(again.lam, params.lam)


def test_drop_in_loss_is_mixup_with_the_warped_lambda():
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    params = sample_kernel_warping(x, generator=torch.Generator().manual_seed(1))
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(2))
    labels = MixedLabels(y, y[params.index], params.lam)
    logp = F.log_softmax(logits, dim=1)
    by_hand = (
        sum(
            -(
                float(params.lam[i]) * float(logp[i, y[i]])
                + (1 - float(params.lam[i])) * float(logp[i, y[params.index[i]]])
            )
            for i in range(6)
        )
        / 6
    )
    assert F.cross_entropy(logits, labels).item() == pytest.approx(by_hand, rel=1e-6)


def test_distance_on_any_shape():
    f = torch.arange(24, dtype=torch.float32).reshape(3, 2, 4)
    index = torch.tensor([1, 2, 0])
    assert pair_distance(f, index).tolist() == [8 * 64.0, 8 * 64.0, 8 * 256.0]


def test_batch_of_1024_time():
    x = torch.randn(1024, 16, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    params = sample_kernel_warping(x, generator=torch.Generator().manual_seed(0))
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    cdf = sample_kernel_warping(x, tau_std=0.5, warping="beta_cdf", generator=torch.Generator().manual_seed(0))
    cdf_elapsed = time.perf_counter() - start
    print(
        f"sample_kernel_warping, B = 1024: inverse_beta_cdf {elapsed * 1e3:.1f} ms, beta_cdf {cdf_elapsed * 1e3:.1f} ms"
    )
    for p in (params, cdf):
        assert p.batch_size == 1024 and bool(((p.lam >= 0) & (p.lam <= 1)).all())


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="Expected argument `tau_std`"):
        warp_lam(torch.tensor([0.5]), torch.tensor([1.0]), tau_std=0.0)
    with pytest.raises(ValueError, match="Expected argument `tau_max`"):
        sample_kernel_warping(torch.zeros(2, 1), tau_max=-1.0)
    with pytest.raises(ValueError, match=r"Expected `lam` in \[0, 1\]"):
        warp_lam(torch.tensor([1.5]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="finite non-negative `distance`"):
        warp_lam(torch.tensor([0.5]), torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="same shape"):
        warp_lam(torch.tensor([0.5, 0.2]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="finite `features`"):
        sample_kernel_warping(torch.tensor([[0.0], [float("inf")]]))
    with pytest.raises(ValueError, match="Expected argument `mode` to be one of"):
        sample_kernel_warping(torch.zeros(2, 1), mode="pair")
    with pytest.raises(ValueError, match="Expected argument `warping` to be one of"):
        warp_lam(torch.tensor([0.5]), torch.tensor([1.0]), warping="cdf")
    with pytest.raises(TypeError, match="floating-point tensor"):
        sample_kernel_warping(torch.zeros(2, 1, dtype=torch.long))
