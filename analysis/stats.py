"""Small pure statistics for the sync-vs-async comparison (numpy / scipy only).

Conventions: a *score* is one number per run (seed); a *task* is one (config, mode) group
of seeds. Confidence intervals are 95 % percentile intervals of a bootstrap that resamples
seeds with replacement *within* each task (stratified, as in Agarwal et al. 2021,
"Deep RL at the Edge of the Statistical Precipice"), drawn from
``numpy.random.default_rng(seed)`` so a rerun gives the same numbers to the last bit.

Training runs are the unit of inference: evaluation episodes of one trained agent are
repeated measurements of that agent, not independent replicates of the method, so tests
count runs (:func:`paired_run_difference`, :func:`paired_seed_difference`) and intervals
over episodes resample runs first (:func:`hierarchical_bootstrap_ci`). :func:`mdd` and
:func:`n_needed` state the power of each comparison; :func:`holm` adjusts a declared set
of primary comparisons.

Pitfall: rliable's ``random_state`` argument does not make its intervals reproducible
(and rliable 1.2.0 pins pandas < 3), which is why this module does its own resampling.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

N_BOOT = 2000
CONF = 0.95
SEED = 0
LAST_FRACTION = 0.2
ALPHA = 0.05
POWER = 0.8

ArrayLike = Sequence[float] | np.ndarray
Statistic = Callable[[np.ndarray], np.ndarray]  # (n_boot, n) -> (n_boot,), reduces axis 1


def mean_std(x: ArrayLike) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN std for fewer than 2 values)."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


def iqm(x: ArrayLike, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50 % (``scipy.stats.trim_mean(x, 0.25)``,
    which cuts ``floor(0.25 n)`` values from each end)."""
    out = sps.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def iqm_rows(a: np.ndarray) -> np.ndarray:
    return sps.trim_mean(a, 0.25, axis=1)


def _mean_rows(a: np.ndarray) -> np.ndarray:
    return a.mean(axis=1)


def _resample(rng: np.random.Generator, x: np.ndarray, n_boot: int) -> np.ndarray:
    """(n_boot, len(x)) resamples of ``x`` with replacement."""
    return x[rng.integers(0, len(x), size=(n_boot, len(x)))]


def _interval(samples: np.ndarray, conf: float) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [(1 - conf) / 2, (1 + conf) / 2])
    return float(lo), float(hi)


def stratified_bootstrap_ci(
    groups: Sequence[ArrayLike],
    statistic: Statistic = iqm_rows,
    n_boot: int = N_BOOT,
    conf: float = CONF,
    seed: int = SEED,
) -> tuple[float, float, float]:
    """``(point, low, high)`` of ``statistic`` over the pooled scores of ``groups`` (one
    array of seed scores per task), resampling seeds within each task.

    ``statistic`` maps ``(n_boot, n)`` to ``(n_boot,)``. Empty input gives NaNs; a
    single score per task gives a degenerate interval equal to the point.
    """
    arrays = [np.asarray(g, dtype=np.float64) for g in groups if len(g)]
    if not arrays:
        return math.nan, math.nan, math.nan
    point = float(statistic(np.concatenate(arrays)[None, :])[0])
    rng = np.random.default_rng(seed)
    boot = np.concatenate([_resample(rng, a, n_boot) for a in arrays], axis=1)
    return (point, *_interval(statistic(boot), conf))


