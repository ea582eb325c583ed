r"""Statistics for comparing two classifiers over cross-validation folds and over many datasets.

- Per dataset: the corrected resampled t-test of Nadeau & Bengio (2003), paired over the ``J`` folds. The folds'
  training sets overlap, so the fold differences are correlated and the plain paired t-test is too liberal; the
  correction replaces the variance factor ``1/J`` by ``1/J + n_test/n_train``.
- Across datasets (Demšar 2006, §3.1-3.2): win/tie/loss counts, the two-sided sign test (ties split evenly between
  the two sides, an odd one dropped) and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, zero differences
  split between the two rank sums: ``zero_method="zsplit"``).

References:
    - Nadeau & Bengio, "Inference for the Generalization Error", Machine Learning 52, 2003,
      https://doi.org/10.1023/A:1024068626366
    - Bouckaert & Frank, "Evaluating the Replicability of Significance Tests for Comparing Learning Algorithms",
      PAKDD 2004 (the corrected repeated k-fold form)
    - Demšar, "Statistical Comparisons of Classifiers over Multiple Data Sets", JMLR 7, 2006,
      https://jmlr.org/papers/v7/demsar06a.html
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

BETTER, WORSE, TIE = "better", "worse", "indistinguishable"


@dataclass(frozen=True)
class PairedTest:
    """The outcome of a paired test on the differences ``a - b`` over folds.

    Attributes:
        mean: the mean difference.
        low: lower bound of the ``confidence`` interval.
        high: upper bound.
        t: the t statistic (``±inf`` when every difference is the same non-zero value, ``0`` when all are zero).
        p: the two-sided p-value.
        df: degrees of freedom, ``J - 1``.
        n: the number of differences ``J``.
        confidence: the interval's confidence level.
    """

    mean: float
    low: float
    high: float
    t: float
    p: float
    df: int
    n: int
    confidence: float

    def verdict(self, alpha: float = 0.05, higher_is_better: bool = True) -> str:
        """``"better"``/``"worse"`` when ``p < alpha`` (for ``a`` against ``b``), else ``"indistinguishable"``.

        Example:
            >>> corrected_resampled_ttest([0.1, 0.2, 0.15, 0.12], test_train_ratio=0.0).verdict()
            'better'
        """
        if not self.p < alpha:
            return TIE
        positive = self.mean > 0
        return BETTER if positive == higher_is_better else WORSE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (non-finite floats become ``None``)."""
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in asdict(self).items()}


def corrected_resampled_ttest(
    differences: Sequence[float], test_train_ratio: float, confidence: float = 0.95
) -> PairedTest:
    r"""Nadeau-Bengio corrected resampled t-test on per-fold differences.

    With ``J`` differences of mean :math:`\bar d` and sample variance :math:`s^2`,
    :math:`t = \bar d / \sqrt{(1/J + n_2/n_1)\, s^2}` with ``J - 1`` degrees of freedom, where
    ``test_train_ratio`` is :math:`n_2/n_1` (for 10-fold cross-validation, about 1/9). ``test_train_ratio=0`` is the
    ordinary paired t-test.

    Args:
        differences: one difference per fold (at least 2).
        test_train_ratio: test-set size over training-set size of one fold, :math:`\ge 0`.
        confidence: the confidence level of the interval.

    Raises:
        ValueError: with fewer than 2 differences, a negative ratio or a confidence outside (0, 1).

    Example:
        >>> r = corrected_resampled_ttest([1.0, 2.0, 3.0, 4.0, 5.0], test_train_ratio=1 / 9)
        >>> round(r.t, 4), r.df, round(r.p, 4)
        (3.4017, 4, 0.0272)
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 2 or not np.isfinite(d).all():
        raise ValueError(f"Expected at least 2 finite differences, but got {list(differences)!r}.")
    if not math.isfinite(test_train_ratio) or test_train_ratio < 0:
        raise ValueError(
            f"Expected argument `test_train_ratio` to be a non-negative float, but got {test_train_ratio!r}."
        )
    if not 0 < confidence < 1:
        raise ValueError(f"Expected argument `confidence` to be in (0, 1), but got {confidence!r}.")
    n = int(d.size)
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    se = math.sqrt((1.0 / n + test_train_ratio) * var)
    df = n - 1
    quantile = float(stats.t.ppf(0.5 + confidence / 2, df))
    if se == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
        return PairedTest(mean, mean, mean, t, p, df, n, confidence)
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), df))
    return PairedTest(mean, mean - quantile * se, mean + quantile * se, t, p, df, n, confidence)


@dataclass(frozen=True)
class WinTieLoss:
    """Counts over datasets, and the two-sided sign test on them (ties split evenly, Demšar 2006 §3.1.3)."""

    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        """The number of datasets."""
        return self.wins + self.ties + self.losses

    @property
    def sign_test_p(self) -> float:
        """Two-sided exact binomial p-value of ``wins + ties/2`` against ``losses + ties/2``.

        Example:
            >>> WinTieLoss(9, 0, 1).sign_test_p
            0.021484375
        """
        return sign_test(self.wins, self.losses, self.ties)

    def to_dict(self) -> dict[str, Any]:
        """Counts and the sign test's p-value."""
        return {"wins": self.wins, "ties": self.ties, "losses": self.losses, "sign_test_p": self.sign_test_p}


