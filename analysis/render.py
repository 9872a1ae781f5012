"""Rendering of the table cells (:mod:`analysis.cells`): ``sync_vs_async.{csv,md,tex}``
and ``readme_summary.md``.

The CSV is tidy (one number per line, ``value`` and for intervals ``low``/``high``), for
machines; the Markdown and LaTeX are for people, one table per section of
:data:`SECTIONS`; ``readme_summary.md`` is the short table the README quotes, with the
machine it came from. Rendering depends on nothing but the cells (and the runs' machines
and step counts for the README), so equal cells give equal bytes.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from analysis import stats
from analysis.cells import ALPHA, POWER, PRIMARIES, Cell
from analysis.scores import COST_METRICS, POLICIES

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
SKILL_COST_HEADER = ["Family", "Runs", "Outcome", "N runs (methods)",
                     "Spearman rho, ind. skill margin vs outcome, within method [95% CI]",
                     "Permutation p"]
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


def skill_cost_rows(cells: list[Cell], st: Style) -> list[list[str]]:
    """Per family and outcome: the within-method rank association of the individual
    skills' margin over the majority rate with the outcome."""
    lk = Lookup(cells)
    rows = []
    for fam, meth, metric in _keys(cells, "skill_cost", "family", "method", "metric"):
        c = lk.get("skill_cost", fam, meth, metric, "spearman_within")
        rows.append([st.escape(fam), st.escape(meth), st.escape(METRIC_LABEL[metric]),
                     f"{c.n} ({c.n_ref})", lk.interval("skill_cost", fam, meth, metric,
                                                       "spearman_within", st, 2),
                     _p(lk.value("skill_cost", fam, meth, metric, "perm_p"), st)])
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
    """The tables (claims, performance, policies, comparison, skills, skill cost, cost) as
    rows."""
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
            "skills": skill_rows(cells, st), "skill_cost": skill_cost_rows(cells, st),
            "cost": cost}


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
        "batch. Skill cost: over every run of the family's methods with individual skills, "
        "Spearman's rho between a run's individual-skill margin (q_d accuracy minus the "
        "majority rate) and its final outcome, both centred on the run's method mean (so "
        "only runs of one method are compared), with a bootstrap CI over seeds and a "
        "permutation p (outcomes shuffled within method); descriptive, no verdict: the "
        "skills' strength is not assigned per run. Last-20% variability: std of the binned "
        "episode-return curve over the last 20% of env steps. Lag counts policy versions "
        "(one per update), so strict sync has lag 0 by construction."
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
    ("skill_cost", "Do the skills cost performance?", SKILL_COST_HEADER),
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
    coverage IQM with CIs), the primary comparisons with their verdicts, the skills and
    skill-cost rows, and the machine the runs trained on."""
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
        "Do the skills cost performance? (every HMASD run of a family: Spearman rho between "
        "its individual skills' accuracy over the majority rate and its final outcome, "
        "within method; CI over seeds, permutation p; descriptive)",
        "",
        _md_table(SKILL_COST_HEADER, t["skill_cost"]),
        "",
    ])