def iqm_ci(
    x: ArrayLike, n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[float, float, float]:
    """IQM of one task's seed scores with its bootstrap CI: ``(iqm, low, high)``."""
    return stratified_bootstrap_ci([x], iqm_rows, n_boot, conf, seed)


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """P(X > Y) = mean over all pairs (x_i, y_j) of 1[x_i > y_j] + 0.5 * 1[x_i == y_j]."""
    a = np.asarray(x, dtype=np.float64)[:, None]
    b = np.asarray(y, dtype=np.float64)[None, :]
    if a.size == 0 or b.size == 0:
        return math.nan
    return float(np.mean((a > b) + 0.5 * (a == b)))


def _poi_rows(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Row-wise probability of improvement: (B, n), (B, m) -> (B,)."""
    a, b = xs[:, :, None], ys[:, None, :]
    return np.mean((a > b) + 0.5 * (a == b), axis=(1, 2))


def poi_ci(
    tasks: Sequence[tuple[ArrayLike, ArrayLike]],
    n_boot: int = N_BOOT,
    conf: float = CONF,
    seed: int = SEED,
) -> tuple[float, float, float]:
    """Probability of improvement averaged over tasks, each a pair ``(x, y)`` of seed
    scores (e.g. sync and async of one config), with a CI that resamples x and y
    independently within each task: ``(poi, low, high)``."""
    pairs = [(np.asarray(x, np.float64), np.asarray(y, np.float64)) for x, y in tasks]
    pairs = [(x, y) for x, y in pairs if x.size and y.size]
    if not pairs:
        return math.nan, math.nan, math.nan
    point = float(np.mean([probability_of_improvement(x, y) for x, y in pairs]))
    rng = np.random.default_rng(seed)
    boot = np.mean(
        [_poi_rows(_resample(rng, x, n_boot), _resample(rng, y, n_boot)) for x, y in pairs],
        axis=0,
    )
    return (point, *_interval(boot, conf))


def welch_t(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Welch's unequal-variance t-test (two-sided): ``(t, p)``; NaN below 2 per side."""
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():
        # Identical samples (zero variance) give NaN with a RuntimeWarning: report NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sps.ttest_ind(a, b, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def mann_whitney(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Mann-Whitney U test (two-sided): ``(U of x, p)``; NaN when a side is empty."""
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    res = sps.mannwhitneyu(a, b, alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def bin_curve(x: ArrayLike, y: ArrayLike, edges: np.ndarray) -> np.ndarray:
    """Mean of ``y`` in each bin ``[edges[i], edges[i+1])`` (last bin closed); NaN where
    a bin is empty. Returns ``(len(edges) - 1,)``."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n = len(edges) - 1
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n - 1)
    keep = (x >= edges[0]) & (x <= edges[-1]) & np.isfinite(y)
    sums = np.bincount(idx[keep], weights=y[keep], minlength=n)
    counts = np.bincount(idx[keep], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def fill_gaps(curve: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN points between the first and last finite points
    (no extrapolation: NaN stays outside the run's range)."""
    c = np.asarray(curve, np.float64).copy()
    ok = np.isfinite(c)
    if ok.sum() < 2:
        return c
    i = np.arange(len(c))
    inside = (i >= i[ok][0]) & (i <= i[ok][-1])
    c[inside & ~ok] = np.interp(i[inside & ~ok], i[ok], c[ok])
    return c


def run_curve(x: ArrayLike, y: ArrayLike, edges: np.ndarray) -> np.ndarray:
    """One run's curve on a common grid: bin means, gaps filled by interpolation."""
    return fill_gaps(bin_curve(x, y, edges))


def curve_iqm_band(
    curves: np.ndarray, n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM across runs at each grid point with a bootstrap CI over runs.

    ``curves``: ``(n_runs, n_points)``, NaN where a run has no value. Returns three
    ``(n_points,)`` arrays ``(iqm, low, high)``; the band is NaN where fewer than 2 runs
    have a value.
    """
    curves = np.atleast_2d(np.asarray(curves, np.float64))
    n_points = curves.shape[1]
    mid, lo, hi = (np.full(n_points, np.nan) for _ in range(3))
    rng = np.random.default_rng(seed)
    for j in range(n_points):
        col = curves[:, j][np.isfinite(curves[:, j])]
        if col.size == 0:
            continue
        mid[j] = iqm(col)
        if col.size >= 2:
            lo[j], hi[j] = _interval(iqm_rows(_resample(rng, col, n_boot)), conf)
    return mid, lo, hi


def curve_variability(
    env_step: ArrayLike,
    values: ArrayLike,
    frac: float = LAST_FRACTION,
    n_bins: int = 50,
    end: float | None = None,
) -> float:
    """Variability of the last ``frac`` of a learning curve: the sample std (ddof=1) of the
    non-empty bin means among ``n_bins`` equal bins of ``[0, end]`` env steps (``end``:
    the run's last env step by default) whose left edge is at or after ``(1 - frac) * end``.

    Binning first measures how much the *curve* moves, not the spread of single episodes.
    NaN when fewer than 2 bins have data.
    """
    x = np.asarray(env_step, np.float64)
    if x.size == 0:
        return math.nan
    end = float(x.max()) if end is None else float(end)
    edges = np.linspace(0.0, end, n_bins + 1)
    means = bin_curve(x, values, edges)
    tail = means[(edges[:-1] >= (1 - frac) * end - 1e-9 * end) & np.isfinite(means)]
    return float(tail.std(ddof=1)) if tail.size >= 2 else math.nan


def mean_ci(
    x: ArrayLike, n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[float, float, float]:
    """Mean of ``x`` with its bootstrap CI: ``(mean, low, high)``."""
    return stratified_bootstrap_ci([x], _mean_rows, n_boot, conf, seed)


def _independent_means(
    a: np.ndarray, b: np.ndarray, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap means (n_boot,) of two samples resampled independently, ``a`` first."""
    rng = np.random.default_rng(seed)
    return _resample(rng, a, n_boot).mean(axis=1), _resample(rng, b, n_boot).mean(axis=1)


def difference_ci(
    x: ArrayLike, y: ArrayLike, n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[float, float, float]:
    """``mean(x) - mean(y)`` of two independent samples (e.g. the seeds of sync and of
    async) with a CI that resamples each side independently: ``(diff, low, high)``. The
    size of an effect, in the metric's units, next to P(improvement)'s how-often; NaN when
    either side is empty."""
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    ma, mb = _independent_means(a, b, n_boot, seed)
    return (float(a.mean() - b.mean()), *_interval(ma - mb, conf))


def ratio_ci(
    x: ArrayLike,
    ref: ArrayLike,
    n_boot: int = N_BOOT,
    conf: float = CONF,
    seed: int = SEED,
    numerator: Statistic = _mean_rows,
) -> tuple[float, float, float]:
    """``numerator(x) / mean(ref)`` with a CI that resamples both independently (e.g. a
    trained policy's seed-level IQM coverage, seeds resampled, against a baseline's mean
    coverage, episodes resampled). ``numerator`` maps ``(n_boot, n)`` to ``(n_boot,)``
    (the mean by default; ``iqm_rows`` for the IQM)."""
    a, b = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    if a.size == 0 or b.size == 0 or b.mean() == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    num = numerator(_resample(rng, a, n_boot))
    den = _resample(rng, b, n_boot).mean(axis=1)
    return (float(numerator(a[None, :])[0] / b.mean()), *_interval(num / den, conf))


def verdict(claimed_sign: int, estimate: float, p: float, n: int, alpha: float = ALPHA) -> str:
    """Verdict on a claim that a difference has sign ``claimed_sign`` (+1 / -1), from its
    estimate and a two-sided p-value: ``holds`` (significant, claimed sign), ``refuted``
    (significant, other sign) or ``not resolved at N=n``."""
    if not (math.isfinite(estimate) and math.isfinite(p)) or p >= alpha or estimate == 0:
        return f"not resolved at N={n}"
    return "holds" if math.copysign(1, estimate) == claimed_sign else "refuted"


# --------------------------------------------------------------------------------------
# Runs as the unit of inference


def hierarchical_bootstrap_ci(
    runs: Sequence[ArrayLike], n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[float, float, float]:
    """Mean of the per-run means of ``runs`` (one 1-D array of per-episode values per
    training run) with a two-level bootstrap CI: each draw resamples runs with replacement,
    then the episodes of each drawn run with replacement, and takes the mean of the drawn
    runs' means. ``(point, low, high)``; empty runs are dropped; NaNs when none is left.

    The run level carries the between-run (seed) variance that an episode-only bootstrap
    leaves out; the episode level keeps each run's own measurement noise. With no
    within-run variance it is the plain bootstrap of the run means (the same draws).
    """
    arrays = [np.asarray(r, dtype=np.float64) for r in runs]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return math.nan, math.nan, math.nan
    point = float(np.mean([a.mean() for a in arrays]))
    rng = np.random.default_rng(seed)
    n_runs = len(arrays)
    drawn = rng.integers(0, n_runs, size=(n_boot, n_runs))
    means = np.empty((n_boot, n_runs))
    for r, a in enumerate(arrays):
        # Every slot that drew run r gets its own resample of r's episodes.
        where = drawn == r
        picks = rng.integers(0, a.size, size=(int(where.sum()), a.size))
        means[where] = a[picks].mean(axis=1)
    return (point, *_interval(means.mean(axis=1), conf))


def _pvalue(fn: Callable[[], Any]) -> float:
    with warnings.catch_warnings():
        # Nearly identical samples: scipy warns about precision and may give NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(fn().pvalue)


def paired_run_difference(
    x_runs: Sequence[ArrayLike],
    ref: ArrayLike,
    n_boot: int = N_BOOT,
    conf: float = CONF,
    seed: int = SEED,
) -> tuple[float, float, float, float, float]:
    """A method's runs against a reference on the same evaluation episodes (e.g. each
    trained agent against the hover baseline): ``x_runs`` holds each run's per-episode
    values aligned by episode index with ``ref``.

    Returns ``(diff, low, high, p, sd)``: the mean over runs of the per-run mean difference
    ``x - ref``; its hierarchical bootstrap CI (runs, then episodes of the paired
    differences, :func:`hierarchical_bootstrap_ci`); the two-sided one-sample t-test p of
    the per-run mean differences against 0 (runs are the unit: N = number of runs; NaN
    below 2 runs; 1 when every run's mean difference is 0); and the sd (ddof=1) of the
    per-run mean differences. NaNs without runs.
    """
    b = np.asarray(ref, np.float64)
    diffs = []
    for x in x_runs:
        a = np.asarray(x, np.float64)
        if a.shape != b.shape:
            raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
        diffs.append(a - b)
    if not diffs or b.size == 0:
        return math.nan, math.nan, math.nan, math.nan, math.nan
    point, lo, hi = hierarchical_bootstrap_ci(diffs, n_boot, conf, seed)
    m = np.array([d.mean() for d in diffs])
    if m.size < 2:
        return point, lo, hi, math.nan, math.nan
    p = 1.0 if not np.any(m != 0) else _pvalue(lambda: sps.ttest_1samp(m, 0.0))
    return point, lo, hi, p, float(m.std(ddof=1))


def paired_seed_difference(
    x: ArrayLike, y: ArrayLike, n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[float, float, float, float, float, float]:
    """Two methods' per-run scores aligned by seed (e.g. sync and async of one config: a
    seed's two runs share initial weights and env streams).

    Returns ``(diff, low, high, t_p, wilcoxon_p, sd)``: the mean of ``x - y`` with a
    bootstrap CI over seed pairs, the two-sided paired t-test and Wilcoxon signed-rank
    p-values (both 1 when every difference is 0, NaN below 2 pairs) and the sd (ddof=1) of
    the differences.
    """
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    point, lo, hi = mean_ci(d, n_boot, conf, seed)
    if d.size < 2:
        return point, lo, hi, math.nan, math.nan, math.nan
    sd = float(d.std(ddof=1))
    if not np.any(d != 0):
        return point, lo, hi, 1.0, 1.0, sd
    t_p = _pvalue(lambda: sps.ttest_rel(a, b))
    w_p = _pvalue(lambda: sps.wilcoxon(d, alternative="two-sided"))
    return point, lo, hi, t_p, w_p, sd


# --------------------------------------------------------------------------------------
# Power and multiplicity

N_MAX = 100_000


def mdd(
    sd: float,
    n: float,
    alpha: float = ALPHA,
    power: float = POWER,
    two_sample_sd_other: float | None = None,
    n_other: float | None = None,
) -> float:
    """Minimum detectable difference of a two-sided test at level ``alpha`` with the given
    ``power``, in the t approximation: ``(t_{1-alpha/2, df} + t_{power, df}) * SE``.

    One-sample or paired (``two_sample_sd_other`` None): ``SE = sd / sqrt(n)``,
    ``df = n - 1``. Two independent samples: Welch's ``SE = sqrt(sd^2/n + sd_o^2/n_o)`` with
    the Welch-Satterthwaite df (``n_other`` defaults to ``n``). NaN when a sample has fewer
    than 2 values or an sd is not finite.
    """
    if not (math.isfinite(sd) and math.isfinite(n)) or n < 2:
        return math.nan
    if two_sample_sd_other is None:
        se, df = sd / math.sqrt(n), n - 1
    else:
        so = float(two_sample_sd_other)
        no = n if n_other is None else n_other
        if not (math.isfinite(so) and math.isfinite(no)) or no < 2:
            return math.nan
        vx, vy = sd * sd / n, so * so / no
        se = math.sqrt(vx + vy)
        if se == 0:
            return 0.0
        df = (vx + vy) ** 2 / (vx * vx / (n - 1) + vy * vy / (no - 1))
    quantiles = float(sps.t.ppf(1 - alpha / 2, df)) + float(sps.t.ppf(power, df))
    return quantiles * se


def n_needed(
    effect: float,
    sd: float,
    alpha: float = ALPHA,
    power: float = POWER,
    paired: bool = True,
    sd_other: float | None = None,
) -> float:
    """Smallest N (>= 2; per group, equal in both groups of a two-sample design) whose
    :func:`mdd` is at most ``|effect|``: how many runs (or seed pairs) a design needs to
    detect this effect with this power. ``paired``: one-sample / paired design with ``sd``
    of the differences; otherwise two independent samples with sds ``sd`` and ``sd_other``
    (``sd`` when None). ``math.inf`` when ``effect`` is 0 or N would exceed 100,000; NaN
    when an input is not finite.
    """
    so = sd if sd_other is None else sd_other
    if not all(math.isfinite(v) for v in (effect, sd, so)):
        return math.nan
    if effect == 0:
        return math.inf

    def at(n: int) -> float:
        return mdd(sd, n, alpha, power) if paired else mdd(sd, n, alpha, power, so, n)

    target = abs(effect)
    if at(N_MAX) > target:
        return math.inf
    lo, hi = 2, N_MAX  # mdd falls with n: bisect for the first n with mdd <= |effect|
    while lo < hi:
        mid = (lo + hi) // 2
        if at(mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (Holm 1979): the k-th smallest of the m p-values
    times ``m - k + 1``, made monotone in that order and capped at 1. NaNs stay NaN and do
    not count in m."""
    p = np.asarray(pvalues, np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


# --------------------------------------------------------------------------------------
# Dose-response


def seed_slope_test(
    x: ArrayLike, y: ArrayLike, clusters: ArrayLike, conf: float = CONF
) -> tuple[float, float, float, float, float, int]:
    """Dose-response with seeds as the unit: the least-squares slope of ``y`` on ``x``
    within each cluster (seed: a seed's sync and async runs share initial weights and env
    streams), then the mean of the k per-seed slopes with its t-interval and the two-sided
    one-sample t-test against 0 (k - 1 degrees of freedom).

    E.g. final return per version of mean policy lag: with sync (lag 0) and one async level
    per seed, a seed's slope is its paired difference over the lag, and the test is the
    paired t-test. (A bootstrap over 5 seed clusters is anti-conservative: its percentile
    interval has no small-sample correction.) Clusters whose points share one x have no
    slope and are left out; points with a non-finite x or y are dropped first.

    Returns ``(slope, low, high, p, sd, k)``: mean per-seed slope, CI, p, the sd (ddof=1)
    of the per-seed slopes and k. NaNs (and k) below 2 clusters with a slope; p is 1 when
    every slope is 0.
    """
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    c = np.asarray(clusters)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b, c = a[ok], b[ok], c[ok]
    slopes = []
    for cid in np.unique(c):
        xa, ya = a[c == cid], b[c == cid]
        if xa.size >= 2 and np.ptp(xa) > 0:
            xc = xa - xa.mean()
            slopes.append(float(np.sum(xc * (ya - ya.mean())) / np.sum(xc * xc)))
    k = len(slopes)
    if k < 2:
        return math.nan, math.nan, math.nan, math.nan, math.nan, k
    s = np.asarray(slopes)
    mean, sd = float(s.mean()), float(s.std(ddof=1))
    half = float(sps.t.ppf(0.5 + conf / 2, k - 1)) * sd / math.sqrt(k)
    p = 1.0 if not np.any(s != 0) else _pvalue(lambda: sps.ttest_1samp(s, 0.0))
    return mean, mean - half, mean + half, p, sd, k


def _centred_spearman(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Spearman's rho of ``x`` and ``y`` after subtracting each group's mean from both;
    NaN when either has no spread left."""
    xc, yc = x.astype(np.float64).copy(), y.astype(np.float64).copy()
    for g in np.unique(groups):
        m = groups == g
        xc[m] -= xc[m].mean()
        yc[m] -= yc[m].mean()
    if xc.size < 3 or np.ptp(xc) == 0 or np.ptp(yc) == 0:
        return math.nan
    rx, ry = sps.rankdata(xc), sps.rankdata(yc)
    return float(np.corrcoef(rx, ry)[0, 1])


def within_group_spearman(
    x: ArrayLike, y: ArrayLike, groups: ArrayLike, clusters: ArrayLike,
    n_boot: int = N_BOOT, seed: int = SEED, conf: float = CONF,
) -> tuple[float, float, float, float]:
    """Rank association of ``x`` and ``y`` across runs, within groups: Spearman's rho after
    centring both on each group's mean, so a group that differs in both (a method whose
    skills are weaker *and* whose coverage is higher) adds nothing; only how runs of one
    group differ counts. E.g. x: a run's individual-skill accuracy over the majority rate,
    y: its final coverage, groups: methods.

    CI: percentile bootstrap over ``clusters`` (seeds: the runs of one seed share initial
    weights and env streams), all rows of a drawn cluster together, centred anew.
    p: two-sided permutation test that shuffles ``y`` within each group (``n_boot``
    shuffles), ``(1 + #{|rho*| >= |rho|}) / (1 + n_boot)``. Rows with a non-finite x or y
    are dropped first. Returns ``(rho, low, high, p)``; NaNs below 3 rows or without
    spread. Descriptive of these runs: the groups' settings are not randomised per run.
    """
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    g, c = np.asarray(groups), np.asarray(clusters)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b, g, c = a[ok], b[ok], g[ok], c[ok]
    rho = _centred_spearman(a, b, g)
    if not math.isfinite(rho):
        return math.nan, math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    ids = np.unique(c)
    rows = [np.flatnonzero(c == i) for i in ids]
    boot = []
    for draw in rng.integers(0, ids.size, size=(n_boot, ids.size)):
        ix = np.concatenate([rows[k] for k in draw])
        boot.append(_centred_spearman(a[ix], b[ix], g[ix]))
    samples = np.asarray(boot)
    samples = samples[np.isfinite(samples)]
    lo, hi = _interval(samples, conf) if samples.size else (math.nan, math.nan)
    members = [np.flatnonzero(g == k) for k in np.unique(g)]
    hits = 0
    for _ in range(n_boot):
        yp = b.copy()
        for m in members:
            yp[m] = b[rng.permutation(m)]
        hits += abs(_centred_spearman(a, yp, g)) >= abs(rho) - 1e-12
    return rho, lo, hi, (1 + hits) / (1 + n_boot)
