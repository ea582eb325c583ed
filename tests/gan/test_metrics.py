import math

import pytest
import torch
from torch import Tensor

from lightning_mixup.gan import (
    HighQualityShare,
    ModeCoverage,
    ModesCaptured,
    ReverseKLToUniform,
    VerdictRule,
    coverage_from_counts,
    grid_modes,
    mode_histogram,
    ring_modes,
    run_verdict,
)


def sample_mixture(modes: Tensor, std: float, n: int, *, generator: torch.Generator) -> Tensor:
    """Draws from the uniform mixture of ``N(modes[k], std²)`` (the study's sampler, written out)."""
    component = torch.randint(len(modes), (n,), generator=generator)
    return modes[component] + std * torch.randn(n, modes.shape[1], generator=generator)


@pytest.mark.parametrize(("modes", "std"), [(ring_modes(), 0.02), (grid_modes(), 0.05)])
def test_true_distribution_captures_every_mode(modes, std):
    metric = ModeCoverage(modes, std)
    metric.update(sample_mixture(modes, std, 20_000, generator=torch.Generator().manual_seed(0)))
    out = metric.compute()
    assert out["modes_captured"] == modes.shape[0]
    # within 3 std in 2D: 1 - exp(-9/2) = 0.9889
    assert out["high_quality_share"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert out["reverse_kl"] < 0.01


def test_sampler_stuck_on_one_mode_captures_one():
    modes, std = ring_modes(), 0.02
    stuck = modes[3] + std * torch.randn(5000, 2, generator=torch.Generator().manual_seed(0))
    out = ModeCoverage(modes, std)(stuck)
    assert out["modes_captured"] == 1
    assert out["reverse_kl"] == pytest.approx(math.log(8), rel=1e-5)


def test_reverse_kl_hand_values():
    # q = (1/2, 1/2, 0, 0) against uniform over 4: log 2; uniform q: 0; no high-quality sample: log K
    two = coverage_from_counts(torch.tensor([3, 3, 0, 0]), torch.tensor(10))
    assert two["reverse_kl"].item() == pytest.approx(math.log(2))
    assert two["high_quality_share"].item() == pytest.approx(0.6)
    assert coverage_from_counts(torch.tensor([2, 2, 2, 2]), torch.tensor(8))["reverse_kl"].item() == 0.0
    assert coverage_from_counts(torch.zeros(4, dtype=torch.long), torch.tensor(8))[
        "reverse_kl"
    ].item() == pytest.approx(math.log(4))


def test_min_count_is_stricter():
    counts = torch.tensor([100, 2, 0])
    assert coverage_from_counts(counts, torch.tensor(102))["modes_captured"] == 2
    assert coverage_from_counts(counts, torch.tensor(102), min_count=5)["modes_captured"] == 1


def test_off_mode_and_non_finite_samples_are_low_quality():
    modes = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    samples = torch.tensor([[0.0, 0.0], [0.5, 0.0], [float("nan"), 0.0], [float("inf"), 1.0], [1.0, 0.149]])
    counts, total = mode_histogram(samples, modes, std=0.05)
    assert counts.tolist() == [1, 1] and total.item() == 5
    # exactly on the 3-std boundary counts as high quality
    assert mode_histogram(torch.tensor([[0.15, 0.0]]), modes, std=0.05)[0].tolist() == [1, 0]


def test_batched_histogram_matches_per_run():
    modes, g = grid_modes(), torch.Generator().manual_seed(1)
    samples = torch.randn(3, 500, 2, generator=g) * 3
    counts, total = mode_histogram(samples, modes, 0.05 * 10)
    for i in range(3):
        c, t = mode_histogram(samples[i], modes, 0.05 * 10)
        assert torch.equal(counts[i], c) and t == total[i]


def test_metric_accumulates_over_updates():
    modes, std = ring_modes(), 0.02
    x = sample_mixture(modes, std, 3000, generator=torch.Generator().manual_seed(2))
    once, split = ModeCoverage(modes, std), ModeCoverage(modes, std)
    once.update(x)
    for part in x.split(700):
        split.update(part)
    for key, value in once.compute().items():
        assert torch.equal(value, split.compute()[key])


def test_scalar_metrics_agree_with_the_dict():
    modes, std = ring_modes(), 0.02
    x = torch.cat([modes[:3].repeat(10, 1), torch.full((5, 2), 9.0)])
    out = ModeCoverage(modes, std)(x)
    assert ModesCaptured(modes, std)(x) == out["modes_captured"] == 3
    assert HighQualityShare(modes, std)(x) == out["high_quality_share"]
    assert ReverseKLToUniform(modes, std)(x) == pytest.approx(math.log(8 / 3))


def test_verdicts():
    assert run_verdict([8, 8, 8], [0.9] * 3, [0.05] * 3, num_modes=8) == "converged"
    # a lucky last snapshot of an oscillating run is not convergence
    assert run_verdict([8, 2, 8], [0.9] * 3, [0.05, 1.5, 0.05], num_modes=8) == "mode-collapsed"
    assert run_verdict([8, 8, 8], [0.9] * 3, [0.05, 0.05, 0.3], num_modes=8) == "mode-collapsed"
    assert run_verdict([8, 8, 8], [0.03, 0.02, 0.01], [0.05] * 3, num_modes=8) == "diverged"
    # every mode covered evenly, but most samples between the modes: not yet converged
    assert run_verdict([8, 8, 8], [0.3, 0.2, 0.1], [0.05] * 3, num_modes=8) == "unconverged"
    assert run_verdict([8, 8, 8], [0.3, 0.9, 0.9], [0.05] * 3, num_modes=8) == "unconverged"
    assert run_verdict([8, 8, 8], [0.9] * 3, [0.05] * 3, num_modes=8, finite=False) == "diverged"
    assert run_verdict([8, 8, float("nan")], [0.9] * 3, [0.05] * 3, num_modes=8) == "diverged"
    # only the window counts: an early collapse that recovered converges
    assert run_verdict([1, 8, 8, 8], [0.9] * 4, [2.0, 0.0, 0.0, 0.0], num_modes=8) == "converged"
    loose = VerdictRule(window=1, min_modes_share=0.75, max_reverse_kl=0.5)
    assert run_verdict([6], [0.9], [0.3], num_modes=8, rule=loose) == "converged"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: ModeCoverage([[0.0, 0.0]], std=0.0), ValueError, "`std` to be a finite float >= 1e-12"),
        (lambda: ModeCoverage([[0.0, 0.0]], std=0.1, threshold=-1), ValueError, "`threshold` to be a finite float"),
        (lambda: ModeCoverage([[0.0, 0.0]], std=0.1, min_count=0), ValueError, "`min_count` to be an int >= 1"),
        (lambda: ModeCoverage([0.0, 0.0], std=0.1), ValueError, r"`modes` of shape \(K, D\)"),
        (
            lambda: ModeCoverage([[0.0, 0.0]], std=0.1).update(torch.zeros(3)),
            ValueError,
            r"`samples` of shape \(S, 2\)",
        ),
        (
            lambda: mode_histogram(torch.zeros(4, 3), torch.zeros(2, 2), 0.1),
            ValueError,
            r"`samples` of shape \(\.\.\., S, 2\)",
        ),
        (lambda: coverage_from_counts(torch.ones(2), torch.tensor(2), min_count=0), ValueError, "`min_count`"),
        (lambda: run_verdict([1], [1.0, 1.0], [0.0], num_modes=1), ValueError, "trajectories of equal length"),
        (lambda: VerdictRule(window=0), ValueError, "`window` to be an int >= 1"),
        (lambda: VerdictRule(min_high_quality=2.0), ValueError, r"`min_high_quality` to be a float in \[0, 1\]"),
        (lambda: VerdictRule(diverged_high_quality=-0.1), ValueError, "`diverged_high_quality` to be a float in"),
        (lambda: VerdictRule(max_reverse_kl=-1.0), ValueError, "`max_reverse_kl` to be a non-negative finite float"),
    ],
)
def test_invalid_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
