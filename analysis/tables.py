"""The study's tables: ``sync_vs_async.{csv,md,tex}`` and ``readme_summary.md``.

Training runs are the unit of inference: an evaluation episode is a repeated measurement
of one trained agent, so every test counts runs (or seed pairs), and every interval over
episodes resamples runs first (:mod:`analysis.stats`). The table opens with the original's
own comparison (the seed README), checked claim by claim: strict on-policy training,
better stability, more memory, slower training, better convergence; each with the
measured figures of both modes, a test (paired over seeds where the two modes share
seeds), its power (MDD, N needed) and a verdict (holds / refuted / not resolved at this N).
Then, per config *family* (a config and its ablations, which play the same evaluation
episodes):

- performance of every method (HMASD sync, HMASD async at each staleness level, with the
  decoupled correction, flat MAPPO, ...) and baseline, under the headline evaluation policy;
- both evaluation policies side by side (deterministic and stochastic);
- comparisons: the anchor (the family's root sync method) against every other method
  (paired over seeds where both have the same seeds: a seed's sync and async runs share
  initial weights and env streams; otherwise Welch), every method minus every baseline
  (runs as the unit, hierarchical bootstrap), the anchor's coverage as a share of
  k-means', and the lag dose-response (final return against mean policy lag: per-seed
  slopes, seeds as the unit). Each inferential row states its MDD and the N that would
  detect its estimate;
  the declared primary comparisons (:data:`PRIMARIES`) are Holm-adjusted within each
  family and carry the verdicts;
- skills: whether the discriminators carry signal (intrinsic reward share, discriminator
  accuracy against chance and the majority-class rate);
- cost: speed, memory and on-policy-ness.

The CSV is tidy (one number per line, ``value`` and for intervals ``low``/``high``), for
machines; the Markdown and LaTeX are for people; ``readme_summary.md`` is the short table
the README quotes, with the machine it came from. All are byte-identical on rerun: the
bootstrap RNG is seeded (``analysis.stats.SEED``) and nothing depends on time.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import stats
from analysis.consolidate import method_order
from analysis.schema import read
from hmasd.io import atomic_write_text

BASELINE_ORDER = ("random", "hover", "kmeans")
POLICIES = ("deterministic", "stochastic")
EVAL_METRICS = {  # eval.parquet column -> metric name of the table
    "return": "final_return",
    "coverage": "coverage",
    "throughput_mbps": "throughput_mbps",
    "connected_users": "connected_users",
}
COST_METRICS = ("env_steps_per_s", "sync_efficiency", "train_wall_time_s", "peak_rss_mb",
                "stale_fraction", "mean_lag")
CSV_COLUMNS = ["section", "family", "method", "policy", "metric", "estimator", "value",
               "low", "high", "n", "n_of", "n_ref", "note", "verdict"]
# Decimal places of each metric in the Markdown/LaTeX tables.
DECIMALS = {
    "final_return": 1, "throughput_mbps": 1, "connected_users": 1, "coverage": 3,
    "curve_variability": 1, "env_steps_per_s": 0, "sync_efficiency": 0,
    "train_wall_time_s": 0, "peak_rss_mb": 0, "stale_fraction": 3, "mean_lag": 2,
    "max_lag": 0, "coverage_ratio": 3, "lag_slope": 1, "intrinsic_share": 3,
    "intrinsic_share_team": 3, "intrinsic_share_ind": 3, "team_disc_accuracy": 3,
    "ind_disc_accuracy": 3, "team_skill_majority": 3, "ind_skill_majority": 3,
}
ALPHA = stats.ALPHA
POWER = stats.POWER
# Per-run means over the last LAST_FRACTION of updates (sync_metrics diagnostics).
SKILL_METRICS = ("intrinsic_share", "intrinsic_share_team", "intrinsic_share_ind",
                 "team_disc_accuracy", "team_skill_majority", "ind_disc_accuracy",
                 "ind_skill_majority")
SKILL_CHANCE = {"team_disc_accuracy": "n_team_skills", "ind_disc_accuracy": "n_ind_skills"}
LAG_ROW = "final return vs mean policy lag"


@dataclass(frozen=True)
class Primary:
    """A primary comparison of every family: Holm-adjusted with the others, with a verdict
    on the claimed sign of its estimate."""

    key: str
    what: str
    claimed_sign: int


PRIMARIES = (
    Primary("a", "lag dose-response: slope of final return on mean policy lag over the "
            "anchor label's uncorrected runs (sync = lag 0, async at each group count), "
            "mean of per-seed slopes, t-test over seeds; claimed negative (staleness costs "
            "return)", -1),
    Primary("b", "anchor vs the root config's async method, final return; claimed "
            "positive (the original: sync converges better)", +1),
    Primary("c", "anchor minus hover, final return, runs as the unit; claimed positive",
            +1),
    Primary("d", "anchor minus hover, coverage, runs as the unit; claimed positive", +1),
)
"""The declared primary comparisons of each family, Holm-adjusted within the family."""


@dataclass(frozen=True)
class Cell:
    """One number of the table (a CSV line)."""

    section: str
    family: str
    method: str
    metric: str
    estimator: str
    value: float
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    n_of: str = "seeds"
    n_ref: int | None = None
    """The other side's count (baselines: episodes; the lag slope: seeds)."""
    policy: str = ""
    note: str = ""
    """The claim a ``claims`` cell measures; how a comparison is made (paired over seeds,
    runs as the unit, descriptive, primary (a)..(d))."""
    verdict: str = ""
    """Verdict cells (claims and primary comparisons): holds / refuted / not resolved at
    N=n."""


# --------------------------------------------------------------------------------------
# Per-run scores


RUN_KEYS = ["config", "mode", "seed"]


