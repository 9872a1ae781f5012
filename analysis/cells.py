"""The statistics of the tables, as cells: one number each (a line of the tidy CSV).

Training runs are the unit of inference: an evaluation episode is a repeated measurement
of one trained agent, so every test counts runs (or seed pairs), and every interval over
episodes resamples runs first (:mod:`analysis.stats`). :func:`build_cells` computes, from
the per-run scores of :mod:`analysis.scores`:

- claims: the original's own comparison (the seed README), checked claim by claim: strict
  on-policy training, better stability, more memory, slower training, better convergence;
  each with the measured figures of both modes, a test (paired over seeds where the two
  modes share seeds), its power (MDD, N needed) and a verdict (holds / refuted / not
  resolved at this N);

then per config *family* (a config and its ablations, which play the same evaluation
episodes):

- performance of every method (HMASD sync, HMASD async at each staleness level, with the
  decoupled correction, flat MAPPO, ...) and baseline, under the headline evaluation
  policy and under both evaluation policies (deterministic and stochastic);
- comparisons: the anchor (the family's root sync method) against every other method
  (paired over seeds where both have the same seeds: a seed's sync and async runs share
  initial weights and env streams; otherwise Welch), every method minus every baseline
  (runs as the unit, hierarchical bootstrap), the anchor's coverage as a share of
  k-means', and the lag dose-response (final return against mean policy lag: per-seed
  slopes, seeds as the unit). Each inferential row states its MDD and the N that would
  detect its estimate; the declared primary comparisons (:data:`PRIMARIES`) are
  Holm-adjusted within each family and carry the verdicts;
- skills: whether the discriminators carry signal (intrinsic reward share, discriminator
  accuracy against chance and the majority-class rate), and whether runs whose individual
  skills carry more signal end with lower coverage and return (skill cost);
- cost: speed, memory and on-policy-ness.

The bootstrap RNG is seeded (``analysis.stats.SEED``), so the cells are identical on rerun.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis import stats
from analysis.scores import (
    COST_METRICS,
    EVAL_METRICS,
    POLICIES,
    RUN_KEYS,
    SKILL_METRICS,
    Family,
    baseline_policies,
    baseline_values,
    families,
    finite,
    root_async,
    run_scores,
    seed_scores,
    skill_runs,
    values,
)

ALPHA = stats.ALPHA
POWER = stats.POWER
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


def spread_cells(section: str, family: str, method: str, metric: str, x: np.ndarray,
                 n_of: str = "seeds", with_iqm: bool = False, policy: str = "") -> list[Cell]:
    """mean, std (and IQM with CI) of one metric's per-run (or per-episode) values."""
    x = finite(x)
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
    other = root_async(fam)
    if other is None:
        return []
    anchor: str = fam.anchor
    out: list[Cell] = []
    name = f"{anchor} vs {other}"

    def two_sample(claim: str, metric: str, sign: int, estimator: str = "mean") -> None:
        x, y = seed_scores(fam, anchor, metric), seed_scores(fam, other, metric)
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
    s_stale, a_stale = values(fam, anchor, "stale_fraction"), values(
        fam, other, "stale_fraction")
    s_lag, a_lag = values(fam, anchor, "max_lag"), values(fam, other, "max_lag")
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
                                  values(fam, method, metric), with_iqm=True)
        cells += spread_cells("performance", fam.name, method, "curve_variability",
                              values(fam, method, "curve_variability"))
        for policy in POLICIES:
            for metric in ("final_return", "coverage"):
                col = f"{metric}@{policy}"
                if col in fam.scores:
                    cells += spread_cells("policies", fam.name, method, metric,
                                          values(fam, method, col), policy=policy)
    for policy in baseline_policies(fam):
        for col, metric in EVAL_METRICS.items():
            cells += spread_cells("performance", fam.name, policy, metric,
                                  baseline_values(fam, policy, col), n_of="episodes",
                                  with_iqm=True)
    return cells


def cost_cells(fam: Family) -> list[Cell]:
    cells: list[Cell] = []
    for method in fam.methods:
        for metric in COST_METRICS:
            cells += spread_cells("cost", fam.name, method, metric,
                                  values(fam, method, metric))
        lag = values(fam, method, "max_lag")
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
    root_method = root_async(fam)
    for method in fam.methods[1:]:
        name = f"{anchor} > {method}"
        for metric in ("final_return", "coverage"):
            x, y = seed_scores(fam, anchor, metric), seed_scores(fam, method, metric)
            r = compare_seeds(x, y)
            point, lo, hi = stats.poi_ci([(x.to_numpy(), y.to_numpy())])
            key = "b" if method == root_method and metric == "final_return" else ""
            note = r.note + (f"; primary ({key})" if key else "")
            more = seed_comparison_cells("comparison", fam.name, name, metric, r, note)
            cells += [Cell("comparison", fam.name, name, metric, "poi", point, lo, hi, r.n,
                           n_of=r.n_of, n_ref=r.n_ref, note=note), *more]
            if key:
                primary[key] = (more[0], more[1], r.n)
    for method in fam.methods:
        for policy in baseline_policies(fam):
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
    for policy in baseline_policies(fam):
        for col, metric in (("return", "final_return"), ("coverage", "coverage")):
            x_runs, ref = _run_episodes(fam, anchor, policy, col)
            d = np.mean(x_runs, axis=0) - ref if x_runs else np.array([])
            diff, lo, hi = stats.mean_ci(d)
            cells.append(Cell("comparison", fam.name, descriptive_name(anchor, policy,
                                                                       n_anchor),
                              metric, "mean_diff", diff, lo, hi, int(d.size),
                              n_of="episodes", note="descriptive"))
    if "kmeans" in set(fam.baselines["policy"]):
        x = values(fam, anchor, "coverage")
        ref = baseline_values(fam, "kmeans", "coverage")
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
            x = values(fam, method, metric)
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


SKILL_COST_OUTCOMES = ("coverage", "final_return")
SKILL_COST_RUNS = "HMASD runs (every method with skills)"


def skill_cost_cells(fam: Family) -> list[Cell]:
    """Do the skills cost performance? Over every run of the family's methods with more
    than one individual skill: the rank association (:func:`analysis.stats.
    within_group_spearman`, within method) between a run's individual-skill signal (q_d's
    accuracy minus the majority rate, last 20% of updates) and its final coverage and
    return. Negative: runs whose individual skills say more about the skill end worse.
    Descriptive of these runs (the skills' strength is not set per run)."""
    sc = skill_runs(fam.scores)
    margin = sc["ind_skill_margin"].to_numpy(np.float64)
    methods = sc["method"].to_numpy()
    seeds = sc.index.get_level_values("seed").to_numpy()
    cells: list[Cell] = []
    for outcome in SKILL_COST_OUTCOMES:
        y = sc[outcome].to_numpy(np.float64)
        rho, lo, hi, p = stats.within_group_spearman(margin, y, methods, seeds)
        n = int(np.sum(np.isfinite(margin) & np.isfinite(y)))
        c = Cell("skill_cost", fam.name, SKILL_COST_RUNS, outcome, "spearman_within", rho,
                 lo, hi, n, n_of="runs", n_ref=len(set(methods)),
                 note="ind. skill margin (accuracy - majority) vs outcome, within method; "
                 "CI over seeds, permutation p; descriptive")
        cells += [c, replace(c, estimator="perm_p", value=p, low=math.nan, high=math.nan)]
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
        cells += skill_cost_cells(fam)
    for fam in fams:
        cells += cost_cells(fam)
    return cells
