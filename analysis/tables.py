"""The sync-vs-async comparison table: ``sync_vs_async.{csv,md,tex}``.

Each row of the seed README's comparison table is measured, not asserted:

| seed row | measured by |
|---|---|
| training mode | the ``method`` (sync / async) of a row |
| on-policy guarantee | stale-sample fraction, mean and max policy lag per update |
| training stability | std of the final return across seeds; variability of the last
  20 % of the learning curve (:func:`analysis.stats.curve_variability`) |
| memory use | peak RSS of the train job (Snakemake benchmark ``max_rss``) |
| training speed | env-steps/s (sync_metrics), sync efficiency, train wall time |

plus the final return, throughput, connected users and coverage of the final checkpoint,
with baseline policies (random, hover, kmeans) for scale. Per (config, mode): mean +/- std
across seeds and the IQM with a 95 % stratified-bootstrap CI; per config:
P(sync > async) with CI, Welch's t-test and Mann-Whitney U, with the seed counts.

The CSV is tidy (one number per line: ``value`` and, for intervals, ``low``/``high``), for
machines; the Markdown and LaTeX are for people. All three are byte-identical on rerun:
the bootstrap RNG is seeded (``analysis.stats.SEED``) and nothing depends on time.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import stats
from analysis.schema import read
from hmasd.io import atomic_write_text

MODES = ("sync", "async")
BASELINE_ORDER = ("random", "hover", "kmeans")
EVAL_METRICS = {  # eval.parquet column -> metric name of the table
    "return": "final_return",
    "throughput_mbps": "throughput_mbps",
    "connected_users": "connected_users",
    "coverage": "coverage",
}
CSV_COLUMNS = ["section", "config", "method", "metric", "estimator", "value", "low", "high",
               "n", "n_of", "n_ref"]
# Decimal places of each metric in the Markdown/LaTeX tables.
DECIMALS = {
    "final_return": 2, "throughput_mbps": 1, "connected_users": 1, "coverage": 3,
    "curve_variability": 2, "env_steps_per_s": 0, "sync_efficiency": 0,
    "train_wall_time_s": 0, "peak_rss_mb": 0, "stale_fraction": 3, "mean_lag": 2,
    "max_lag": 0,
}


@dataclass(frozen=True)
class Cell:
    """One number of the table (a CSV line)."""

    section: str
    config: str
    method: str
    metric: str
    estimator: str
    value: float
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    n_of: str = "seeds"
    n_ref: int | None = None


# --------------------------------------------------------------------------------------
# Per-run scores


def run_scores(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (config, mode, seed) with every per-run number of the table (NaN where a
    run lacks that data)."""
    keys = ["config", "mode", "seed"]
    ev = data["eval"]
    ev = ev[ev["which"] == "final"]
    parts = [ev.groupby(keys)[list(EVAL_METRICS)].mean().rename(columns=EVAL_METRICS)]
    ep = data["episodes"]
    if len(ep):
        var = ep.groupby(keys)[["env_step", "env_return"]].apply(
            lambda g: stats.curve_variability(g["env_step"], g["env_return"])
        )
        parts.append(var.rename("curve_variability").to_frame())
    sm = data["sync_metrics"]
    if len(sm):
        g = sm.groupby(keys)
        speed = g["env_steps"].max() / g["wall_time"].max()
        parts.append(pd.DataFrame({
            "env_steps_per_s": speed.where(np.isfinite(speed)),
            "sync_efficiency": g["sync_efficiency"].mean(),
            "stale_fraction": g["stale_fraction"].mean(),
            "mean_lag": g["mean_lag"].mean(),
            "max_lag": g["max_lag"].max().astype(np.float64),
        }))
    bm = data["benchmarks"]
    bm = bm[bm["rule"] == "train"]
    if len(bm):
        g = bm.groupby(keys)
        parts.append(pd.DataFrame({"train_wall_time_s": g["s"].mean(),
                                   "peak_rss_mb": g["max_rss"].max()}))
    out = pd.concat(parts, axis=1).sort_index()
    for col in [*EVAL_METRICS.values(), "curve_variability", "env_steps_per_s",
                "sync_efficiency", "stale_fraction", "mean_lag", "max_lag",
                "train_wall_time_s", "peak_rss_mb"]:
        if col not in out:
            out[col] = np.nan
    return out


def _finite(x: Iterable[float]) -> np.ndarray:
    a = np.asarray(list(x), np.float64)
    return a[np.isfinite(a)]