def sign_test(wins: int, losses: int, ties: int = 0) -> float:
    """Two-sided exact sign-test p-value; ``ties`` are split evenly between the sides and an odd one dropped.

    Example:
        >>> sign_test(9, 1), sign_test(0, 0)
        (0.021484375, 1.0)
    """
    for name, value in (("wins", wins), ("losses", losses), ("ties", ties)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"Expected argument `{name}` to be a non-negative int, but got {value!r}.")
    half = int(ties) // 2
    k, n = int(wins) + half, int(wins) + int(losses) + 2 * half
    if n == 0:
        return 1.0
    return float(stats.binomtest(k, n, 0.5, alternative="two-sided").pvalue)


def win_tie_loss(differences: Sequence[float], tolerance: float = 0.0) -> WinTieLoss:
    """Counts of differences above ``tolerance`` (wins), below ``-tolerance`` (losses), and in between (ties).

    Example:
        >>> win_tie_loss([0.1, 0.0, -0.2, 0.3]).to_dict()["wins"]
        2
    """
    d = np.asarray(differences, dtype=np.float64)
    return WinTieLoss(int((d > tolerance).sum()), int((np.abs(d) <= tolerance).sum()), int((d < -tolerance).sum()))


@dataclass(frozen=True)
class SignedRank:
    """The Wilcoxon signed-rank test (Demšar 2006 §3.1.3): rank sums and ``scipy.stats.wilcoxon``'s p-value.

    Attributes:
        r_plus: the sum of the ranks of positive differences, plus half the ranks of zero differences.
        r_minus: likewise for negative differences.
        statistic: ``min(r_plus, r_minus)``, Demšar's ``T``.
        z: the normal approximation ``(T - N(N+1)/4) / sqrt(N(N+1)(2N+1)/24)``, without tie correction.
        p: the two-sided p-value of ``scipy.stats.wilcoxon(..., zero_method="zsplit")``.
        n: the number of differences.
    """

    r_plus: float
    r_minus: float
    statistic: float
    z: float
    p: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


def wilcoxon_signed_rank(differences: Sequence[float]) -> SignedRank:
    """Wilcoxon signed-rank test over datasets with Demšar's treatment of zero differences.

    Example:
        >>> r = wilcoxon_signed_rank([0.5, 1.0, 1.5, -0.25])
        >>> r.r_plus, r.r_minus, r.statistic
        (9.0, 1.0, 1.0)
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 1 or not np.isfinite(d).all():
        raise ValueError(f"Expected at least 1 finite difference, but got {list(differences)!r}.")
    n = int(d.size)
    ranks = stats.rankdata(np.abs(d))
    zero = ranks[d == 0].sum()
    r_plus = float(ranks[d > 0].sum() + zero / 2)
    r_minus = float(ranks[d < 0].sum() + zero / 2)
    statistic = min(r_plus, r_minus)
    z = (statistic - n * (n + 1) / 4) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    all_zero = bool(np.all(d == 0))
    p = 1.0 if all_zero else float(stats.wilcoxon(d, zero_method="zsplit", alternative="two-sided").pvalue)
    return SignedRank(r_plus, r_minus, statistic, z, p, n)


def count_verdicts(tests: Sequence[PairedTest], alpha: float = 0.05, higher_is_better: bool = True) -> dict[str, int]:
    """How many datasets are significantly better / worse / indistinguishable.

    Example:
        >>> t = corrected_resampled_ttest([0.1, 0.2, 0.15], 0.0)
        >>> count_verdicts([t, t])
        {'better': 2, 'worse': 0, 'indistinguishable': 0}
    """
    counts = {BETTER: 0, WORSE: 0, TIE: 0}
    for test in tests:
        counts[test.verdict(alpha, higher_is_better)] += 1
    return counts
