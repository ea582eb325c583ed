import math

import numpy as np
import pytest
from scipy import stats

from experiments.stats import (
    corrected_resampled_ttest,
    count_verdicts,
    sign_test,
    wilcoxon_signed_rank,
    win_tie_loss,
)

# Demšar (2006), Table 2: AUC of C4.5 and C4.5+m on 14 UCI datasets; §3.1.3 gives R+ = 93, R- = 12, T = 12.
C45 = [0.763, 0.599, 0.954, 0.628, 0.882, 0.936, 0.661, 0.583, 0.775, 1.000, 0.940, 0.619, 0.972, 0.957]
C45_M = [0.768, 0.591, 0.971, 0.661, 0.888, 0.931, 0.668, 0.583, 0.838, 1.000, 0.962, 0.666, 0.981, 0.978]


def test_corrected_ttest_without_correction_is_the_paired_t_test():
    d = [0.3, -0.1, 0.4, 0.2, 0.05, 0.25]
    ours = corrected_resampled_ttest(d, test_train_ratio=0.0)
    ref = stats.ttest_1samp(d, 0.0)
    assert ours.t == pytest.approx(ref.statistic)
    assert ours.p == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (ours.low, ours.high) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_corrected_ttest_known_answer():
    # d = 1..5: mean 3, s² = 2.5; variance factor 1/5 + 1/9 → se = sqrt(0.3111 * 2.5) = 0.88192, t = 3.40168
    r = corrected_resampled_ttest([1, 2, 3, 4, 5], test_train_ratio=1 / 9)
    se = math.sqrt((1 / 5 + 1 / 9) * 2.5)
    assert r.t == pytest.approx(3 / se) == pytest.approx(3.40168, abs=1e-5)
    assert r.p == pytest.approx(2 * stats.t.sf(3 / se, 4))
    assert r.high - r.mean == pytest.approx(stats.t.ppf(0.975, 4) * se)
    assert r.df == 4 and r.n == 5


def test_corrected_ttest_is_wider_than_the_naive_one():
    d = np.random.default_rng(0).normal(0.02, 0.05, size=10)
    naive, corrected = corrected_resampled_ttest(d, 0.0), corrected_resampled_ttest(d, 1 / 9)
    assert corrected.high - corrected.low > naive.high - naive.low
    assert corrected.p > naive.p


def test_corrected_ttest_constant_differences():
    assert corrected_resampled_ttest([0.0, 0.0, 0.0], 0.1).verdict() == "indistinguishable"
    r = corrected_resampled_ttest([0.1, 0.1], 0.1)
    assert r.p == 0.0 and r.verdict() == "better" and r.verdict(higher_is_better=False) == "worse"


def test_corrected_ttest_errors():
    with pytest.raises(ValueError, match="at least 2 finite differences"):
        corrected_resampled_ttest([1.0], 0.1)
    with pytest.raises(ValueError, match="`test_train_ratio` to be a non-negative float"):
        corrected_resampled_ttest([1.0, 2.0], -0.1)
    with pytest.raises(ValueError, match="`confidence` to be in"):
        corrected_resampled_ttest([1.0, 2.0], 0.1, confidence=1.0)


def test_wilcoxon_demsar_example():
    r = wilcoxon_signed_rank(np.subtract(C45_M, C45))
    assert (r.r_plus, r.r_minus, r.statistic, r.n) == (pytest.approx(93.0), pytest.approx(12.0), pytest.approx(12), 14)
    assert r.z == pytest.approx((12 - 52.5) / math.sqrt(14 * 15 * 29 / 24))  # Demšar: z = -2.54
    assert r.z == pytest.approx(-2.54, abs=0.01)
    assert r.p < 0.05  # T = 12 < 21, the critical value for N = 14 (Demšar §3.1.3)


def test_wilcoxon_all_zero_and_errors():
    assert wilcoxon_signed_rank([0.0, 0.0]).p == 1.0
    with pytest.raises(ValueError, match="at least 1 finite difference"):
        wilcoxon_signed_rank([])


def test_sign_test_known_answers():
    assert sign_test(9, 1) == pytest.approx(2 * 11 / 1024)  # P(X <= 1 | n=10) doubled
    assert sign_test(5, 5) == 1.0
    # Demšar's C4.5+m: 10 wins, 2 ties, 2 losses → 11 vs 3 with ties split: 2·P(X >= 11 | n = 14)
    assert sign_test(10, 2, ties=2) == pytest.approx(2 * sum(math.comb(14, k) for k in range(11, 15)) / 2**14)
    assert sign_test(10, 2, ties=3) == sign_test(10, 2, ties=2)  # the odd tie is dropped
    with pytest.raises(ValueError, match="`ties` to be a non-negative int"):
        sign_test(1, 1, ties=-1)


def test_win_tie_loss_and_counts():
    wtl = win_tie_loss(np.subtract(C45_M, C45))
    assert (wtl.wins, wtl.ties, wtl.losses, wtl.n) == (10, 2, 2, 14)
    assert wtl.sign_test_p == sign_test(10, 2, 2)
    assert win_tie_loss([0.001, -0.001, 0.5], tolerance=0.01).to_dict()["ties"] == 2
    better = corrected_resampled_ttest([0.1, 0.2, 0.15], 0.0)
    worse = corrected_resampled_ttest([-0.1, -0.2, -0.15], 0.0)
    unclear = corrected_resampled_ttest([-0.1, 0.2, 0.0], 0.0)
    assert count_verdicts([better, worse, unclear]) == {"better": 1, "worse": 1, "indistinguishable": 1}
    assert count_verdicts([better], higher_is_better=False) == {"better": 0, "worse": 1, "indistinguishable": 0}