def spread_cells(section: str, config: str, method: str, metric: str, x: np.ndarray,
                 n_of: str = "seeds", with_iqm: bool = False) -> list[Cell]:
    """mean, std (and IQM with CI) of one metric's per-run (or per-episode) values."""
    x = _finite(x)
    mean, std = stats.mean_std(x)
    cells = [Cell(section, config, method, metric, "mean", mean, n=x.size, n_of=n_of),
             Cell(section, config, method, metric, "std", std, n=x.size, n_of=n_of)]
    if with_iqm:
        point, lo, hi = stats.iqm_ci(x)
        cells.append(Cell(section, config, method, metric, "iqm", point, lo, hi, x.size, n_of))
    return cells


def build_cells(data: dict[str, pd.DataFrame]) -> list[Cell]:
    """Every number of the table, in a fixed order (config, method, metric)."""
    scores = run_scores(data)
    base = data["baselines"]
    configs = sorted(set(scores.index.get_level_values("config")) | set(base["config"]))
    cells: list[Cell] = []
    for config in configs:
        present = [m for m in MODES if (config, m) in scores.droplevel("seed").index]
        for mode in present:
            s = scores.loc[(config, mode)]
            for metric in EVAL_METRICS.values():
                cells += spread_cells("performance", config, mode, metric, s[metric],
                                      with_iqm=True)
            cells += spread_cells("performance", config, mode, "curve_variability",
                                  s["curve_variability"])
            for metric in ["env_steps_per_s", "sync_efficiency", "train_wall_time_s",
                           "peak_rss_mb", "stale_fraction", "mean_lag"]:
                cells += spread_cells("cost", config, mode, metric, s[metric])
            lag = _finite(s["max_lag"])
            cells.append(Cell("cost", config, mode, "max_lag", "max",
                              float(lag.max()) if lag.size else math.nan, n=lag.size))
        policies = set(base.loc[base["config"] == config, "policy"])
        for policy in [p for p in BASELINE_ORDER if p in policies] + sorted(
                policies - set(BASELINE_ORDER)):
            b = base[(base["config"] == config) & (base["policy"] == policy)]
            for col, metric in EVAL_METRICS.items():
                cells += spread_cells("performance", config, policy, metric, b[col],
                                      n_of="episodes", with_iqm=True)
        if set(MODES) <= set(present):
            cells += comparison_cells(config, scores)
    both = [c for c in configs if all((c, m) in scores.droplevel("seed").index for m in MODES)]
    if len(both) > 1:
        for metric in EVAL_METRICS.values():
            tasks = [(_finite(scores.loc[(c, "sync")][metric]),
                      _finite(scores.loc[(c, "async")][metric])) for c in both]
            point, lo, hi = stats.poi_ci(tasks)
            cells.append(Cell("comparison", "all", "sync>async", metric, "poi", point, lo, hi,
                              sum(x.size for x, _ in tasks), "seeds",
                              sum(y.size for _, y in tasks)))
    return cells


def comparison_cells(config: str, scores: pd.DataFrame) -> list[Cell]:
    """P(sync > async) with CI and the two tests, per eval metric of one config."""
    cells = []
    for metric in EVAL_METRICS.values():
        x = _finite(scores.loc[(config, "sync")][metric])
        y = _finite(scores.loc[(config, "async")][metric])
        point, lo, hi = stats.poi_ci([(x, y)])
        t, p_t = stats.welch_t(x, y)
        u, p_u = stats.mann_whitney(x, y)
        common = dict(n=x.size, n_of="seeds", n_ref=y.size)
        cells += [
            Cell("comparison", config, "sync>async", metric, "poi", point, lo, hi, **common),
            Cell("comparison", config, "sync>async", metric, "welch_t", t, **common),
            Cell("comparison", config, "sync>async", metric, "welch_p", p_t, **common),
            Cell("comparison", config, "sync>async", metric, "mannwhitney_u", u, **common),
            Cell("comparison", config, "sync>async", metric, "mannwhitney_p", p_u, **common),
        ]
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
        w.writerow([c.section, c.config, c.method, c.metric, c.estimator, _num(c.value),
                    _num(c.low), _num(c.high), c.n, c.n_of,
                    "" if c.n_ref is None else c.n_ref])
    return buf.getvalue()


@dataclass(frozen=True)
class Style:
    """How the Markdown and LaTeX renderings spell the pieces of a cell."""

    pm: str
    missing: str
    escape: Callable[[str], str]


MD = Style(pm=" ± ", missing="–", escape=lambda s: s.replace("|", "\\|"))


