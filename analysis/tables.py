"""The study's tables: ``sync_vs_async.{csv,md,tex}`` and ``readme_summary.md``.

The table opens with the original's own comparison (the seed README), checked claim by
claim: strict on-policy training, better stability, more memory, slower training, better
convergence; each with the measured figures of both modes, a test and a verdict (holds /
refuted / not resolved at this N). Then, per config *family* (a config and its ablations,
which play the same evaluation episodes):

- performance of every method (HMASD sync, HMASD async at each staleness level, flat
  MAPPO, ...) and baseline, under the headline evaluation policy;
- both evaluation policies side by side (deterministic and stochastic);
- comparisons: the anchor (the family's HMASD sync) against every other method
  (probability of improvement over seeds with a bootstrap CI, Welch t, Mann-Whitney U)
  and against every baseline (paired over the shared evaluation episodes: mean
  difference with a bootstrap CI and the Wilcoxon signed-rank test), its coverage as a
  share of k-means', and the slope of final return against mean policy lag;
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
    "max_lag": 0, "coverage_ratio": 3, "lag_slope": 1,
}
ALPHA = 0.05


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
    policy: str = ""
    note: str = ""
    """The claim a ``claims`` cell measures."""
    verdict: str = ""
    """``claims`` verdict cells: holds / refuted / not resolved at N=n."""


# --------------------------------------------------------------------------------------
# Per-run scores


RUN_KEYS = ["config", "mode", "seed"]


def run_scores(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run (config, mode, seed): its family, method and headline policy, the
    final checkpoint's eval means for each policy (``final_return@deterministic``, ...)
    and the headline's (``final_return``, ...), curve variability, speed, memory and lag.
    NaN where a run lacks that data."""
    runs = data["runs"].set_index(RUN_KEYS)
    out = runs[["family", "method", "label", "async_groups", "eval_policy"]].copy()
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
    bm = data["benchmarks"]
    bm = bm[bm["rule"] == "train"]
    if len(bm):
        g = bm.groupby(RUN_KEYS)
        out = out.join(pd.DataFrame({"train_wall_time_s": g["s"].mean(),
                                     "peak_rss_mb": g["max_rss"].max()}))
    for col in ["curve_variability", *COST_METRICS, "max_lag"]:
        if col not in out:
            out[col] = np.nan
    return out.sort_index()


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

        def order(m: str, sc: pd.DataFrame = sc, anchor: str | None = anchor) -> tuple:
            row = sc[sc["method"] == m].iloc[0]
            return (m != anchor, row["label"] != sc.loc[sc["method"] == anchor, "label"].iloc[0]
                    if anchor else True, row.name[1] != "sync", int(row["async_groups"]), m)

        methods = sorted(set(sc["method"]), key=order)
        out.append(Family(name, sc, methods, anchor, base[base["config"] == name],
                          ev[ev["family"] == name]))
    return out


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


