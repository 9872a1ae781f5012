"""The paper's figures, from the consolidated Parquet datasets only.

``make_figures`` writes ``{name}.png`` (300 dpi) and ``{name}.pdf`` for every name of
``FIGURES``. Panels are config *families* (a config and its ablations, which play the same
episodes), lines their *methods* (HMASD sync, HMASD async at each staleness level, flat
MAPPO, ...), both taken from the ``runs`` dataset. Curves are put on a common env-step
grid per family (each run binned, gaps interpolated, see :func:`analysis.stats.run_curve`):
the line is the IQM across seeds, the band its 95 % bootstrap CI (seeded, so reruns are
byte-identical; no band with one seed). The lag figure's regression band is seaborn's
(``regplot``, seeded). A missing method, family or dataset leaves an empty panel that says
so, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis import stats, style  # noqa: E402
from analysis.outputs import FIGURES  # noqa: E402
from analysis.schema import LAG_LEVELS, read  # noqa: E402
from analysis.scores import (  # noqa: E402
    BASELINE_ORDER,
    RUN_KEYS,
    method_order,
    run_scores,
    skill_runs,
)
from hmasd.io import atomic_path  # noqa: E402

GRID_POINTS = 50
Data = dict[str, pd.DataFrame]


# --------------------------------------------------------------------------------------
# Helpers


def _steps_fmt(x: float, _pos: int) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:g}{suffix}"
    return f"{x:g}"


STEPS = ticker.FuncFormatter(_steps_fmt)


def families_of(data: Data) -> list[str]:
    names: set[str] = set(data["baselines"]["config"])
    for key in ("episodes", "sync_metrics", "reward_components", "skill_usage", "eval"):
        names |= set(data[key]["family"])
    return sorted(names)


def methods_in(df: pd.DataFrame) -> list[str]:
    """The methods of ``df`` in table order (:func:`analysis.scores.method_order`)."""
    return method_order(df) if len(df) else []


def palette(data: Data) -> list[str]:
    """Every method of the data in table order: a method keeps its colour in every panel
    and figure (see :func:`analysis.style.method_style`)."""
    return methods_in(data["runs"])


def _grid(x: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges over [0, max x] and bin centres; as many bins as the data supports."""
    n = int(min(GRID_POINTS, max(2, x.nunique())))
    edges = np.linspace(0.0, float(x.max()), n + 1)
    return edges, 0.5 * (edges[:-1] + edges[1:])


def seed_curves(df: pd.DataFrame, x: str, y: str, edges: np.ndarray) -> np.ndarray:
    """``(n_seeds, n_points)``: one curve per seed of ``df`` on the grid ``edges``."""
    return np.array([stats.run_curve(g[x], g[y], edges) for _, g in df.groupby("seed")])


def band(ax: Axes, centres: np.ndarray, curves: np.ndarray, label: str, **kw: object) -> None:
    """IQM across seeds (rows of ``curves``), with a 95 % CI band when there are at least
    2 seeds. The band is our vectorised stratified bootstrap
    (:func:`analysis.stats.curve_iqm_band`): seaborn's ``lineplot`` would draw the same
    band, but calls a custom estimator once per resample and grid point, about 100x
    slower for the IQM."""
    line = {k: v for k, v in kw.items() if k in ("color", "linestyle")}
    mid, lo, hi = stats.curve_iqm_band(curves)
    ax.plot(centres, mid, label=label, **line)
    if len(curves) >= 2 and np.isfinite(lo).any():
        ax.fill_between(centres, lo, hi, color=line.get("color"), alpha=0.2, linewidth=0)


def no_data(ax: Axes, what: str = "no data") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _panels(nrows: int, ncols: int) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(style.PANEL_W * ncols, style.PANEL_H * nrows))
    return fig, axes


def _n_seeds(df: pd.DataFrame) -> int:
    return int(df["seed"].nunique())


def _method_label(method: str, df: pd.DataFrame) -> str:
    return f"{method} (n={_n_seeds(df)})"


