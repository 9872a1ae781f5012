"""analysis.stats against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis import stats


def test_iqm_of_known_arrays() -> None:
    # n = 8: floor(0.25 * 8) = 2 cut from each end -> mean(3, 4, 5, 6).
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)
    # n = 5: 1 cut from each end -> mean(2, 3, 4); the outlier 100 is gone.
    assert stats.iqm([100, 1, 3, 2, 4]) == pytest.approx(3.0)


def test_mean_std_uses_sample_std() -> None:
    mean, std = stats.mean_std([1, 2, 3, 4])
    assert mean == 2.5
    assert std == pytest.approx(math.sqrt(5 / 3))
    mean, std = stats.mean_std([7.0])
    assert mean == 7.0 and math.isnan(std)


def test_probability_of_improvement_counts_ties_as_half() -> None:
    # Pairs: 3>1, 3==3 (0.5), 4>1, 4>3 -> 3.5 / 4.
    assert stats.probability_of_improvement([3, 4], [1, 3]) == pytest.approx(0.875)
    assert stats.probability_of_improvement([1], [2]) == 0.0
    assert stats.probability_of_improvement([2, 2], [2, 2]) == 0.5


def test_stratified_bootstrap_resamples_within_tasks() -> None:
    # Every within-task resample of {0, 0} and {10, 10} has pooled mean 5; a bootstrap
    # that pooled first would scatter between 0 and 10.
    point, lo, hi = stats.stratified_bootstrap_ci([[0, 0], [10, 10]], lambda a: a.mean(1))
    assert (point, lo, hi) == (5.0, 5.0, 5.0)
    # One seed per task: a degenerate interval at the point.
    assert stats.stratified_bootstrap_ci([[1.0], [3.0]], lambda a: a.mean(1)) == (2.0, 2.0, 2.0)


def test_intervals_are_reproducible_and_contain_the_point() -> None:
    x = [1.0, 4.3, 2.2, 8.9, 5.1, 0.7, 3.6, 6.4, 9.8, 7.5]
    a, b = stats.iqm_ci(x), stats.iqm_ci(x)
    assert a == b
    assert a[1] <= a[0] <= a[2] and a[1] < a[2]
    assert stats.iqm_ci(x, n_boot=200, seed=1) != stats.iqm_ci(x, n_boot=200, seed=2)
    p1 = stats.poi_ci([([3, 4, 5], [1, 3, 4])])
    assert p1 == stats.poi_ci([([3, 4, 5], [1, 3, 4])])
    assert 0.0 <= p1[1] <= p1[0] <= p1[2] <= 1.0
    assert p1[0] == pytest.approx(stats.probability_of_improvement([3, 4, 5], [1, 3, 4]))


def test_poi_ci_averages_over_tasks() -> None:
    point, lo, hi = stats.poi_ci([([2, 2], [1, 1]), ([1, 1], [2, 2])])
    assert (point, lo, hi) == (0.5, 0.5, 0.5)


def test_welch_t_against_hand_values() -> None:
    # Means 2 and 5, variances 1: se = sqrt(2/3), t = -3 / se, Welch df = 4.
    t, p = stats.welch_t([1, 2, 3], [4, 5, 6])
    assert t == pytest.approx(-3 / math.sqrt(2 / 3))
    assert p == pytest.approx(2 * sps.t.sf(3 / math.sqrt(2 / 3), 4))
    assert all(math.isnan(v) for v in stats.welch_t([1.0], [2.0, 3.0]))


def test_mann_whitney_against_hand_values() -> None:
    # Every x below every y: U_x = 0; exact two-sided p = 2 / C(6, 3) = 0.1.
    u, p = stats.mann_whitney([1, 2, 3], [4, 5, 6])
    assert u == 0.0
    assert p == pytest.approx(0.1)


def test_bin_curve_and_fill_gaps() -> None:
    edges = np.array([0.0, 10.0, 20.0, 30.0])
    out = stats.bin_curve([1, 2, 25, 30], [1.0, 3.0, 5.0, 7.0], edges)
    np.testing.assert_allclose(out, [2.0, np.nan, 6.0])
    filled = stats.fill_gaps(np.array([np.nan, 1.0, np.nan, 3.0, np.nan]))
    np.testing.assert_allclose(filled, [np.nan, 1.0, 2.0, 3.0, np.nan])


def test_curve_variability_of_the_last_fifth() -> None:
    steps = np.arange(1, 101)
    # 10 bins of 10 steps; the last 20 % are [80, 90) and [90, 100] with means 84.5 and 95.
    v = stats.curve_variability(steps, steps.astype(float), n_bins=10)
    assert v == pytest.approx(np.std([84.5, 95.0], ddof=1))
    flat = stats.curve_variability(steps, np.ones(100), n_bins=10)
    assert flat == 0.0
    assert math.isnan(stats.curve_variability([], []))


def test_curve_band_needs_two_runs() -> None:
    mid, lo, hi = stats.curve_iqm_band(np.array([[1.0, 2.0, np.nan]]))
    np.testing.assert_allclose(mid, [1.0, 2.0, np.nan])
    assert np.isnan(lo).all() and np.isnan(hi).all()
    curves = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    a, b = stats.curve_iqm_band(curves), stats.curve_iqm_band(curves)
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    np.testing.assert_allclose(a[0], [2.0, 3.0])
    assert (a[1] <= a[0]).all() and (a[0] <= a[2]).all()


def test_difference_ci_known_values() -> None:
    # Constant sides: a degenerate interval at the difference of the means.
    assert stats.difference_ci([3.0, 3.0, 3.0], [1.0, 1.0]) == pytest.approx((2.0, 2.0, 2.0))
    # x's resampled mean is 0, 5 or 10 with probability 1/4, 1/2, 1/4 and y is constant, so
    # the 95% interval runs from 0 - 1 to 10 - 1.
    diff, lo, hi = stats.difference_ci([0.0, 10.0], [1.0, 1.0, 1.0])
    assert (diff, lo, hi) == pytest.approx((4.0, -1.0, 9.0))
    assert stats.difference_ci([1.0, 2.0], [0.5, 3.0]) == stats.difference_ci(
        [1.0, 2.0], [0.5, 3.0])  # reproducible
    diff, lo, hi = stats.difference_ci([1.0, 2.0, 4.0], [0.0, 1.0])
    assert diff == pytest.approx(11 / 6) and lo < diff < hi
    assert all(math.isnan(v) for v in stats.difference_ci([], [1.0]))


def test_ratio_known_values() -> None:
    ratio, lo, hi = stats.ratio_ci([0.8, 0.8, 0.8], [1.0, 1.0])
    assert (ratio, lo, hi) == pytest.approx((0.8, 0.8, 0.8))
    # IQM numerator: the outlier 100 is trimmed (IQM of [100, 1, 3, 2, 4] is 3).
    ratio, lo, hi = stats.ratio_ci([100, 1, 3, 2, 4], [2.0, 2.0], numerator=stats.iqm_rows)
    assert ratio == pytest.approx(1.5) and lo <= ratio <= hi


def test_hierarchical_bootstrap_without_within_run_variance_is_the_run_bootstrap() -> None:
    # Constant runs (dyadic values, so every mean is exact): resampling episodes changes
    # nothing, and the run draws are the plain bootstrap's, to the bit.
    levels = [1.5, 2.25, 4.0, -0.5, 3.0]
    runs = [np.full(n, v) for n, v in zip((2, 3, 1, 4, 2), levels, strict=True)]
    got = stats.hierarchical_bootstrap_ci(runs, n_boot=500, seed=3)
    assert got == stats.mean_ci(levels, n_boot=500, seed=3)
    assert got[0] == pytest.approx(np.mean(levels))
    assert stats.hierarchical_bootstrap_ci(runs) == stats.hierarchical_bootstrap_ci(runs)
    assert all(math.isnan(v) for v in stats.hierarchical_bootstrap_ci([[], []]))


def test_hierarchical_bootstrap_adds_the_episode_level() -> None:
    # Equal run means, noisy episodes: the run level alone gives a zero-width interval;
    # the episode level widens it. The point is the mean of the run means, not of the
    # pooled episodes.
    runs = [[0.0, 2.0], [1.0, 1.0, 1.0, 1.0], [-1.0, 3.0]]
    point, lo, hi = stats.hierarchical_bootstrap_ci(runs)
    assert point == 1.0 and lo < 1.0 < hi
    point, _, _ = stats.hierarchical_bootstrap_ci([[0.0], [2.0, 2.0, 2.0]])
    assert point == 1.0


def test_paired_run_difference_counts_runs() -> None:
    ref = np.array([1.0, 2.0, 3.0])
    runs = [ref + 1.0, ref + 2.0, ref + 4.0 + np.array([0.5, -0.5, 0.0])]
    diff, lo, hi, p, sd = stats.paired_run_difference(runs, ref)
    m = np.array([1.0, 2.0, 4.0])  # per-run mean differences
    assert diff == pytest.approx(m.mean()) and lo <= diff <= hi
    assert p == pytest.approx(sps.ttest_1samp(m, 0.0).pvalue)
    assert sd == pytest.approx(m.std(ddof=1))
    # One run: no test.
    assert math.isnan(stats.paired_run_difference(runs[:1], ref)[3])
    assert stats.paired_run_difference([ref, ref], ref)[3] == 1.0
    with pytest.raises(ValueError, match="shape"):
        stats.paired_run_difference([ref[:2]], ref)


def test_paired_seed_difference_against_scipy() -> None:
    x = np.array([3.0, 5.0, 4.0, 6.0, 7.5])
    y = np.array([1.0, 2.0, 2.5, 3.0, 3.0])
    diff, lo, hi, t_p, w_p, sd = stats.paired_seed_difference(x, y)
    assert diff == pytest.approx(np.mean(x - y)) and lo <= diff <= hi
    assert t_p == pytest.approx(sps.ttest_rel(x, y).pvalue)
    # Every difference positive, n = 5: the exact two-sided Wilcoxon p is 2 / 2^5.
    assert w_p == pytest.approx(2 / 32)
    assert sd == pytest.approx(np.std(x - y, ddof=1))
    assert stats.paired_seed_difference(x, x)[3:5] == (1.0, 1.0)
    assert all(math.isnan(v) for v in stats.paired_seed_difference([1.0], [0.0])[3:])
    with pytest.raises(ValueError, match="shape"):
        stats.paired_seed_difference(x, y[:3])


def test_mdd_against_the_closed_form() -> None:
    q = sps.t.ppf(0.975, 9) + sps.t.ppf(0.8, 9)
    assert stats.mdd(1.0, 10) == pytest.approx(q / math.sqrt(10))
    assert stats.mdd(2.0, 10) == pytest.approx(2 * q / math.sqrt(10))
    # Welch: SE and Welch-Satterthwaite df of sd 1 (n 10) and sd 2 (n 5).
    vx, vy = 1 / 10, 4 / 5
    df = (vx + vy) ** 2 / (vx**2 / 9 + vy**2 / 4)
    expected = (sps.t.ppf(0.975, df) + sps.t.ppf(0.8, df)) * math.sqrt(vx + vy)
    assert stats.mdd(1.0, 10, two_sample_sd_other=2.0, n_other=5) == pytest.approx(expected)
    assert math.isnan(stats.mdd(1.0, 1)) and math.isnan(stats.mdd(math.nan, 10))
    assert math.isnan(stats.mdd(1.0, 10, two_sample_sd_other=1.0, n_other=1))


def test_n_needed_is_the_first_n_whose_mdd_reaches_the_effect() -> None:
    n = stats.n_needed(0.5, 1.0)
    assert n == 34.0  # t approximation (the normal one gives 32)
    assert stats.mdd(1.0, n) <= 0.5 < stats.mdd(1.0, n - 1)
    m = stats.n_needed(-0.5, 1.0, paired=False)
    assert stats.mdd(1.0, m, two_sample_sd_other=1.0, n_other=m) <= 0.5
    assert stats.mdd(1.0, m - 1, two_sample_sd_other=1.0, n_other=m - 1) > 0.5
    assert stats.n_needed(10.0, 1.0) == 2.0
    assert stats.n_needed(0.0, 1.0) == math.inf
    assert stats.n_needed(1e-6, 1.0) == math.inf
    assert math.isnan(stats.n_needed(1.0, math.nan))


def test_holm_known_values() -> None:
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    # NaN stays NaN and does not count in m; the cap at 1.
    np.testing.assert_allclose(stats.holm([math.nan, 0.02, 0.6]), [math.nan, 0.04, 0.6])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])
    assert np.isnan(stats.holm([math.nan])).all()


def test_seed_slope_test_is_a_t_test_over_per_seed_slopes() -> None:
    # Seed 0: slope 1; seed 1: slope 3; seed 2: slope 2 (its three points on a line).
    x, y, c = [0, 1, 0, 1, 0, 1, 2], [0, 1, 5, 8, 1, 3, 5], [0, 0, 1, 1, 2, 2, 2]
    slope, lo, hi, p, sd, k = stats.seed_slope_test(x, y, c)
    assert (slope, sd, k) == pytest.approx((2.0, 1.0, 3))
    half = sps.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert (lo, hi) == pytest.approx((2.0 - half, 2.0 + half))
    assert p == pytest.approx(sps.ttest_1samp([1.0, 3.0, 2.0], 0.0).pvalue)
    # With two lag levels per seed it is the paired t-test of the differences.
    d = np.array([4.0, -1.0, 2.5, 0.5])
    xs = [0, 1.5] * 4
    ys = np.ravel([[10.0, 10.0 + di] for di in d])
    _, _, _, p, _, _ = stats.seed_slope_test(xs, ys, np.repeat(np.arange(4), 2))
    assert p == pytest.approx(sps.ttest_rel(d + 10.0, np.full(4, 10.0)).pvalue)
    # A seed whose runs share one lag has no slope; below 2 slopes: NaN.
    assert stats.seed_slope_test([0, 0, 0, 1], [1, 2, 3, 4], [0, 0, 1, 1])[5] == 1
    assert math.isnan(stats.seed_slope_test([0, 0, 0, 1], [1, 2, 3, 4], [0, 0, 1, 1])[0])
    assert stats.seed_slope_test([0, 1, 0, 1], [0, 0, 5, 5], [0, 0, 1, 1])[3] == 1.0


def test_verdict_rules() -> None:
    assert stats.verdict(+1, 2.0, 0.01, 5) == "holds"
    assert stats.verdict(+1, -2.0, 0.01, 5) == "refuted"
    assert stats.verdict(-1, -2.0, 0.01, 5) == "holds"
    assert stats.verdict(+1, 2.0, 0.2, 5) == "not resolved at N=5"
    assert stats.verdict(+1, math.nan, math.nan, 2) == "not resolved at N=2"


def test_within_group_spearman_compares_runs_of_one_group_only() -> None:
    # Pooled, x and y rise together (group 1 sits higher in both); within each group y
    # falls as x rises: the centred ranks are exactly reversed.
    x = [1.0, 2.0, 3.0, 11.0, 12.0, 13.0]
    y = [3.0, 2.0, 1.0, 13.0, 12.0, 11.0]
    groups, clusters = [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]
    assert sps.spearmanr(x, y).statistic > 0.5
    rho, lo, hi, p = stats.within_group_spearman(x, y, groups, clusters)
    assert rho == pytest.approx(-1.0)
    assert lo <= rho <= hi
    # 36 within-group shuffles, 2 of which reach |rho| = 1 (identity and full reversal).
    assert 0.02 < p < 0.15
    assert stats.within_group_spearman(x, y, groups, clusters) == (rho, lo, hi, p)


def test_within_group_spearman_degenerate_inputs() -> None:
    nan4 = stats.within_group_spearman([1.0, 2.0], [2.0, 1.0], [0, 0], [0, 1])
    assert all(math.isnan(v) for v in nan4)
    flat = stats.within_group_spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [0, 0, 0], [0, 1, 2])
    assert all(math.isnan(v) for v in flat)
    # A non-finite row is dropped, not propagated.
    rho = stats.within_group_spearman([1.0, 2.0, 3.0, math.nan], [1.0, 2.0, 3.0, 0.0],
                                      [0, 0, 0, 0], [0, 1, 2, 3])[0]
    assert rho == pytest.approx(1.0)
