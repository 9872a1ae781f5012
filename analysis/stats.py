"""Small pure statistics for the sync-vs-async comparison (numpy / scipy only).

Conventions: a *score* is one number per run (seed); a *task* is one (config, mode) group
of seeds. Confidence intervals are 95 % percentile intervals of a bootstrap that resamples
seeds with replacement *within* each task (stratified, as in Agarwal et al. 2021,
"Deep RL at the Edge of the Statistical Precipice"), drawn from
``numpy.random.default_rng(seed)`` so a rerun gives the same numbers to the last bit.

Pitfall: rliable's ``random_state`` argument does not make its intervals reproducible
(and rliable 1.2.0 pins pandas < 3), which is why this module does its own resampling.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as sps

N_BOOT = 2000
CONF = 0.95
SEED = 0
LAST_FRACTION = 0.2

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


def _iqm_rows(a: np.ndarray) -> np.ndarray:
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
    statistic: Statistic = _iqm_rows,
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
    return stratified_bootstrap_ci([x], _iqm_rows, n_boot, conf, seed)


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
            lo[j], hi[j] = _interval(_iqm_rows(_resample(rng, col, n_boot)), conf)
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


def paired_difference(
    x: ArrayLike, y: ArrayLike, n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[float, float, float, float]:
    """Paired comparison of ``x`` and ``y`` (the same units, e.g. the same evaluation
    episodes under two policies): the mean difference ``x - y`` with a bootstrap CI over
    pairs, and the two-sided Wilcoxon signed-rank p-value. ``(diff, low, high, p)``; NaN
    below 2 pairs; p is 1 when every difference is 0."""
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    if d.size < 2:
        return math.nan, math.nan, math.nan, math.nan
    point, lo, hi = mean_ci(d, n_boot, conf, seed)
    if not np.any(d != 0):
        return point, lo, hi, 1.0
    p = float(sps.wilcoxon(d, alternative="two-sided").pvalue)
    return point, lo, hi, p


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
    x: ArrayLike, ref: ArrayLike, n_boot: int = N_BOOT, conf: float = CONF, seed: int = SEED
) -> tuple[float, float, float]:
    """``mean(x) / mean(ref)`` with a CI that resamples both independently (e.g. a trained
    policy's coverage over seeds against a baseline's over episodes)."""
    a, b = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    if a.size == 0 or b.size == 0 or b.mean() == 0:
        return math.nan, math.nan, math.nan
    num, den = _independent_means(a, b, n_boot, seed)
    return (float(a.mean() / b.mean()), *_interval(num / den, conf))


def slope_ci(x: ArrayLike, y: ArrayLike, conf: float = CONF) -> tuple[float, float, float, float]:
    """Least-squares slope of ``y`` on ``x`` with its t-interval, and Spearman's rank
    correlation p-value (two-sided): ``(slope, low, high, p)``. E.g. final return per
    version of policy lag, one point per run. NaN below 3 points or with constant x."""
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.size < 3 or np.ptp(a) == 0:
        return math.nan, math.nan, math.nan, math.nan
    res = sps.linregress(a, b)
    half = float(sps.t.ppf(0.5 + conf / 2, a.size - 2)) * float(res.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant y: NaN p
        p = float(sps.spearmanr(a, b).pvalue)
    return float(res.slope), float(res.slope) - half, float(res.slope) + half, p


def verdict(claimed_sign: int, estimate: float, p: float, n: int, alpha: float = 0.05) -> str:
    """Verdict on a claim that a difference has sign ``claimed_sign`` (+1 / -1), from its
    estimate and a two-sided p-value: ``holds`` (significant, claimed sign), ``refuted``
    (significant, other sign) or ``not resolved at N=n``."""
    if not (math.isfinite(estimate) and math.isfinite(p)) or p >= alpha or estimate == 0:
        return f"not resolved at N={n}"
    return "holds" if math.copysign(1, estimate) == claimed_sign else "refuted"