def _steps_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(STEPS)
    ax.set_xlabel("env steps")


def _legend(fig: Figure, axes: np.ndarray, order: Callable[[str], int] | None = None) -> None:
    """One legend per figure, below the panels, with the entries of all panels once each
    (sorted by ``order(label)``, stable); at most 2 columns per panel column so a
    one-panel figure stays one journal column wide."""
    entries: dict[str, object] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(lab, h)
    labels = sorted(entries, key=order) if order else list(entries)
    if labels:
        ncols = min(len(labels), 2 * axes.shape[1], 4)
        fig.legend([entries[k] for k in labels], labels, loc="outside lower center",
                   ncols=ncols)


def _empty_figure(what: str) -> Figure:
    fig, axes = _panels(1, 1)
    no_data(axes[0, 0], what)
    return fig


# --------------------------------------------------------------------------------------
# Figures


def _curves_figure(data: Data, key: str, x: str, metrics: list[tuple[str, str]],
                   baselines: bool = False) -> Figure:
    """Rows: metrics; columns: families; lines: methods (IQM across seeds + CI band)."""
    df = data[key]
    fams = families_of(data)
    if not len(df) or not fams:
        return _empty_figure(f"no {key} data")
    fig, axes = _panels(len(metrics), len(fams))
    colours = palette(data)
    for j, fam in enumerate(fams):
        sub = df[df["family"] == fam]
        for i, (col, ylabel) in enumerate(metrics):
            ax = axes[i, j]
            if not len(sub):
                no_data(ax, f"no {key} data")
                continue
            edges, centres = _grid(sub[x])
            methods = methods_in(sub)
            for method in methods:
                runs = sub[sub["method"] == method]
                band(ax, centres, seed_curves(runs, x, col, edges),
                     _method_label(method, runs), **style.method_style(method, colours))
            if baselines:
                # Episode metrics and baseline columns share names, except the return.
                base_col = "return" if col == "env_return" else col
                _baseline_lines(ax, data["baselines"], fam, base_col, horizontal=True)
            ax.set_ylabel(ylabel)
            _steps_axis(ax)
            if i == 0:
                ax.set_title(fam)
            if ax.get_legend() is not None:
                ax.get_legend().remove()
    _legend(fig, axes)
    return fig


def _baseline_lines(ax: Axes, base: pd.DataFrame, family: str, col: str,
                    horizontal: bool) -> None:
    b = base[base["config"] == family]
    for policy in [p for p in BASELINE_ORDER if p in set(b["policy"])]:
        value = float(b.loc[b["policy"] == policy, col].mean())
        line = ax.axhline if horizontal else ax.axvline
        line(value, color=style.BASELINE_COLOR[policy],
             linestyle=style.BASELINE_LINESTYLE[policy], linewidth=1.0,
             label=f"{policy} (baseline)")


def learning_curves(data: Data) -> Figure:
    """Episode return vs env steps of every method, one panel per family."""
    return _curves_figure(data, "episodes", "env_step",
                          [("env_return", "episode return\n(team env reward)")],
                          baselines=True)


def performance_curves(data: Data) -> Figure:
    """Throughput, connected users and coverage of training episodes vs env steps, with
    the baselines' eval means as reference lines."""
    return _curves_figure(data, "episodes", "env_step", [
        ("throughput_mbps", "throughput (Mbps)"),
        ("connected_users", "connected users"),
        ("coverage", "coverage ratio"),
    ], baselines=True)


