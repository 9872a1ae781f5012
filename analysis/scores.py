"""Per-run scores, the one source of the numbers that the tables and the figures share.

:func:`run_scores` gives one row per training run (config, mode, seed): its family,
method and headline evaluation policy, the final checkpoint's eval means, curve
variability, speed, memory, policy lag and the skill diagnostics. :func:`families` groups
them by config *family* (a config and its ablations, which play the same evaluation
episodes) with the family's baselines and eval episodes; the accessors below read one
method's or one baseline's values of a family. :func:`method_name` names a method and
:func:`method_order` puts methods in table and figure order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis import stats
from hmasd.grid import DEFAULT_LABEL

BASELINE_ORDER = ("random", "hover", "kmeans")
POLICIES = ("deterministic", "stochastic")
EVAL_METRICS = {  # eval.parquet column -> metric name of the table
    "return": "final_return",
    "coverage": "coverage",
    "throughput_mbps": "throughput_mbps",
    "connected_users": "connected_users",
}
# Measured on the machine, so they differ between identical runs (load, interruptions);
# every other number of the tables is reproducible (docs/reproducibility.md).
TIMING_METRICS = ("env_steps_per_s", "sync_efficiency", "train_wall_time_s", "peak_rss_mb")
COST_METRICS = (*TIMING_METRICS, "stale_fraction", "mean_lag")
# Per-run means over the last LAST_FRACTION of updates (sync_metrics diagnostics).
SKILL_METRICS = ("intrinsic_share", "intrinsic_share_team", "intrinsic_share_ind",
                 "team_disc_accuracy", "team_skill_majority", "ind_disc_accuracy",
                 "ind_skill_majority")
RUN_KEYS = ["config", "mode", "seed"]  # the id of a training run


def method_name(label: str, mode: str, async_groups: int, async_correction: str = "none") -> str:
    """One row of the table: ``HMASD sync``, ``HMASD async G=4``, ``flat MAPPO sync``,
    ``HMASD async G=4 + decoupled`` (the decoupled objective on stale samples)."""
    return (f"{label} {mode}" + (f" G={async_groups}" if mode == "async" else "")
            + (" + decoupled" if async_correction == "decoupled" else ""))


def method_order(runs: Any) -> list[str]:
    """The methods of a runs-like DataFrame (columns ``config``, ``family``, ``label``,
    ``mode``, ``async_groups``, ``async_correction``, ``method``) in table and figure
    order: the anchor (the root configs' sync method) first; then the anchor's label;
    sync before async; fewer groups first; uncorrected before decoupled; then by name."""
    if not len(runs):
        return []
    df = runs.reset_index() if "config" not in runs.columns else runs
    roots = df[(df["config"] == df["family"]) & (df["mode"] == "sync")]
    anchor_label = str(sorted(roots["label"])[0]) if len(roots) else DEFAULT_LABEL
    anchor = method_name(anchor_label, "sync", 1)
    first = df.drop_duplicates("method").set_index("method")

    def key(m: str) -> tuple:
        row = first.loc[m]
        return (m != anchor, row["label"] != anchor_label, row["mode"] != "sync",
                int(row["async_groups"]), row["async_correction"] != "none", m)

    return sorted(first.index, key=key)


def run_scores(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run (config, mode, seed): its family, method and headline policy, the
    final checkpoint's eval means for each policy (``final_return@deterministic``, ...)
    and the headline's (``final_return``, ...), curve variability, speed, memory, lag and
    the skill diagnostics (with ``ind_skill_margin``). NaN where a run lacks that data."""
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
    # The individual skills' signal: q_d's accuracy over always naming the favourite skill.
    out["ind_skill_margin"] = out["ind_disc_accuracy"] - out["ind_skill_majority"]
    return out.sort_index()


def skill_runs(scores: pd.DataFrame) -> pd.DataFrame:
    """The runs of methods with individual skills (more than one z_i): those whose
    ``ind_skill_margin`` means something (flat MAPPO's has no discriminator to score)."""
    return scores[scores["n_ind_skills"] > 1]


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


def finite(x: Iterable[float]) -> np.ndarray:
    """The finite values of ``x`` as a float array, in order."""
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
    """Every family of the runs (``scores``: :func:`run_scores`) and of the baselines,
    by name."""
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


def root_async(fam: Family) -> str | None:
    """The async method of the family's root config (the original's own staleness)."""
    sc = fam.scores
    if fam.name not in sc.index.get_level_values("config"):
        return None
    root = sc.xs(fam.name, level="config")
    if "async" not in root.index.get_level_values("mode"):
        return None
    return str(root.xs("async", level="mode")["method"].iloc[0])


def seed_scores(fam: Family, method: str, metric: str) -> pd.Series:
    """One method's finite per-run scores, indexed by seed (sorted)."""
    sc = fam.scores[fam.scores["method"] == method]
    s = pd.Series(sc[metric].to_numpy(np.float64), index=sc.index.get_level_values("seed"))
    return s[np.isfinite(s.to_numpy())].sort_index()


def values(fam: Family, method: str, metric: str) -> np.ndarray:
    """One method's finite per-run scores of ``metric``, in run order."""
    return finite(fam.scores.loc[fam.scores["method"] == method, metric])


def baseline_values(fam: Family, policy: str, col: str) -> np.ndarray:
    """One baseline policy's finite per-episode values of ``col``."""
    b = fam.baselines
    return finite(b.loc[b["policy"] == policy, col])


def baseline_policies(fam: Family) -> list[str]:
    """The family's baseline policies: ``BASELINE_ORDER`` first, then any other by name."""
    present = set(fam.baselines["policy"])
    return [p for p in BASELINE_ORDER if p in present] + sorted(present - set(BASELINE_ORDER))