TEX_ESCAPES = str.maketrans({
    "\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
    "{": r"\{", "}": r"\}", ">": "$>$", "<": "$<$", "±": r"$\pm$",
})


def _tex_escape(s: str) -> str:
    return s.translate(TEX_ESCAPES)


TEX = Style(pm=r" $\pm$ ", missing="--", escape=_tex_escape)


def _f(v: float, d: int, st: Style) -> str:
    return f"{v:.{d}f}" if math.isfinite(v) else st.missing


def _p(v: float, st: Style) -> str:
    if not math.isfinite(v):
        return st.missing
    return ("$<$0.001" if st is TEX else "<0.001") if v < 0.001 else f"{v:.3f}"


class Lookup:
    """Cells indexed by (section, config, method, metric, estimator)."""

    def __init__(self, cells: list[Cell]) -> None:
        self.d = {(c.section, c.config, c.method, c.metric, c.estimator): c for c in cells}

    def get(self, *key: str) -> Cell | None:
        return self.d.get(key)

    def mean_std(self, sec: str, cfg: str, meth: str, metric: str, st: Style) -> str:
        m, s = self.get(sec, cfg, meth, metric, "mean"), self.get(sec, cfg, meth, metric, "std")
        d = DECIMALS[metric]
        if m is None or not math.isfinite(m.value):
            return st.missing
        return _f(m.value, d, st) + (st.pm + _f(s.value, d, st) if s and math.isfinite(
            s.value) else "")

    def interval(self, sec: str, cfg: str, meth: str, metric: str, est: str, d: int,
                 st: Style) -> str:
        c = self.get(sec, cfg, meth, metric, est)
        if c is None or not math.isfinite(c.value):
            return st.missing
        if not (math.isfinite(c.low) and math.isfinite(c.high)):
            return _f(c.value, d, st)
        return f"{_f(c.value, d, st)} [{_f(c.low, d, st)}, {_f(c.high, d, st)}]"


PERF_HEADER = ["Config", "Method", "N", "Final return", "IQM [95% CI]", "Throughput (Mbps)",
               "Connected users", "Coverage", "Return std (seeds)", "Last-20% variability"]
COST_HEADER = ["Config", "Method", "N", "Env-steps/s", "Sync eff. (samples/s)",
               "Train wall (s)", "Peak RSS (MB)", "Stale fraction", "Mean lag", "Max lag"]
CMP_HEADER = ["Config", "Metric", "N sync/async", "P(sync > async) [95% CI]", "Welch t (p)",
              "Mann-Whitney U (p)"]
METRIC_LABEL = {"final_return": "Final return", "throughput_mbps": "Throughput (Mbps)",
                "connected_users": "Connected users", "coverage": "Coverage"}


def _methods(cells: list[Cell], section: str) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for c in cells:
        if c.section == section:
            seen[(c.config, c.method)] = None
    return list(seen)


def table_rows(cells: list[Cell], st: Style) -> dict[str, list[list[str]]]:
    """The three tables (performance, cost, comparison) as rows of formatted strings."""
    lk = Lookup(cells)
    perf, cost, cmp_ = [], [], []
    for cfg, meth in _methods(cells, "performance"):
        ret = lk.get("performance", cfg, meth, "final_return", "mean")
        n = f"{ret.n} {'eps' if ret.n_of == 'episodes' else ''}".strip() if ret else "0"
        std = lk.get("performance", cfg, meth, "final_return", "std")
        seeded = ret is not None and ret.n_of == "seeds"
        perf.append([
            st.escape(cfg), st.escape(meth), n,
            lk.mean_std("performance", cfg, meth, "final_return", st),
            lk.interval("performance", cfg, meth, "final_return", "iqm", 2, st),
            lk.mean_std("performance", cfg, meth, "throughput_mbps", st),
            lk.mean_std("performance", cfg, meth, "connected_users", st),
            lk.mean_std("performance", cfg, meth, "coverage", st),
            _f(std.value, 2, st) if seeded and std else st.missing,
            lk.mean_std("performance", cfg, meth, "curve_variability", st),
        ])
    for cfg, meth in _methods(cells, "cost"):
        n = lk.get("cost", cfg, meth, "env_steps_per_s", "mean")
        mx = lk.get("cost", cfg, meth, "max_lag", "max")
        cost.append([
            st.escape(cfg), st.escape(meth), str(n.n if n else 0),
            *[lk.mean_std("cost", cfg, meth, m, st) for m in
              ["env_steps_per_s", "sync_efficiency", "train_wall_time_s", "peak_rss_mb",
               "stale_fraction", "mean_lag"]],
            _f(mx.value, 0, st) if mx else st.missing,
        ])
    for cfg, _ in _methods(cells, "comparison"):
        for metric, label in METRIC_LABEL.items():
            poi = lk.get("comparison", cfg, "sync>async", metric, "poi")
            if poi is None:
                continue
            row = [st.escape(cfg), st.escape(label), f"{poi.n}/{poi.n_ref}",
                   lk.interval("comparison", cfg, "sync>async", metric, "poi", 2, st)]
            for stat_, p_ in [("welch_t", "welch_p"), ("mannwhitney_u", "mannwhitney_p")]:
                s = lk.get("comparison", cfg, "sync>async", metric, stat_)
                p = lk.get("comparison", cfg, "sync>async", metric, p_)
                row.append(st.missing if s is None or not math.isfinite(s.value)
                           else f"{_f(s.value, 2, st)} ({_p(p.value, st)})")
            cmp_.append(row)
    return {"performance": perf, "cost": cost, "comparison": cmp_}