def sync_efficiency(data: Data) -> Figure:
    """Top: samples/s per update vs env steps. Bottom: collection vs update time per
    update (mean across seeds of each run's mean; error bar: std across seeds)."""
    sm = data["sync_metrics"]
    fams = sorted(set(sm["family"]))
    if not fams:
        return _empty_figure("no sync_metrics data")
    fig, axes = _panels(2, len(fams))
    colours = palette(data)
    for j, fam in enumerate(fams):
        sub = sm[sm["family"] == fam]
        ax = axes[0, j]
        edges, centres = _grid(sub["env_steps"])
        methods = methods_in(sub)
        for method in methods:
            runs = sub[sub["method"] == method]
            band(ax, centres, seed_curves(runs, "env_steps", "sync_efficiency", edges),
                 _method_label(method, runs), **style.method_style(method, colours))
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.set_ylabel("sync efficiency\n(samples/s)")
        ax.set_title(fam)
        _steps_axis(ax)
        ax = axes[1, j]
        per_run = sub.groupby(["method", "seed"])[["collection_time", "update_time"]].mean()
        xs = np.arange(len(methods))
        bottom = np.zeros(len(methods))
        for col, colour, label in [
            ("collection_time", style.OKABE_ITO["sky_blue"], "collection"),
            ("update_time", style.OKABE_ITO["orange"], "update"),
        ]:
            g = per_run[col].groupby(level="method")
            mean = g.mean().reindex(methods).to_numpy()
            std = g.std(ddof=1).reindex(methods).fillna(0.0).to_numpy()
            ax.bar(xs, mean, 0.6, bottom=bottom, color=colour, label=f"{label} time",
                   yerr=std, capsize=3, error_kw={"elinewidth": 0.8})
            bottom = bottom + mean
        ax.set_xticks(xs, [m.replace(" ", "\n", 1) for m in methods])
        ax.set_xlim(-0.7, len(methods) - 0.3)
        ax.set_ylabel("time per update (s)")
        ax.grid(axis="x", visible=False)
    _legend(fig, axes)
    return fig


def _final_scores(data: Data) -> pd.DataFrame:
    """One row per run with a finite final return (:func:`analysis.scores.run_scores`:
    the final checkpoint's mean eval return under the headline policy): its ids, family,
    method, label, async groups and correction, final return and mean policy lag (mean
    over updates)."""
    scores = run_scores(data)
    scores = scores[np.isfinite(scores["final_return"].to_numpy(np.float64))]
    return scores[["family", "method", "label", "async_groups", "async_correction",
                   "final_return", "mean_lag"]].reset_index()


def _row_of_panels(data: Data, fams: list[str]) -> tuple[Figure, np.ndarray, list[str]]:
    """One row of panels, a family each, and the method colours."""
    fig, axes = _panels(1, len(fams))
    return fig, axes, palette(data)


def _per_family(
    axes: np.ndarray, runs: pd.DataFrame, fams: list[str]
) -> Iterator[tuple[Axes, str, pd.DataFrame, list[str]]]:
    """Each family's panel, its name, its run rows and their methods in table order."""
    for j, fam in enumerate(fams):
        sub = runs[runs["family"] == fam]
        yield axes[0, j], fam, sub, methods_in(sub)


def _run_points(ax: Axes, runs: pd.DataFrame, methods: list[str], colours: list[str],
                x: str, y: str) -> None:
    """One point per run at (``x``, ``y``), in each method's colour and marker."""
    for method in methods:
        pts = runs[runs["method"] == method]
        ms = style.method_style(method, colours)
        ax.scatter(pts[x], pts[y], s=18, color=ms["color"], marker=ms["marker"],
                   label=_method_label(method, pts), zorder=3)


def policy_lag(data: Data) -> Figure:
    """Final return (headline policy) against mean policy lag, one point per run, per
    family; a least-squares line with a seeded 95 % bootstrap band over the runs of the
    family's main label (HMASD: sync and every async level); baselines as references."""
    runs = _final_scores(data)
    runs = runs[np.isfinite(runs["mean_lag"])]
    fams = sorted(set(runs["family"]))
    if not fams:
        return _empty_figure("no eval and lag data")
    fig, axes, colours = _row_of_panels(data, fams)
    for ax, fam, sub, methods in _per_family(axes, runs, fams):
        # The dose-response runs of the tables' primary test: the first method's label,
        # no async correction.
        main = sub[(sub["label"] == sub.drop_duplicates("method").set_index("method").loc[
            methods[0], "label"]) & (sub["async_correction"] == "none")]
        if main["mean_lag"].nunique() > 1:
            sns.regplot(data=main, x="mean_lag", y="final_return", ax=ax, scatter=False,
                        ci=95, n_boot=stats.N_BOOT, seed=stats.SEED, truncate=True,
                        color=style.OKABE_ITO["black"],
                        line_kws={"linewidth": 1.0, "label": "least squares (95% CI)"})
        _run_points(ax, sub, methods, colours, "mean_lag", "final_return")
        _baseline_lines(ax, data["baselines"], fam, "return", horizontal=True)
        ax.set_xlabel("mean policy lag (versions)")
        ax.set_ylabel("final eval return")
        ax.set_title(fam)
    _legend(fig, axes)
    return fig