def claim_cells(fam: Family) -> list[Cell]:
    """The seed README's sync-vs-async claims, each measured on the family's HMASD sync
    and the async method of its root config (the original's own staleness level)."""
    if fam.anchor is None:
        return []
    sc = fam.scores
    root = sc.xs(fam.name, level="config") if fam.name in sc.index.get_level_values(
        "config") else sc.iloc[:0]
    if "async" not in root.index.get_level_values("mode"):
        return []
    other = str(root.xs("async", level="mode")["method"].iloc[0])
    out: list[Cell] = []

    def two_sample(claim: str, metric: str, sign: int, estimator: str = "mean") -> None:
        x, y = _values(fam, fam.anchor, metric), _values(fam, other, metric)  # type: ignore[arg-type]
        for method, v in ((fam.anchor, x), (other, y)):
            if estimator == "iqm":
                point, lo, hi = stats.iqm_ci(v)
            else:
                point, lo, hi = stats.mean_ci(v)
            out.append(Cell("claims", fam.name, str(method), metric, estimator, point, lo, hi,
                            v.size, note=claim))
        t, p = stats.welch_t(x, y)
        diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
        v = stats.verdict(sign, diff, p, min(x.size, y.size))
        common = dict(n=x.size, n_ref=y.size, note=claim)
        out.append(Cell("claims", fam.name, f"{fam.anchor} vs {other}", metric, "welch_p", p,
                        **common))
        if metric == "final_return":
            poi, lo, hi = stats.poi_ci([(x, y)])
            out.append(Cell("claims", fam.name, f"{fam.anchor} vs {other}", metric, "poi",
                            poi, lo, hi, **common))
            _, p_u = stats.mann_whitney(x, y)
            out.append(Cell("claims", fam.name, f"{fam.anchor} vs {other}", metric,
                            "mannwhitney_p", p_u, **common))
        out.append(Cell("claims", fam.name, f"{fam.anchor} vs {other}", metric, "verdict",
                        math.nan, **common, verdict=v))

    # 1. Strict on-policy vs partly violated: by construction, checked on every update.
    s_stale, a_stale = _values(fam, fam.anchor, "stale_fraction"), _values(
        fam, other, "stale_fraction")
    s_lag, a_lag = _values(fam, fam.anchor, "max_lag"), _values(fam, other, "max_lag")
    claim = "On-policy: sync strictly, async only partly"
    for method, st, lg in ((fam.anchor, s_stale, s_lag), (other, a_stale, a_lag)):
        out.append(Cell("claims", fam.name, str(method), "stale_fraction", "mean",
                        float(st.mean()) if st.size else math.nan, n=st.size, note=claim))
        out.append(Cell("claims", fam.name, str(method), "max_lag", "max",
                        float(lg.max()) if lg.size else math.nan, n=lg.size, note=claim))
    holds = (s_stale.size and a_stale.size and float(s_stale.max()) == 0.0
             and float(s_lag.max()) == 0.0 and float(a_stale.mean()) > 0.0)
    out.append(Cell("claims", fam.name, f"{fam.anchor} vs {other}", "stale_fraction",
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


def _paired(fam: Family, policy: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    """The anchor's per-episode values (mean over its seeds) and the baseline's, aligned
    by episode index: the same evaluation episodes."""
    ep = fam.episodes[fam.episodes["method"] == fam.anchor]
    mine = ep.groupby("episode")[col].mean()
    b = fam.baselines[fam.baselines["policy"] == policy].set_index("episode")[col]
    common = mine.index.intersection(b.index)
    return mine.loc[common].to_numpy(np.float64), b.loc[common].to_numpy(np.float64)


def comparison_cells(fam: Family) -> list[Cell]:
    """The anchor against every other method (over seeds) and every baseline (paired over
    episodes); coverage as a share of k-means'; return against policy lag."""
    if fam.anchor is None:
        return []
    cells: list[Cell] = []
    for method in fam.methods[1:]:
        name = f"{fam.anchor} > {method}"
        for metric in ("final_return", "coverage"):
            x, y = _values(fam, fam.anchor, metric), _values(fam, method, metric)
            point, lo, hi = stats.poi_ci([(x, y)])
            t, p_t = stats.welch_t(x, y)
            u, p_u = stats.mann_whitney(x, y)
            c = Cell("comparison", fam.name, name, metric, "poi", point, lo, hi, x.size,
                     n_ref=y.size)
            diff, d_lo, d_hi = stats.difference_ci(x, y)
            cells += [c, replace(c, estimator="mean_diff", value=diff, low=d_lo, high=d_hi),
                      replace(c, estimator="welch_t", value=t, low=math.nan, high=math.nan),
                      replace(c, estimator="welch_p", value=p_t, low=math.nan, high=math.nan),
                      replace(c, estimator="mannwhitney_p", value=p_u, low=math.nan,
                              high=math.nan)]
    for policy in _baseline_policies(fam):
        name = f"{fam.anchor} - {policy} (paired episodes)"
        for col, metric in (("return", "final_return"), ("coverage", "coverage")):
            x, y = _paired(fam, policy, col)
            diff, lo, hi, p = stats.paired_difference(x, y)
            c = Cell("comparison", fam.name, name, metric, "paired_diff", diff, lo, hi,
                     x.size, n_of="episodes", n_ref=y.size)
            cells += [c, replace(c, estimator="wilcoxon_p", value=p, low=math.nan,
                                 high=math.nan)]
    if "kmeans" in set(fam.baselines["policy"]):
        x = _values(fam, fam.anchor, "coverage")
        ratio, lo, hi = stats.ratio_ci(x, _baseline_values(fam, "kmeans", "coverage"))
        cells.append(Cell("comparison", fam.name, f"{fam.anchor} / kmeans", "coverage_ratio",
                          "ratio", ratio, lo, hi, x.size, n_ref=int(
                              _baseline_values(fam, "kmeans", "coverage").size)))
    hmasd = fam.scores[fam.scores["label"] == fam.scores.loc[
        fam.scores["method"] == fam.anchor, "label"].iloc[0]]
    lag, ret = hmasd["mean_lag"].to_numpy(np.float64), hmasd["final_return"].to_numpy(
        np.float64)
    ok = np.isfinite(lag) & np.isfinite(ret)
    slope, lo, hi, p = stats.slope_ci(lag[ok], ret[ok])
    cells.append(Cell("comparison", fam.name, "final return vs mean policy lag", "lag_slope",
                      "slope", slope, lo, hi, int(ok.sum()), n_of="runs"))
    cells.append(Cell("comparison", fam.name, "final return vs mean policy lag", "lag_slope",
                      "spearman_p", p, n=int(ok.sum()), n_of="runs"))
    return cells


def build_cells(data: dict[str, pd.DataFrame]) -> list[Cell]:
    """Every number of the tables, in a fixed order (section, family, method, metric)."""
    scores = run_scores(data)
    fams = families(data, scores)
    cells: list[Cell] = []
    for fn in (claim_cells, performance_cells, comparison_cells, cost_cells):
        for fam in fams:
            cells += fn(fam)
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
                 "Verdict"]
PERF_HEADER = ["Family", "Method", "N", "Final return", "Return IQM [95% CI]", "Coverage",
               "Coverage IQM [95% CI]", "Throughput (Mbps)", "Connected users",
               "Last-20% variability"]
POL_HEADER = ["Family", "Method", "N", "Return, deterministic", "Return, stochastic",
              "Coverage, deterministic", "Coverage, stochastic"]
CMP_HEADER = ["Family", "Comparison", "Metric", "N", "Estimate [95% CI]", "Test (p)"]
COST_HEADER = ["Family", "Method", "N", "Env-steps/s", "Sync eff. (samples/s)",
               "Train wall (s)", "Peak RSS (MB)", "Stale fraction", "Mean lag", "Max lag"]
METRIC_LABEL = {"final_return": "final return", "coverage": "coverage",
                "coverage_ratio": "coverage ratio", "lag_slope": "return per version of lag",
                "curve_variability": "last-20% variability of the return curve",
                "peak_rss_mb": "peak RSS (MB)", "env_steps_per_s": "env-steps/s",
                "stale_fraction": "stale fraction / max lag"}


def claims_rows(cells: list[Cell], st: Style) -> list[list[str]]:
    lk = Lookup(cells)
    rows = []
    for v in [c for c in cells if c.section == "claims" and c.estimator == "verdict"]:
        fam, meth, metric = v.family, v.method, v.metric
        sync_m, async_m = meth.split(" vs ")
        if metric == "stale_fraction":
            sides = [
                f"{_f(lk.value('claims', fam, m, 'stale_fraction', 'mean'), 3, st)} / "
                f"{_f(lk.value('claims', fam, m, 'max_lag', 'max'), 0, st)}"
                for m in (sync_m, async_m)]
            test = "every update (by construction)"
        else:
            est = "iqm" if metric == "final_return" else "mean"
            sides = [lk.interval("claims", fam, m, metric, est, st) for m in (sync_m, async_m)]
            test = f"Welch p = {_p(lk.value('claims', fam, meth, metric, 'welch_p'), st)}"
            if metric == "final_return":
                poi = lk.interval("claims", fam, meth, metric, "poi", st, 2)
                mw = _p(lk.value("claims", fam, meth, metric, "mannwhitney_p"), st)
                test = f"P(sync > async) = {poi}; {test}; Mann-Whitney p = {mw}"
        label = METRIC_LABEL.get(metric, metric) + (" (IQM [95% CI])" if metric ==
                                                    "final_return" else " (mean [95% CI])"
                                                    if metric != "stale_fraction" else "")
        rows.append([st.escape(fam), st.escape(v.note), st.escape(label),
                     st.escape(sides[0]), st.escape(sides[1]), st.escape(test),
                     st.escape(v.verdict)])
    return rows


def table_rows(cells: list[Cell], st: Style) -> dict[str, list[list[str]]]:
    """The tables (claims, performance, policies, comparison, cost) as formatted rows."""
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
        row = [st.escape(fam), st.escape(meth), st.escape(METRIC_LABEL.get(metric, metric))]
        c = next(c for c in cells if c.section == "comparison" and (c.family, c.method,
                                                                   c.metric) == (fam, meth,
                                                                                 metric))
        n = f"{c.n}/{c.n_ref}" if c.n_ref is not None else str(c.n)
        n += " eps" if c.n_of == "episodes" else " runs" if c.n_of == "runs" else ""
        if c.estimator == "poi":
            # How often (P(improvement)) and by how much (difference of the seed means).
            est = ("P(improvement) = "
                   + lk.interval("comparison", fam, meth, metric, "poi", st, 2)
                   + "; mean difference "
                   + lk.interval("comparison", fam, meth, metric, "mean_diff", st))
            test = (f"Welch p {_p(lk.value('comparison', fam, meth, metric, 'welch_p'), st)}"
                    f", MW p {_p(lk.value('comparison', fam, meth, metric, 'mannwhitney_p'), st)}")
        elif c.estimator == "paired_diff":
            est = "mean difference " + lk.interval("comparison", fam, meth, metric,
                                                  "paired_diff", st)
            test = f"Wilcoxon p {_p(lk.value('comparison', fam, meth, metric, 'wilcoxon_p'), st)}"
        elif c.estimator == "ratio":
            est = lk.interval("comparison", fam, meth, metric, "ratio", st)
            test = st.missing
        else:
            est = "slope " + lk.interval("comparison", fam, meth, metric, "slope", st)
            test = f"Spearman p {_p(lk.value('comparison', fam, meth, metric, 'spearman_p'), st)}"
        cmp_.append([*row, n, st.escape(est), st.escape(test)])
    for fam, meth in _keys(cells, "cost", "family", "method"):
        n = lk.get("cost", fam, meth, "env_steps_per_s", "mean")
        mx = lk.get("cost", fam, meth, "max_lag", "max")
        cost.append([st.escape(fam), st.escape(meth), str(n.n if n else 0),
                     *[lk.mean_std("cost", fam, meth, m, st) for m in COST_METRICS],
                     _f(mx.value, 0, st) if mx else st.missing])
    return {"claims": claims_rows(cells, st), "performance": perf, "policies": pol,
            "comparison": cmp_, "cost": cost}


def notes(headline: str) -> str:
    return (
        f"Headline evaluation policy: {headline} (argmax skills and Gaussian-mean actions "
        "when deterministic; the baselines act deterministically), on the final checkpoint; "
        "'Both policies' shows the other. Every method and baseline of a family plays the "
        "same evaluation episodes. N: seeds per method (baselines: episodes). IQM and mean "
        f"intervals: 95% bootstrap CIs ({stats.N_BOOT} resamples, RNG seed {stats.SEED}). "
        "P(improvement): probability that a seed of the first method beats one of the second, "
        "with a bootstrap CI; mean difference: the first method's seed mean minus the "
        "second's, with a bootstrap CI resampling both sides' seeds; Welch t and "
        "Mann-Whitney U are two-sided. Baseline comparisons "
        "are paired over episodes (the anchor's per-episode mean over seeds): mean difference "
        "with a bootstrap CI and the two-sided Wilcoxon signed-rank test. Verdicts: holds / "
        f"refuted when the two-sided test gives p < {ALPHA} in the claimed / the other "
        "direction, otherwise not resolved at this N. Last-20% variability: std of the binned "
        "episode-return curve over the last 20% of env steps. Lag counts policy versions (one "
        "per update), so strict sync has lag 0 by construction."
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
    ("comparison", "Comparisons", CMP_HEADER),
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
    coverage IQM with CIs), the key comparisons, and the machine the runs trained on."""
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
    return "\n".join([
        f"Final checkpoints, {headline} policy, IQM [95% bootstrap CI] over seeds (baselines: "
        f"over the same evaluation episodes). {', '.join(map(str, steps))} env steps per run. "
        f"Trained on: {machine}.",
        "",
        _md_table(["Family", "Method", "N", "Return", "Coverage"], rows),
        "",
        _md_table(CMP_HEADER, t["comparison"]),
        "",
        _md_table(CLAIMS_HEADER, t["claims"]),
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