NOTES = (
    "N: seeds per row (baselines: eval episodes). Final return and performance: eval of the "
    "final checkpoint, mean ± std across seeds; IQM with a 95% stratified-bootstrap CI "
    f"({stats.N_BOOT} resamples, RNG seed {stats.SEED}). Last-20% variability: std of the "
    "binned episode-return curve over the last 20% of env steps, mean ± std across seeds. "
    "Env-steps/s: env steps / wall time of the run; sync efficiency: samples / (collection + "
    "update time) per update; wall time and peak RSS: Snakemake benchmark of the train job. "
    "Lag counts policy versions (one per update), so strict sync has lag 0 by construction. "
    "P(sync > async): probability of improvement over seed pairs with a bootstrap CI; "
    "Welch t and Mann-Whitney U are two-sided, p in parentheses."
)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(cells: list[Cell]) -> str:
    t = table_rows(cells, MD)
    parts = [
        "# Sync vs async: measured comparison", "", NOTES, "",
        "## Performance and stability", "", _md_table(PERF_HEADER, t["performance"]), "",
        "## Speed, memory and on-policy-ness", "", _md_table(COST_HEADER, t["cost"]), "",
        "## Sync vs async per config", "",
        _md_table(CMP_HEADER, t["comparison"]) if t["comparison"]
        else "(needs both modes of a config)", "",
    ]
    return "\n".join(parts)


def _tex_table(caption: str, label: str, header: list[str], rows: list[list[str]],
               align: str) -> str:
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
        f"  \\begin{{tabular}}{{{align}}}",
        r"    \toprule",
        f"    {head} \\\\",
        r"    \midrule",
        body,
        r"    \bottomrule",
        r"  \end{tabular}}",
        r"\end{table*}",
        "",
    ])


def to_latex(cells: list[Cell]) -> str:
    t = table_rows(cells, TEX)
    notes = _tex_escape(NOTES)
    return "\n".join([
        "% Sync vs async comparison, generated by analysis/tables.py.",
        r"% Needs \usepackage{booktabs} and \usepackage{graphicx} (for \resizebox).",
        "",
        _tex_table("Performance and stability of the final checkpoint. " + notes,
                   "tab:sync-vs-async-performance", PERF_HEADER, t["performance"],
                   "ll" + "r" * (len(PERF_HEADER) - 2)),
        _tex_table("Speed, memory and on-policy-ness per training mode.",
                   "tab:sync-vs-async-cost", COST_HEADER, t["cost"],
                   "ll" + "r" * (len(COST_HEADER) - 2)),
        _tex_table("Sync vs async per config: probability of improvement and two-sided "
                   "tests (p in parentheses).", "tab:sync-vs-async-tests", CMP_HEADER,
                   t["comparison"], "ll" + "r" * (len(CMP_HEADER) - 2)),
    ])


def load(consolidated_dir: Path) -> dict[str, pd.DataFrame]:
    """The consolidated datasets the table needs, checked against their schemas."""
    names = ["eval", "episodes", "sync_metrics", "benchmarks", "baselines"]
    return {n: read(consolidated_dir, n).to_pandas() for n in names}


def make_tables(consolidated_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``out_dir/sync_vs_async.{csv,md,tex}`` from the consolidated Parquet."""
    cells = build_cells(load(Path(consolidated_dir)))
    out_dir = Path(out_dir)
    written = []
    for ext, render in [("csv", to_csv), ("md", to_markdown), ("tex", to_latex)]:
        path = out_dir / f"sync_vs_async.{ext}"
        atomic_write_text(path, render(cells))
        written.append(path)
    return written