def skill_usage(data: Data) -> Figure:
    """Team-skill share vs env steps (mean across seeds), with the normalised entropy of
    the team-skill counts; rows: methods with more than one team skill, columns: families."""
    su = data["skill_usage"]
    team = su[su["kind"] == "team"]
    team = team[team.groupby(["config"])["skill"].transform("max") > 0]
    if not len(team):
        return _empty_figure("no skill_usage data")
    fams, methods = sorted(set(team["family"])), methods_in(team)
    fig, axes = _panels(len(methods), len(fams))
    skills = sorted(set(team["skill"]))
    for j, fam in enumerate(fams):
        for i, method in enumerate(methods):
            ax = axes[i, j]
            runs = team[(team["family"] == fam) & (team["method"] == method)]
            if not len(runs):
                no_data(ax, f"no {method} run")
                continue
            counts = runs.pivot_table(index=["seed", "export_step"], columns="skill",
                                      values="count", aggfunc="sum").reindex(columns=skills)
            total = counts.sum(axis=1)
            share = counts.div(total.where(total > 0), axis=0)
            mean_share = share.groupby(level="export_step").mean().fillna(0.0)
            steps = mean_share.index.to_numpy()
            ax.stackplot(steps, mean_share.to_numpy().T, labels=[f"team skill {s}" for s in
                                                                  skills],
                         colors=style.CYCLE[: len(skills)], alpha=0.85)
            div = runs.groupby("export_step")["diversity"].mean()
            ax.plot(div.index, div.to_numpy(), color=style.OKABE_ITO["black"], linewidth=1.2,
                    label="diversity (norm. entropy)")
            ax.set_ylim(0, 1)
            ax.set_ylabel("team-skill share")
            ax.set_title(f"{fam}: {method} (n={_n_seeds(runs)})")
            _steps_axis(ax)
    _legend(fig, axes)
    return fig


def skill_cost(data: Data) -> Figure:
    """Final coverage (headline policy) against the individual skills' signal (q_d's
    accuracy minus the majority rate, last 20% of updates), one point per run of every
    method with skills, per family; the title gives the table's within-method Spearman
    rho (:func:`analysis.stats.within_group_spearman`); baselines as references."""
    runs = skill_runs(run_scores(data)).reset_index()
    ok = np.isfinite(runs["ind_skill_margin"].to_numpy(np.float64)) & np.isfinite(
        runs["coverage"].to_numpy(np.float64))
    runs = runs[ok]
    fams = sorted(set(runs["family"]))
    if not fams:
        return _empty_figure("no skill and eval data")
    fig, axes, colours = _row_of_panels(data, fams)
    for ax, fam, sub, methods in _per_family(axes, runs, fams):
        _run_points(ax, sub, methods, colours, "ind_skill_margin", "coverage")
        _baseline_lines(ax, data["baselines"], fam, "coverage", horizontal=True)
        rho, lo, hi, p = stats.within_group_spearman(
            sub["ind_skill_margin"], sub["coverage"], sub["method"], sub["seed"])
        ax.set_xlabel("ind. skill margin (q_d accuracy - majority rate)")
        ax.set_ylabel("final eval coverage")
        shown = "p < 0.001" if p < 0.001 else f"p {p:.3f}"
        ax.set_title(f"{fam}: rho {rho:.2f} [{lo:.2f}, {hi:.2f}], {shown}"
                     if np.isfinite(rho) else fam)
    _legend(fig, axes)
    return fig