def run_scores(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run (config, mode, seed): its family, method and headline policy, the
    final checkpoint's eval means for each policy (``final_return@deterministic``, ...)
    and the headline's (``final_return``, ...), curve variability, speed, memory and lag.
    NaN where a run lacks that data."""
    runs = data["runs"].set_index(RUN_KEYS)
    out = runs[["family", "method", "label", "async_groups", "async_correction",
                "n_team_skills", "n_ind_skills", "eval_policy"]].copy()
    ev = data["eval"]
    ev = ev[ev["which"] == "final"]
    per = ev.groupby([*RUN_KEYS, "policy"])[list(EVAL_METRICS)].mean().rename(
        columns=EVAL_METRICS)
    for policy in POLICIES:
        if policy in set(ev["policy"]):
            part = per.xs(policy, level="policy")
            out = out.join(part.add_suffix(f"@{policy}"))
    for metric in EVAL_METRICS.values():
        cols = {p: f"{metric}@{p}" for p in POLICIES if f"{metric}@{p}" in out}
        out[metric] = [
            out.at[idx, cols[head]] if head in cols else math.nan
            for idx, head in zip(out.index, out["eval_policy"], strict=True)
        ]
    ep = data["episodes"]
    if len(ep):
        var = ep.groupby(RUN_KEYS)[["env_step", "env_return"]].apply(
            lambda g: stats.curve_variability(g["env_step"], g["env_return"]))
        out = out.join(var.rename("curve_variability"))
    sm = data["sync_metrics"]
    if len(sm):
        g = sm.groupby(RUN_KEYS)
        speed = g["env_steps"].max() / g["wall_time"].max()
        out = out.join(pd.DataFrame({
            "env_steps_per_s": speed.where(np.isfinite(speed)),
            "sync_efficiency": g["sync_efficiency"].mean(),
            "stale_fraction": g["stale_fraction"].mean(),
            "mean_lag": g["mean_lag"].mean(),
            "max_lag": g["max_lag"].max().astype(np.float64),
        }))
        out = out.join(_last_fraction_means(sm))
    bm = data["benchmarks"]
    bm = bm[bm["rule"] == "train"]
    if len(bm):
        g = bm.groupby(RUN_KEYS)
        out = out.join(pd.DataFrame({"train_wall_time_s": g["s"].mean(),
                                     "peak_rss_mb": g["max_rss"].max()}))
    for col in ["curve_variability", *COST_METRICS, "max_lag", *SKILL_METRICS]:
        if col not in out:
            out[col] = np.nan
    return out.sort_index()


def _last_fraction_means(sm: pd.DataFrame) -> pd.DataFrame:
    """Per run, the mean of each skill diagnostic over its last ``stats.LAST_FRACTION`` of
    updates (at least one), in update order; NaNs of single updates are skipped."""
    sm = sm.assign(intrinsic_share=sm["intrinsic_share_team"] + sm["intrinsic_share_ind"])
    cols = list(SKILL_METRICS)

    def tail(g: pd.DataFrame) -> pd.Series:
        g = g.sort_values(["export_step", "policy_version"], kind="stable")
        k = max(1, math.ceil(stats.LAST_FRACTION * len(g)))
        return g[cols].iloc[len(g) - k:].mean()

    return sm.groupby(RUN_KEYS)[[*cols, "export_step", "policy_version"]].apply(tail)


def _finite(x: Iterable[float]) -> np.ndarray:
    a = np.asarray(list(x), np.float64)
    return a[np.isfinite(a)]


@dataclass(frozen=True)
class Family:
    """The runs and baselines of one config family, methods in table order."""

    name: str
    scores: pd.DataFrame
    """run_scores rows of the family."""
    methods: list[str]
    """Anchor (the family root's sync method) first, then the rest."""
    anchor: str | None
    baselines: pd.DataFrame
    """Baseline episode rows of the family's root config."""
    episodes: pd.DataFrame
    """Final-checkpoint eval episode rows (headline policy) of the family's runs."""


def families(data: dict[str, pd.DataFrame], scores: pd.DataFrame) -> list[Family]:
    base = data["baselines"]
    ev = data["eval"]
    ev = ev[ev["which"] == "final"].merge(
        data["runs"][[*RUN_KEYS, "family", "method", "eval_policy"]], on=RUN_KEYS)
    ev = ev[ev["policy"] == ev["eval_policy"]]
    names = sorted(set(scores["family"]) | set(base["config"]))
    out = []
    for name in names:
        sc = scores[scores["family"] == name]
        roots = sc.xs(name, level="config") if name in sc.index.get_level_values(
            "config") else sc.iloc[:0]
        anchor = None
        if len(roots) and "sync" in roots.index.get_level_values("mode"):
            anchor = str(roots.xs("sync", level="mode")["method"].iloc[0])
        methods = method_order(sc.reset_index()) if len(sc) else []
        out.append(Family(name, sc, methods, anchor, base[base["config"] == name],
                          ev[ev["family"] == name]))
    return out


def _root_async(fam: Family) -> str | None:
    """The async method of the family's root config (the original's own staleness)."""
    sc = fam.scores
    if fam.name not in sc.index.get_level_values("config"):
        return None
    root = sc.xs(fam.name, level="config")
    if "async" not in root.index.get_level_values("mode"):
        return None
    return str(root.xs("async", level="mode")["method"].iloc[0])


def _seed_scores(fam: Family, method: str, metric: str) -> pd.Series:
    """One method's finite per-run scores, indexed by seed (sorted)."""
    sc = fam.scores[fam.scores["method"] == method]
    s = pd.Series(sc[metric].to_numpy(np.float64), index=sc.index.get_level_values("seed"))
    return s[np.isfinite(s.to_numpy())].sort_index()


def _values(fam: Family, method: str, metric: str) -> np.ndarray:
    return _finite(fam.scores.loc[fam.scores["method"] == method, metric])


def _baseline_values(fam: Family, policy: str, col: str) -> np.ndarray:
    b = fam.baselines
    return _finite(b.loc[b["policy"] == policy, col])


def _baseline_policies(fam: Family) -> list[str]:
    present = set(fam.baselines["policy"])
    return [p for p in BASELINE_ORDER if p in present] + sorted(present - set(BASELINE_ORDER))


# --------------------------------------------------------------------------------------
# Cells


def spread_cells(section: str, family: str, method: str, metric: str, x: np.ndarray,
                 n_of: str = "seeds", with_iqm: bool = False, policy: str = "") -> list[Cell]:
    """mean, std (and IQM with CI) of one metric's per-run (or per-episode) values."""
    x = _finite(x)
    mean, std = stats.mean_std(x)
    c = Cell(section, family, method, metric, "mean", mean, n=x.size, n_of=n_of, policy=policy)
    cells = [c, replace(c, estimator="std", value=std)]
    if with_iqm:
        point, lo, hi = stats.iqm_ci(x)
        cells.append(replace(c, estimator="iqm", value=point, low=lo, high=hi))
    return cells


@dataclass(frozen=True)
class SeedComparison:
    """Two methods' per-run scores compared over seeds: paired (same seed set) or Welch."""

    paired: bool
    diff: float
    low: float
    high: float
    p: float
    p_rank: float
    sd: float
    mdd: float
    n_needed: float
    n: int
    n_ref: int

    @property
    def p_name(self) -> str:
        return "paired_t_p" if self.paired else "welch_p"

    @property
    def rank_name(self) -> str:
        return "wilcoxon_p" if self.paired else "mannwhitney_p"

    @property
    def n_of(self) -> str:
        return "seed pairs" if self.paired else "seeds"

    @property
    def note(self) -> str:
        return "paired over seeds" if self.paired else "independent seeds (Welch)"


def compare_seeds(x: pd.Series, y: pd.Series) -> SeedComparison:
    """``x - y`` over seeds: paired (:func:`analysis.stats.paired_seed_difference`) when
    both have the same seeds (a seed's runs of two methods share initial weights and env
    streams), else the difference of the means with Welch's t and Mann-Whitney U. MDD and
    N needed (per group) at 80 % power, alpha 0.05, for the observed difference."""
    if len(x) and set(x.index) == set(y.index):
        y = y.loc[x.index]
        diff, lo, hi, p, p_rank, sd = stats.paired_seed_difference(x.to_numpy(), y.to_numpy())
        return SeedComparison(True, diff, lo, hi, p, p_rank, sd, stats.mdd(sd, len(x)),
                              stats.n_needed(diff, sd), len(x), len(y))
    a, b = x.to_numpy(), y.to_numpy()
    diff, lo, hi = stats.difference_ci(a, b)
    _, p = stats.welch_t(a, b)
    _, p_rank = stats.mann_whitney(a, b)
    sx, sy = stats.mean_std(a)[1], stats.mean_std(b)[1]
    return SeedComparison(False, diff, lo, hi, p, p_rank, math.nan,
                          stats.mdd(sx, a.size, two_sample_sd_other=sy, n_other=b.size),
                          stats.n_needed(diff, sx, paired=False, sd_other=sy), a.size, b.size)


def seed_comparison_cells(section: str, family: str, name: str, metric: str,
                          r: SeedComparison, note: str) -> list[Cell]:
    c = Cell(section, family, name, metric, "mean_diff", r.diff, r.low, r.high, r.n,
             n_of=r.n_of, n_ref=r.n_ref, note=note)
    cells = [c, replace(c, estimator=r.p_name, value=r.p, low=math.nan, high=math.nan),
             replace(c, estimator=r.rank_name, value=r.p_rank, low=math.nan, high=math.nan)]
    if r.paired:
        cells.append(replace(c, estimator="sd_diff", value=r.sd, low=math.nan, high=math.nan))
    cells += [replace(c, estimator="mdd", value=r.mdd, low=math.nan, high=math.nan),
              replace(c, estimator="n_needed", value=r.n_needed, low=math.nan, high=math.nan)]
    return cells


def claim_cells(fam: Family, primary: dict[str, Cell]) -> list[Cell]:
    """The seed README's sync-vs-async claims, each measured on the family's anchor and
    the async method of its root config (the original's own staleness level); paired over
    seeds where the two share seeds. The convergence claim is primary (b): its verdict
    is the Holm-adjusted one of the comparisons (``primary``: its holm_p cell)."""
    if fam.anchor is None:
        return []
    other = _root_async(fam)
    if other is None:
        return []
    anchor: str = fam.anchor
    out: list[Cell] = []
    name = f"{anchor} vs {other}"

    def two_sample(claim: str, metric: str, sign: int, estimator: str = "mean") -> None:
        x, y = _seed_scores(fam, anchor, metric), _seed_scores(fam, other, metric)
        for method, v in ((anchor, x), (other, y)):
            fn = stats.iqm_ci if estimator == "iqm" else stats.mean_ci
            point, lo, hi = fn(v.to_numpy())
            out.append(Cell("claims", fam.name, method, metric, estimator, point, lo, hi,
                            len(v), note=claim))
        r = compare_seeds(x, y)
        out.extend(seed_comparison_cells("claims", fam.name, name, metric, r, claim))
        common = dict(n=r.n, n_ref=r.n_ref, n_of=r.n_of, note=claim)
        p = r.p
        if metric == "final_return":
            poi, lo, hi = stats.poi_ci([(x.to_numpy(), y.to_numpy())])
            out.append(Cell("claims", fam.name, name, metric, "poi", poi, lo, hi, **common))
            if "b" in primary:
                p = primary["b"].value
                out.append(Cell("claims", fam.name, name, metric, "holm_p", p, **common))
        v = stats.verdict(sign, r.diff, p, r.n)
        out.append(Cell("claims", fam.name, name, metric, "verdict", math.nan, **common,
                        verdict=v))

    # 1. Strict on-policy vs partly violated: by construction, checked on every update.
    s_stale, a_stale = _values(fam, anchor, "stale_fraction"), _values(
        fam, other, "stale_fraction")
    s_lag, a_lag = _values(fam, anchor, "max_lag"), _values(fam, other, "max_lag")
    claim = "On-policy: sync strictly, async only partly"
    for method, st, lg in ((anchor, s_stale, s_lag), (other, a_stale, a_lag)):
        out.append(Cell("claims", fam.name, method, "stale_fraction", "mean",
                        float(st.mean()) if st.size else math.nan, n=st.size, note=claim))
        out.append(Cell("claims", fam.name, method, "max_lag", "max",
                        float(lg.max()) if lg.size else math.nan, n=lg.size, note=claim))
    holds = (s_stale.size and a_stale.size and float(s_stale.max()) == 0.0
             and float(s_lag.max()) == 0.0 and float(a_stale.mean()) > 0.0)
    out.append(Cell("claims", fam.name, name, "stale_fraction",
                    "verdict", math.nan, n=s_stale.size, n_ref=a_stale.size, note=claim,
                    verdict="holds" if holds else "refuted"))
    two_sample("Better training stability (lower last-20% variability)",
               "curve_variability", -1)
    two_sample("Higher memory use (peak RSS)", "peak_rss_mb", +1)
    two_sample("Slower training (env-steps/s)", "env_steps_per_s", -1)
    two_sample("Better convergence (final return)", "final_return", +1, estimator="iqm")
    return out


def performance_cells(fam: Family) -> list[Cell]:
    cells: list[Cell] = []
    for method in fam.methods:
        for metric in EVAL_METRICS.values():
            cells += spread_cells("performance", fam.name, method, metric,
                                  _values(fam, method, metric), with_iqm=True)
        cells += spread_cells("performance", fam.name, method, "curve_variability",
                              _values(fam, method, "curve_variability"))
        for policy in POLICIES:
            for metric in ("final_return", "coverage"):
                col = f"{metric}@{policy}"
                if col in fam.scores:
                    cells += spread_cells("policies", fam.name, method, metric,
                                          _values(fam, method, col), policy=policy)
    for policy in _baseline_policies(fam):
        for col, metric in EVAL_METRICS.items():
            cells += spread_cells("performance", fam.name, policy, metric,
                                  _baseline_values(fam, policy, col), n_of="episodes",
                                  with_iqm=True)
    return cells


def cost_cells(fam: Family) -> list[Cell]:
    cells: list[Cell] = []
    for method in fam.methods:
        for metric in COST_METRICS:
            cells += spread_cells("cost", fam.name, method, metric,
                                  _values(fam, method, metric))
        lag = _values(fam, method, "max_lag")
        cells.append(Cell("cost", fam.name, method, "max_lag", "max",
                          float(lag.max()) if lag.size else math.nan, n=lag.size))
    return cells


def _run_episodes(fam: Family, method: str, policy: str, col: str
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """Each run's final-checkpoint eval values (headline policy) of ``method`` and the
    baseline's, on the evaluation episodes that every run and the baseline played, aligned
    by episode index: ``(per-run arrays, baseline array)``."""
    ep = fam.episodes[fam.episodes["method"] == method]
    b = fam.baselines[fam.baselines["policy"] == policy].set_index("episode")[col]
    runs = [g.set_index("episode")[col] for _, g in ep.groupby(RUN_KEYS, sort=True)]
    common = b.index
    for r in runs:
        common = common.intersection(r.index)
    common = common.sort_values()
    return ([r.loc[common].to_numpy(np.float64) for r in runs],
            b.loc[common].to_numpy(np.float64))


def descriptive_name(anchor: str, policy: str, n_runs: int) -> str:
    return f"{anchor} - {policy} (descriptive: episodes of the {n_runs} trained agents)"


def lag_runs(fam: Family) -> pd.DataFrame:
    """The dose-response runs: every run of the family with the anchor's label and no
    async correction; sync runs at lag 0 (by construction), async runs at their mean
    policy lag over updates."""
    sc = fam.scores
    label = sc.loc[sc["method"] == fam.anchor, "label"].iloc[0]
    runs = sc[(sc["label"] == label) & (sc["async_correction"] == "none")].copy()
    modes = runs.index.get_level_values("mode")
    runs["lag"] = np.where(modes == "sync", 0.0, runs["mean_lag"].to_numpy(np.float64))
    return runs


def comparison_cells(fam: Family) -> list[Cell]:
    """The anchor against every other method (over seeds: paired where both share seeds),
    every method minus every baseline (runs as the unit), the anchor's episode-level
    differences to the baselines (descriptive only), its coverage as a share of
    k-means', and the lag dose-response; then Holm over the primaries, with verdicts."""
    if fam.anchor is None:
        return []
    anchor: str = fam.anchor
    cells: list[Cell] = []
    primary: dict[str, tuple[Cell, Cell, int]] = {}  # key -> (estimate, p cell, N)
    root_async = _root_async(fam)
    for method in fam.methods[1:]:
        name = f"{anchor} > {method}"
        for metric in ("final_return", "coverage"):
            x, y = _seed_scores(fam, anchor, metric), _seed_scores(fam, method, metric)
            r = compare_seeds(x, y)
            point, lo, hi = stats.poi_ci([(x.to_numpy(), y.to_numpy())])
            key = "b" if method == root_async and metric == "final_return" else ""
            note = r.note + (f"; primary ({key})" if key else "")
            more = seed_comparison_cells("comparison", fam.name, name, metric, r, note)
            cells += [Cell("comparison", fam.name, name, metric, "poi", point, lo, hi, r.n,
                           n_of=r.n_of, n_ref=r.n_ref, note=note), *more]
            if key:
                primary[key] = (more[0], more[1], r.n)
    for method in fam.methods:
        for policy in _baseline_policies(fam):
            name = f"{method} - {policy}"
            for col, metric in (("return", "final_return"), ("coverage", "coverage")):
                x_runs, ref = _run_episodes(fam, method, policy, col)
                diff, lo, hi, p, sd = stats.paired_run_difference(x_runs, ref)
                n = len(x_runs)
                key = ("c" if metric == "final_return" else "d") if (
                    method == anchor and policy == "hover") else ""
                note = "runs as the unit" + (f"; primary ({key})" if key else "")
                c = Cell("comparison", fam.name, name, metric, "mean_diff", diff, lo, hi, n,
                         n_of="runs", n_ref=int(ref.size), note=note)
                more = [replace(c, estimator=e, value=v, low=math.nan, high=math.nan)
                        for e, v in (("t_p", p), ("sd_diff", sd), ("mdd", stats.mdd(sd, n)),
                                     ("n_needed", stats.n_needed(diff, sd)))]
                cells += [c, *more]
                if key:
                    primary[key] = (c, more[0], n)
    n_anchor = int(fam.episodes.loc[fam.episodes["method"] == anchor, RUN_KEYS]
                   .drop_duplicates().shape[0])
    for policy in _baseline_policies(fam):
        for col, metric in (("return", "final_return"), ("coverage", "coverage")):
            x_runs, ref = _run_episodes(fam, anchor, policy, col)
            d = np.mean(x_runs, axis=0) - ref if x_runs else np.array([])
            diff, lo, hi = stats.mean_ci(d)
            cells.append(Cell("comparison", fam.name, descriptive_name(anchor, policy,
                                                                       n_anchor),
                              metric, "mean_diff", diff, lo, hi, int(d.size),
                              n_of="episodes", note="descriptive"))
    if "kmeans" in set(fam.baselines["policy"]):
        x = _values(fam, anchor, "coverage")
        ref = _baseline_values(fam, "kmeans", "coverage")
        ratio, lo, hi = stats.ratio_ci(x, ref, numerator=stats.iqm_rows)
        cells.append(Cell("comparison", fam.name, f"{anchor} / kmeans", "coverage_ratio",
                          "ratio", ratio, lo, hi, x.size, n_ref=int(ref.size),
                          note="seed-level IQM over the k-means mean"))
    runs = lag_runs(fam)
    ok = np.isfinite(runs["lag"].to_numpy()) & np.isfinite(runs["final_return"].to_numpy())
    runs = runs[ok]
    seeds = runs.index.get_level_values("seed").to_numpy()
    slope, lo, hi, p, sd, k = stats.seed_slope_test(runs["lag"], runs["final_return"], seeds)
    c = Cell("comparison", fam.name, LAG_ROW, "lag_slope", "slope", slope, lo, hi, len(runs),
             n_of="runs", n_ref=k, note="mean of per-seed slopes, uncorrected runs of the "
             "anchor's label; primary (a)")
    more = [replace(c, estimator=e, value=v, low=math.nan, high=math.nan)
            for e, v in (("t_p", p), ("sd_slope", sd), ("mdd", stats.mdd(sd, k)),
                         ("n_needed", stats.n_needed(slope, sd)))]
    cells += [c, *more]
    primary["a"] = (c, more[0], k)
    return cells + primary_cells(fam.name, primary)


def primary_cells(family: str, found: dict[str, tuple[Cell, Cell, int]]) -> list[Cell]:
    """Holm over the family's primaries that exist (:data:`PRIMARIES`), a ``holm_p`` and a
    ``verdict`` cell each, in declared order."""
    keys = [p for p in PRIMARIES if p.key in found]
    adjusted = stats.holm([found[p.key][1].value for p in keys])
    out = []
    for prim, h in zip(keys, adjusted, strict=True):
        est, _, n = found[prim.key]
        c = replace(est, estimator="holm_p", value=float(h), low=math.nan, high=math.nan,
                    note=f"primary ({prim.key}): {prim.what}")
        out += [c, replace(c, estimator="verdict", value=math.nan,
                           verdict=stats.verdict(prim.claimed_sign, est.value, float(h), n))]
    return out


def skill_cells(fam: Family) -> list[Cell]:
    """Do the skills carry signal? For every method with more than one team or individual
    skill: per-run means over the last 20 % of updates of the intrinsic reward share and
    the discriminator accuracies, summarised over runs (mean, std, bootstrap CI of the
    mean); accuracies next to chance (1 / number of skills) and the majority-class rate."""
    cells: list[Cell] = []
    for method in fam.methods:
        sc = fam.scores[fam.scores["method"] == method]
        n_skills = {"n_team_skills": int(sc["n_team_skills"].max()),
                    "n_ind_skills": int(sc["n_ind_skills"].max())}
        if max(n_skills.values()) <= 1:
            continue
        for metric in SKILL_METRICS:
            x = _values(fam, method, metric)
            mean, lo, hi = stats.mean_ci(x)
            c = Cell("skills", fam.name, method, metric, "mean", mean, lo, hi, x.size,
                     n_of="runs", note=f"mean over the last {stats.LAST_FRACTION:.0%} of "
                     "updates per run")
            cells += [c, replace(c, estimator="std", value=stats.mean_std(x)[1],
                                 low=math.nan, high=math.nan)]
            if metric in SKILL_CHANCE:
                chance = 1.0 / n_skills[SKILL_CHANCE[metric]]
                cells += [replace(c, estimator="chance", value=chance, low=math.nan,
                                  high=math.nan),
                          replace(c, estimator="x_chance", value=mean / chance, low=lo / chance,
                                  high=hi / chance)]
    return cells


def build_cells(data: dict[str, pd.DataFrame]) -> list[Cell]:
    """Every number of the tables, in a fixed order (section, family, method, metric)."""
    scores = run_scores(data)
    fams = families(data, scores)
    comps = {fam.name: comparison_cells(fam) for fam in fams}
    cells: list[Cell] = []
    for fam in fams:
        holm_b = [c for c in comps[fam.name]
                  if c.estimator == "holm_p" and c.note.startswith("primary (b)")]
        cells += claim_cells(fam, {"b": holm_b[0]} if holm_b else {})
    for fam in fams:
        cells += performance_cells(fam)
    for fam in fams:
        cells += comps[fam.name]
    for fam in fams:
        cells += skill_cells(fam)
    for fam in fams:
        cells += cost_cells(fam)
    return cells


# --------------------------------------------------------------------------------------
# Rendering


def _num(v: float) -> str:
    return "" if v is None or not math.isfinite(v) else repr(float(v))


def to_csv(cells: list[Cell]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in cells:
        w.writerow([c.section, c.family, c.method, c.policy, c.metric, c.estimator,
                    _num(c.value), _num(c.low), _num(c.high), c.n, c.n_of,
                    "" if c.n_ref is None else c.n_ref, c.note, c.verdict])
    return buf.getvalue()


@dataclass(frozen=True)
class Style:
    """How the Markdown and LaTeX renderings spell the pieces of a cell."""

    pm: str
    missing: str
    escape: Callable[[str], str]
    lt: str


MD = Style(pm=" ± ", missing="–", escape=lambda s: s.replace("|", "\\|"), lt="<")

TEX_ESCAPES = str.maketrans({
    "\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
    "{": r"\{", "}": r"\}", ">": "$>$", "<": "$<$", "±": r"$\pm$",
})


def _tex_escape(s: str) -> str:
    return s.translate(TEX_ESCAPES)


TEX = Style(pm=r" $\pm$ ", missing="--", escape=_tex_escape, lt="$<$")


def _f(v: float, d: int, st: Style) -> str:
    return f"{v:.{d}f}" if math.isfinite(v) else st.missing


def _p(v: float | None, st: Style) -> str:
    if v is None or not math.isfinite(v):
        return st.missing
    return f"{st.lt}0.001" if v < 0.001 else f"{v:.3f}"


class Lookup:
    """Cells indexed by (section, family, method, policy, metric, estimator)."""

    def __init__(self, cells: list[Cell]) -> None:
        self.d = {(c.section, c.family, c.method, c.policy, c.metric, c.estimator): c
                  for c in cells}

    def get(self, sec: str, fam: str, meth: str, metric: str, est: str,
            policy: str = "") -> Cell | None:
        return self.d.get((sec, fam, meth, policy, metric, est))

    def value(self, *key: str, policy: str = "") -> float:
        c = self.get(*key, policy=policy)
        return c.value if c is not None else math.nan

    def mean_std(self, sec: str, fam: str, meth: str, metric: str, st: Style,
                 policy: str = "") -> str:
        m = self.get(sec, fam, meth, metric, "mean", policy)
        s = self.get(sec, fam, meth, metric, "std", policy)
        d = DECIMALS[metric]
        if m is None or not math.isfinite(m.value):
            return st.missing
        tail = st.pm + _f(s.value, d, st) if s and math.isfinite(s.value) and s.n > 1 else ""
        return _f(m.value, d, st) + tail

    def interval(self, sec: str, fam: str, meth: str, metric: str, est: str, st: Style,
                 d: int | None = None) -> str:
        c = self.get(sec, fam, meth, metric, est)
        d = DECIMALS[metric] if d is None else d
        if c is None or not math.isfinite(c.value):
            return st.missing
        if not (math.isfinite(c.low) and math.isfinite(c.high)):
            return _f(c.value, d, st)
        return f"{_f(c.value, d, st)} [{_f(c.low, d, st)}, {_f(c.high, d, st)}]"


def _keys(cells: list[Cell], section: str, *fields: str) -> list[tuple]:
    seen: dict[tuple, None] = {}
    for c in cells:
        if c.section == section:
            seen[tuple(getattr(c, f) for f in fields)] = None
    return list(seen)


def headline_policy(data: dict[str, pd.DataFrame]) -> str:
    """The runs' headline policy (``train.eval_policy``); ``mixed`` if they differ."""
    found = sorted(set(data["runs"]["eval_policy"]))
    return found[0] if len(found) == 1 else ("mixed" if found else "deterministic")


CLAIMS_HEADER = ["Family", "Claim (seed README)", "Measure", "Sync", "Async", "Test",
                 "MDD (80% power, alpha 0.05) / N needed", "Verdict"]
PERF_HEADER = ["Family", "Method", "N", "Final return", "Return IQM [95% CI]", "Coverage",
               "Coverage IQM [95% CI]", "Throughput (Mbps)", "Connected users",
               "Last-20% variability"]
POL_HEADER = ["Family", "Method", "N", "Return, deterministic", "Return, stochastic",
              "Coverage, deterministic", "Coverage, stochastic"]
CMP_HEADER = ["Family", "Comparison", "Metric", "N", "Estimate [95% CI]", "Test (p)",
              "Holm p", "MDD (80% power, alpha 0.05)", "N needed", "Verdict"]
PRIMARY_HEADER = ["Family", "Primary", "Comparison", "Metric", "N", "Estimate [95% CI]",
                  "Test (p)", "Holm p", "MDD (80% power, alpha 0.05)", "N needed", "Verdict"]
SKILL_HEADER = ["Family", "Method", "N", "Intrinsic share (team + ind.)", "Team share",
                "Ind. share", "Team disc. accuracy (x chance)", "Team chance / majority",
                "Ind. disc. accuracy (x chance)", "Ind. chance / majority"]
COST_HEADER = ["Family", "Method", "N", "Env-steps/s", "Sync eff. (samples/s)",
               "Train wall (s)", "Peak RSS (MB)", "Stale fraction", "Mean lag", "Max lag"]
METRIC_LABEL = {"final_return": "final return", "coverage": "coverage",
                "coverage_ratio": "coverage ratio", "lag_slope": "return per version of lag",
                "curve_variability": "last-20% variability of the return curve",
                "peak_rss_mb": "peak RSS (MB)", "env_steps_per_s": "env-steps/s",
                "stale_fraction": "stale fraction / max lag"}


def _n_needed(v: float, st: Style) -> str:
    if math.isinf(v):
        return f"> {stats.N_MAX:,}"
    return st.missing if not math.isfinite(v) else f"{int(v):,}"


def _power(lk: Lookup, st: Style, sec: str, fam: str, meth: str, metric: str) -> tuple[str,
                                                                                        str]:
    """MDD (in the metric's units) and N needed of one comparison."""
    d = DECIMALS.get(metric, 3)
    return (_f(lk.value(sec, fam, meth, metric, "mdd"), d, st),
            _n_needed(lk.value(sec, fam, meth, metric, "n_needed"), st))


def _seed_test(lk: Lookup, st: Style, sec: str, fam: str, meth: str, metric: str) -> str:
    """The test text of a comparison over seeds: paired (t, Wilcoxon) or Welch (Welch,
    Mann-Whitney)."""
    c = lk.get(sec, fam, meth, metric, "paired_t_p")
    if c is not None:
        w = _p(lk.value(sec, fam, meth, metric, "wilcoxon_p"), st)
        return f"paired over seeds: t p {_p(c.value, st)}, Wilcoxon p {w}"
    mw = _p(lk.value(sec, fam, meth, metric, "mannwhitney_p"), st)
    return f"Welch p {_p(lk.value(sec, fam, meth, metric, 'welch_p'), st)}, MW p {mw}"


def claims_rows(cells: list[Cell], st: Style) -> list[list[str]]:
    lk = Lookup(cells)
    rows = []
    for v in [c for c in cells if c.section == "claims" and c.estimator == "verdict"]:
        fam, meth, metric = v.family, v.method, v.metric
        sync_m, async_m = meth.split(" vs ")
        power = st.missing
        if metric == "stale_fraction":
            sides = [
                f"{_f(lk.value('claims', fam, m, 'stale_fraction', 'mean'), 3, st)} / "
                f"{_f(lk.value('claims', fam, m, 'max_lag', 'max'), 0, st)}"
                for m in (sync_m, async_m)]
            test = "every update (by construction)"
        else:
            est = "iqm" if metric == "final_return" else "mean"
            sides = [lk.interval("claims", fam, m, metric, est, st) for m in (sync_m, async_m)]
            diff = lk.interval("claims", fam, meth, metric, "mean_diff", st)
            test = f"difference {diff}; {_seed_test(lk, st, 'claims', fam, meth, metric)}"
            if metric == "final_return":
                poi = lk.interval("claims", fam, meth, metric, "poi", st, 2)
                test = f"P(sync > async) = {poi}; {test}"
                h = lk.get("claims", fam, meth, metric, "holm_p")
                if h is not None:
                    test += f"; Holm p {_p(h.value, st)} (primary (b))"
            power = " / ".join(_power(lk, st, "claims", fam, meth, metric))
        label = METRIC_LABEL.get(metric, metric) + (" (IQM [95% CI])" if metric ==
                                                    "final_return" else " (mean [95% CI])"
                                                    if metric != "stale_fraction" else "")
        rows.append([st.escape(fam), st.escape(v.note), st.escape(label),
                     st.escape(sides[0]), st.escape(sides[1]), st.escape(test),
                     st.escape(power), st.escape(v.verdict)])
    return rows


def comparison_row(cells: list[Cell], lk: Lookup, st: Style, fam: str, meth: str,
                   metric: str) -> list[str]:
    """One comparison as ``CMP_HEADER`` cells (without Family), by its kind: a method
    over seeds (poi), a method minus a baseline over runs (t_p), a descriptive episode
    difference (no test), the coverage ratio, or the lag slope."""
    sec = "comparison"
    first = next(c for c in cells if c.section == sec and (c.family, c.method, c.metric)
                 == (fam, meth, metric))
    n = f"{first.n}/{first.n_ref}" if first.n_ref is not None else str(first.n)
    n += {"episodes": " eps", "runs": " runs", "seed pairs": " seed pairs"}.get(
        first.n_of, "")
    if first.estimator == "slope":
        n = f"{first.n} runs / {first.n_ref} seeds"
    mdd, needed = _power(lk, st, sec, fam, meth, metric)
    if first.estimator == "poi":
        # How often (P(improvement)) and by how much (difference of the seed means).
        est = ("P(improvement) = " + lk.interval(sec, fam, meth, metric, "poi", st, 2)
               + "; mean difference " + lk.interval(sec, fam, meth, metric, "mean_diff", st))
        test = _seed_test(lk, st, sec, fam, meth, metric)
    elif first.note == "descriptive":
        est = "mean difference " + lk.interval(sec, fam, meth, metric, "mean_diff", st)
        test, mdd, needed = "descriptive, no test", st.missing, st.missing
    elif first.estimator == "mean_diff":
        est = ("mean difference " + lk.interval(sec, fam, meth, metric, "mean_diff", st)
               + " (hierarchical)")
        test = f"t p (runs) {_p(lk.value(sec, fam, meth, metric, 't_p'), st)}"
    elif first.estimator == "ratio":
        est = lk.interval(sec, fam, meth, metric, "ratio", st)
        test = st.missing
    else:
        est = "slope " + lk.interval(sec, fam, meth, metric, "slope", st)
        test = f"t p (seeds) {_p(lk.value(sec, fam, meth, metric, 't_p'), st)}"
    h = lk.get(sec, fam, meth, metric, "holm_p")
    v = lk.get(sec, fam, meth, metric, "verdict")
    return [st.escape(meth), st.escape(METRIC_LABEL.get(metric, metric)), n, st.escape(est),
            st.escape(test), _p(h.value, st) if h else st.missing, mdd, needed,
            st.escape(v.verdict) if v else st.missing]


def _skill_value(lk: Lookup, st: Style, fam: str, meth: str, metric: str) -> str:
    """``mean ± std [CI]`` over runs, and ``(x chance)`` for an accuracy."""
    c = lk.get("skills", fam, meth, metric, "mean")
    if c is None or not math.isfinite(c.value):
        return st.missing
    out = lk.mean_std("skills", fam, meth, metric, st)
    if math.isfinite(c.low) and math.isfinite(c.high):
        out += f" [{_f(c.low, 3, st)}, {_f(c.high, 3, st)}]"
    x = lk.get("skills", fam, meth, metric, "x_chance")
    if x is not None:
        out += f" ({_f(x.value, 1, st)}x chance)"
    return out


def skill_rows(cells: list[Cell], st: Style) -> list[list[str]]:
    lk = Lookup(cells)
    rows = []
    for fam, meth in _keys(cells, "skills", "family", "method"):
        n = lk.get("skills", fam, meth, "intrinsic_share", "mean")
        row = [st.escape(fam), st.escape(meth), str(n.n if n else 0)]
        row += [_skill_value(lk, st, fam, meth, m) for m in
                ("intrinsic_share", "intrinsic_share_team", "intrinsic_share_ind")]
        for acc, maj in (("team_disc_accuracy", "team_skill_majority"),
                         ("ind_disc_accuracy", "ind_skill_majority")):
            chance = _f(lk.value("skills", fam, meth, acc, "chance"), 3, st)
            row += [_skill_value(lk, st, fam, meth, acc),
                    f"{chance} / {lk.mean_std('skills', fam, meth, maj, st)}"]
        rows.append(row)
    return rows


def primary_rows(cells: list[Cell], st: Style) -> list[list[str]]:
    """The primary comparisons of every family (the holm_p cells), in declared order."""
    rows, lk = [], Lookup(cells)
    for h in [c for c in cells if c.section == "comparison" and c.estimator == "holm_p"]:
        key = h.note[len("primary ("):].split(")")[0]
        row = comparison_row(cells, lk, st, h.family, h.method, h.metric)
        rows.append([st.escape(h.family), f"({key})", *row])
    return rows


def table_rows(cells: list[Cell], st: Style) -> dict[str, list[list[str]]]:
    """The tables (claims, performance, policies, comparison, skills, cost) as rows."""
    lk = Lookup(cells)
    perf, pol, cmp_, cost = [], [], [], []
    for fam, meth in _keys(cells, "performance", "family", "method"):
        ret = lk.get("performance", fam, meth, "final_return", "mean")
        n = f"{ret.n}{' eps' if ret.n_of == 'episodes' else ''}" if ret else "0"
        perf.append([
            st.escape(fam), st.escape(meth), n,
            lk.mean_std("performance", fam, meth, "final_return", st),
            lk.interval("performance", fam, meth, "final_return", "iqm", st),
            lk.mean_std("performance", fam, meth, "coverage", st),
            lk.interval("performance", fam, meth, "coverage", "iqm", st),
            lk.mean_std("performance", fam, meth, "throughput_mbps", st),
            lk.mean_std("performance", fam, meth, "connected_users", st),
            lk.mean_std("performance", fam, meth, "curve_variability", st),
        ])
    for fam, meth in _keys(cells, "policies", "family", "method"):
        c = lk.get("policies", fam, meth, "final_return", "mean", "deterministic")
        pol.append([st.escape(fam), st.escape(meth), str(c.n if c else 0)] + [
            lk.mean_std("policies", fam, meth, metric, st, policy=p)
            for metric in ("final_return", "coverage") for p in POLICIES])
    for fam, meth, metric in _keys(cells, "comparison", "family", "method", "metric"):
        cmp_.append([st.escape(fam), *comparison_row(cells, lk, st, fam, meth, metric)])
    for fam, meth in _keys(cells, "cost", "family", "method"):
        n = lk.get("cost", fam, meth, "env_steps_per_s", "mean")
        mx = lk.get("cost", fam, meth, "max_lag", "max")
        cost.append([st.escape(fam), st.escape(meth), str(n.n if n else 0),
                     *[lk.mean_std("cost", fam, meth, m, st) for m in COST_METRICS],
                     _f(mx.value, 0, st) if mx else st.missing])
    return {"claims": claims_rows(cells, st), "performance": perf, "policies": pol,
            "comparison": cmp_, "primary": primary_rows(cells, st),
            "skills": skill_rows(cells, st), "cost": cost}


def notes(headline: str) -> str:
    primaries = "; ".join(f"({p.key}) {p.what}" for p in PRIMARIES)
    return (
        f"Headline evaluation policy: {headline} (argmax skills and Gaussian-mean actions "
        "when deterministic; the baselines act deterministically), on the final checkpoint; "
        "'Both policies' shows the other. Every method and baseline of a family plays the "
        "same evaluation episodes. Unit of inference: the training run. Evaluation episodes "
        "of one trained agent are repeated measurements of that agent, so tests count runs "
        "(or seed pairs), never episodes. N: seeds per method (baselines: episodes). IQM and "
        f"mean intervals: 95% bootstrap CIs ({stats.N_BOOT} resamples, RNG seed "
        f"{stats.SEED}). Anchor vs another method: paired over seeds where both have the "
        "same seeds (a seed's sync and async runs share initial weights and env streams): "
        "mean of the per-seed differences with a bootstrap CI over seed pairs, paired t and "
        "Wilcoxon signed-rank p; otherwise the difference of the seed means with a CI "
        "resampling both sides, Welch t and Mann-Whitney U. P(improvement): probability that "
        "a seed of the first method beats one of the second, with a bootstrap CI. Method "
        "minus baseline: the mean over runs of each run's mean difference on the shared "
        "episodes, with a hierarchical bootstrap CI (resample runs, then each drawn run's "
        "episodes) and a one-sample t-test over the per-run mean differences (N = runs). "
        "Rows marked 'descriptive: episodes of the N trained agents' average the anchor's "
        "runs per episode and carry no test and no verdict. Coverage ratio: the anchor's "
        "seed-level coverage IQM over k-means' mean coverage (seeds and episodes "
        "resampled). Lag dose-response: least-squares slope of final return on mean policy "
        "lag within each seed, over every uncorrected run of the anchor's label (sync at lag "
        "0), then the mean of the per-seed slopes with its t-interval and a one-sample "
        "t-test over seeds. The hierarchical and seed bootstrap CIs use no small-sample "
        "correction: at 5 seeds they are narrower than the t-tests behind the verdicts. "
        "MDD: the smallest true difference a "
        f"two-sided test at alpha {ALPHA} detects with {POWER:.0%} power at this N (t "
        "approximation; Welch for independent seeds; the slope's from the sd of the per-seed "
        "slopes); N needed: the N (per group) at which the MDD reaches the "
        "observed estimate. All tests are two-sided. Primary comparisons, declared before "
        f"the data and Holm-adjusted within each family: {primaries}. Verdicts (primaries "
        f"and the original's claims): holds / refuted when the (Holm-adjusted, for "
        f"primaries) p < {ALPHA} in the claimed / the other direction, otherwise not "
        "resolved at this N; the convergence claim is primary (b) and takes its Holm p. "
        "Skills: per-run means over the last 20% of updates; discriminator accuracy next to "
        "chance (1 / number of skills) and the majority-class rate of the skills in the "
        "batch. Last-20% variability: std of the binned episode-return curve over the last "
        "20% of env steps. Lag counts policy versions (one per update), so strict sync has "
        "lag 0 by construction."
    )


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "(no data)"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


SECTIONS = [
    ("claims", "The original's claims, checked", CLAIMS_HEADER),
    ("performance", "Performance (headline policy)", PERF_HEADER),
    ("policies", "Both evaluation policies", POL_HEADER),
    ("primary", "Primary comparisons (Holm-adjusted per family)", PRIMARY_HEADER),
    ("comparison", "Comparisons", CMP_HEADER),
    ("skills", "Do the skills carry signal?", SKILL_HEADER),
    ("cost", "Speed, memory and on-policy-ness", COST_HEADER),
]


def to_markdown(cells: list[Cell], headline: str) -> str:
    t = table_rows(cells, MD)
    parts = ["# Sync vs async: measured comparison", "", notes(headline), ""]
    for key, title, header in SECTIONS:
        parts += [f"## {title}", "", _md_table(header, t[key]), ""]
    return "\n".join(parts)


def _tex_table(caption: str, label: str, header: list[str], rows: list[list[str]]) -> str:
    head = " & ".join(_tex_escape(h) for h in header)
    body = "\n".join("    " + " & ".join(r) + r" \\" for r in rows) or (
        "    \\multicolumn{" + str(len(header)) + "}{c}{no data} \\\\")
    return "\n".join([
        r"\begin{table*}[t]",
        r"  \centering",
        r"  \footnotesize",
        f"  \\caption{{{caption}}}",
        f"  \\label{{{label}}}",
        r"  \resizebox{\textwidth}{!}{%",
        f"  \\begin{{tabular}}{{ll{'r' * (len(header) - 2)}}}",
        r"    \toprule",
        f"    {head} \\\\",
        r"    \midrule",
        body,
        r"    \bottomrule",
        r"  \end{tabular}}",
        r"\end{table*}",
        "",
    ])


def to_latex(cells: list[Cell], headline: str) -> str:
    t = table_rows(cells, TEX)
    out = ["% Sync vs async comparison, generated by analysis/tables.py.",
           r"% Needs \usepackage{booktabs} and \usepackage{graphicx} (for \resizebox).", ""]
    for key, title, header in SECTIONS:
        caption = title + (". " + _tex_escape(notes(headline)) if key == "claims" else ".")
        out.append(_tex_table(caption, f"tab:hmasd-{key}", header, t[key]))
    return "\n".join(out)


def to_readme(cells: list[Cell], data: dict[str, pd.DataFrame], headline: str) -> str:
    """The README's results table: per family, every method and baseline (return and
    coverage IQM with CIs), the primary comparisons with their verdicts, the skills rows,
    and the machine the runs trained on."""
    lk = Lookup(cells)
    t = table_rows(cells, MD)
    rows = []
    for fam, meth in _keys(cells, "performance", "family", "method"):
        ret = lk.get("performance", fam, meth, "final_return", "mean")
        n = f"{ret.n}{' eps' if ret.n_of == 'episodes' else ''}" if ret else "0"
        rows.append([fam, meth, n,
                     lk.interval("performance", fam, meth, "final_return", "iqm", MD),
                     lk.interval("performance", fam, meth, "coverage", "iqm", MD)])
    runs = data["runs"]
    machines = sorted({(r.cpu_model, r.cpu_capability, r.torch_version, int(r.torch_threads))
                       for r in runs.itertuples()})
    machine = "; ".join(f"{m} ({cap}), torch {tv}, {th} thread(s)"
                        for m, cap, tv, th in machines) or "unknown"
    steps = sorted(set(runs["total_env_steps"]))
    primaries = "; ".join(f"({p.key}) {p.what}" for p in PRIMARIES)
    return "\n".join([
        f"Final checkpoints, {headline} policy, IQM [95% bootstrap CI] over seeds (baselines: "
        f"over the same evaluation episodes). {', '.join(map(str, steps))} env steps per run. "
        f"Trained on: {machine}.",
        "",
        _md_table(["Family", "Method", "N", "Return", "Coverage"], rows),
        "",
        "Primary comparisons (training runs are the unit; Holm-adjusted within each family; "
        f"MDD at {POWER:.0%} power, alpha {ALPHA}): {primaries}.",
        "",
        _md_table(PRIMARY_HEADER, t["primary"]),
        "",
        "Do the skills carry signal? (per-run means over the last 20% of updates: mean ± std "
        "[95% CI] over runs)",
        "",
        _md_table(SKILL_HEADER, t["skills"]),
        "",
    ])


def load(consolidated_dir: Path) -> dict[str, pd.DataFrame]:
    """The consolidated datasets the tables need, checked against their schemas."""
    names = ["runs", "eval", "episodes", "sync_metrics", "benchmarks", "baselines"]
    return {n: read(consolidated_dir, n).to_pandas() for n in names}


def make_tables(consolidated_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``out_dir/sync_vs_async.{csv,md,tex}`` and ``out_dir/readme_summary.md``."""
    data = load(Path(consolidated_dir))
    cells = build_cells(data)
    head = headline_policy(data)
    out_dir = Path(out_dir)
    written = []
    renders = [("sync_vs_async.csv", to_csv(cells)),
               ("sync_vs_async.md", to_markdown(cells, head)),
               ("sync_vs_async.tex", to_latex(cells, head)),
               ("readme_summary.md", to_readme(cells, data, head))]
    for name, text in renders:
        path = out_dir / name
        atomic_write_text(path, text)
        written.append(path)
    return written