def reward_components(data: Data) -> Figure:
    """Mean per-step env, team-discriminator and individual-discriminator reward terms per
    update vs env steps (IQM across seeds + CI); rows: methods, columns: families."""
    rc = data["reward_components"]
    if not len(rc):
        return _empty_figure("no reward_components data")
    fams, methods = sorted(set(rc["family"])), methods_in(rc)
    fig, axes = _panels(len(methods), len(fams))
    for j, fam in enumerate(fams):
        sub = rc[rc["family"] == fam]
        edges, centres = _grid(sub["env_steps"])
        for i, method in enumerate(methods):
            ax = axes[i, j]
            runs = sub[sub["method"] == method]
            if not len(runs):
                no_data(ax, f"no {method} run")
                continue
            for col, colour in style.COMPONENT_COLOR.items():
                band(ax, centres, seed_curves(runs, "env_steps", col, edges),
                     style.COMPONENT_LABEL[col], color=colour)
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            ax.axhline(0.0, color="0.5", linewidth=0.6)
            ax.set_ylabel("reward per step")
            ax.set_title(f"{fam}: {method} (n={_n_seeds(runs)})")
            _steps_axis(ax)
    _legend(fig, axes)
    return fig


def final_scores(data: Data) -> Figure:
    """Final-checkpoint eval return (headline policy) per family x method: IQM with 95 %
    bootstrap CI and each seed's score; baseline policies as vertical reference lines."""
    runs = _final_scores(data)
    base = data["baselines"]
    fams = sorted(set(runs["family"]) | set(base["config"]))
    if not fams:
        return _empty_figure("no eval data")
    fig, axes, colours = _row_of_panels(data, fams)
    for ax, fam, sub, methods in _per_family(axes, runs, fams):
        for k, method in enumerate(methods):
            x = sub.loc[sub["method"] == method, "final_return"].to_numpy()
            point, lo, hi = stats.iqm_ci(x)
            ms = style.method_style(method, colours)
            y = len(methods) - 1 - k
            ax.errorbar([point], [y], xerr=[[point - lo], [hi - point]], fmt=ms["marker"],
                        color=ms["color"], capsize=4, markersize=6,
                        label=f"{method} IQM, 95% CI (n={x.size})")
            ax.scatter(x, np.full(x.size, y - 0.18), s=10, color=ms["color"], alpha=0.6,
                       linewidths=0, label=f"{method} seeds")
        _baseline_lines(ax, base, fam, "return", horizontal=False)
        ax.set_yticks(range(len(methods)), list(reversed(methods)))
        ax.set_ylim(-0.6, max(len(methods), 1) - 0.4)
        ax.set_xlabel("final eval return (team env reward)")
        ax.set_title(fam)
        ax.grid(axis="y", visible=False)
        if not methods:
            ax.text(0.5, 0.5, "no eval of a trained run", transform=ax.transAxes,
                    ha="center", va="center", color="0.4")
    _legend(fig, axes, order=lambda lab: 0 if "IQM" in lab else 1 if "seeds" in lab else 2)
    return fig


STALENESS_PANELS = (
    ("clipfrac_lag", "first-epoch clip fraction\n(share of samples)"),
    ("approx_kl_lag", "first-epoch approx. KL\n(nats)"),
)


def staleness_ratios(data: Data) -> Figure:
    """How far the learner's policy at the start of an update is from the behaviour policy
    of samples of each policy lag: clip fraction and approx KL of pi / pi_behav against lag
    (versions), one point per (run, lag) = the run's mean over its updates, a line through
    each method's mean per lag. Rows: the two measures; columns: families."""
    sm = data["sync_metrics"]
    fams = sorted(set(sm["family"]))
    if not fams:
        return _empty_figure("no sync_metrics data")
    fig, axes = _panels(len(STALENESS_PANELS), len(fams))
    colours = palette(data)
    lags = np.arange(LAG_LEVELS)
    for j, fam in enumerate(fams):
        sub = sm[sm["family"] == fam]
        methods = methods_in(sub)
        for i, (prefix, ylabel) in enumerate(STALENESS_PANELS):
            ax = axes[i, j]
            cols = [f"{prefix}{k}" for k in lags]
            per_run = sub.groupby(["method", *RUN_KEYS])[cols].mean()
            drawn = False
            for m_i, method in enumerate(methods):
                if method not in per_run.index.get_level_values("method"):
                    continue
                values = per_run.xs(method, level="method").to_numpy(np.float64)
                ms = style.method_style(method, colours)
                # A small offset per method keeps overlapping points apart.
                dx = 0.08 * (m_i - (len(methods) - 1) / 2)
                xs = np.broadcast_to(lags + dx, values.shape)
                ok = np.isfinite(values)
                if not ok.any():
                    continue
                drawn = True
                ax.scatter(xs[ok], values[ok], s=12, color=ms["color"], marker=ms["marker"],
                           alpha=0.7, linewidths=0, zorder=3,
                           label=f"{method} (n={len(values)})")
                count = ok.sum(axis=0)
                mean = np.where(count > 0, np.where(ok, values, 0.0).sum(axis=0)
                                / np.maximum(count, 1), np.nan)
                ax.plot(lags + dx, mean, color=ms["color"], linestyle=ms["linestyle"],
                        linewidth=1.0)
            if not drawn:
                no_data(ax, "no per-lag data")
                continue
            ax.set_xticks(lags)
            ax.set_xlabel("policy lag (versions)")
            ax.set_ylabel(ylabel)
            if i == 0:
                ax.set_title(fam)
    _legend(fig, axes)
    return fig


BUILDERS: dict[str, Callable[[Data], Figure]] = {
    "learning_curves": learning_curves,
    "performance_curves": performance_curves,
    "sync_efficiency": sync_efficiency,
    "policy_lag": policy_lag,
    "skill_usage": skill_usage,
    "skill_cost": skill_cost,
    "reward_components": reward_components,
    "final_scores": final_scores,
    "staleness_ratios": staleness_ratios,
}
assert list(BUILDERS) == FIGURES, "analysis/outputs.py lists the figures built here"


def load(consolidated_dir: Path) -> Data:
    """The datasets the figures read, each run's rows joined with its family, method and
    headline policy from ``runs``; ``benchmarks`` as stored, for the per-run scores
    (:func:`analysis.scores.run_scores`)."""
    names = ["episodes", "sync_metrics", "reward_components", "skill_usage", "eval"]
    runs = read(consolidated_dir, "runs").to_pandas()
    meta = runs[[*RUN_KEYS, "family", "method", "label", "async_groups", "async_correction",
                 "eval_policy"]]
    data = {n: read(consolidated_dir, n).to_pandas().merge(meta, on=RUN_KEYS, how="inner")
            for n in names}
    data["runs"] = runs
    data["baselines"] = read(consolidated_dir, "baselines").to_pandas()
    data["benchmarks"] = read(consolidated_dir, "benchmarks").to_pandas()
    return data


def save(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``name.png`` (300 dpi) and ``name.pdf`` atomically, without timestamps."""
    paths = []
    for ext, meta in [("png", {"Software": None}), ("pdf", {"CreationDate": None})]:
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=style.DPI, metadata=meta)
        paths.append(path)
    return paths


def make_figures(consolidated_dir: Path, out_dir: Path) -> list[Path]:
    """Render every figure of ``FIGURES`` from the consolidated Parquet under
    ``consolidated_dir`` into ``out_dir``; returns the written paths."""
    data = load(Path(consolidated_dir))
    written: list[Path] = []
    with matplotlib.rc_context(style.rc()):
        for name in FIGURES:
            fig = BUILDERS[name](data)
            try:
                written += save(fig, Path(out_dir), name)
            finally:
                plt.close(fig)
    return written
