"""The paper's figures, from the consolidated Parquet datasets only.

``make_figures`` writes ``{name}.png`` (300 dpi) and ``{name}.pdf`` for every name of
``FIGURES``. Curves are put on a common env-step grid per config (each run binned, gaps
interpolated, see :func:`analysis.stats.run_curve`) before they are aggregated across
seeds: the line is the IQM across seeds, the band its 95 % bootstrap CI (no band with one
seed). A missing mode, config or dataset leaves an empty panel that says so, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis import stats, style  # noqa: E402
from analysis.schema import read  # noqa: E402
from hmasd.io import atomic_path  # noqa: E402

FIGURES = [
    "learning_curves",
    "performance_curves",
    "sync_efficiency",
    "policy_lag",
    "skill_usage",
    "reward_components",
    "final_scores",
]
MODES = ("sync", "async")
BASELINES = ("random", "hover", "kmeans")
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


def configs_of(data: Data) -> list[str]:
    names: set[str] = set()
    for key in ("episodes", "sync_metrics", "reward_components", "skill_usage", "eval"):
        names |= set(data[key]["config"])
    return sorted(names)


def modes_in(df: pd.DataFrame) -> list[str]:
    present = set(df["mode"])
    return [m for m in MODES if m in present] + sorted(present - set(MODES))


def _grid(x: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges over [0, max x] and bin centres; as many bins as the data supports."""
    n = int(min(GRID_POINTS, max(2, x.nunique())))
    edges = np.linspace(0.0, float(x.max()), n + 1)
    return edges, 0.5 * (edges[:-1] + edges[1:])


def seed_curves(df: pd.DataFrame, x: str, y: str, edges: np.ndarray) -> np.ndarray:
    """``(n_seeds, n_points)``: one curve per seed of ``df`` on the grid ``edges``."""
    return np.array([stats.run_curve(g[x], g[y], edges) for _, g in df.groupby("seed")])


def band(ax: Axes, centres: np.ndarray, curves: np.ndarray, label: str, **kw: object) -> None:
    """IQM across seeds, with a 95 % CI band when there are at least 2 seeds."""
    mid, lo, hi = stats.curve_iqm_band(curves)
    ax.plot(centres, mid, label=label, **kw)
    if len(curves) >= 2 and np.isfinite(lo).any():
        ax.fill_between(centres, lo, hi, color=kw.get("color"), alpha=0.2, linewidth=0)


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


def _mode_label(mode: str, df: pd.DataFrame) -> str:
    return f"{mode} (n={_n_seeds(df)})"


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
    """Rows: metrics; columns: configs; lines: modes (IQM across seeds + CI band)."""
    df = data[key]
    configs = configs_of(data)
    if not len(df) or not configs:
        return _empty_figure(f"no {key} data")
    fig, axes = _panels(len(metrics), len(configs))
    for j, config in enumerate(configs):
        sub = df[df["config"] == config]
        for i, (col, ylabel) in enumerate(metrics):
            ax = axes[i, j]
            if not len(sub):
                no_data(ax, f"no {key} data")
                continue
            edges, centres = _grid(sub[x])
            for mode in modes_in(sub):
                runs = sub[sub["mode"] == mode]
                band(ax, centres, seed_curves(runs, x, col, edges), _mode_label(mode, runs),
                     **style.mode_style(mode))
            if baselines:
                # Episode metrics and baseline columns share names, except the return.
                base_col = "return" if col == "env_return" else col
                _baseline_lines(ax, data["baselines"], config, base_col, horizontal=True)
            ax.set_ylabel(ylabel)
            _steps_axis(ax)
            if i == 0:
                ax.set_title(config)
    _legend(fig, axes)
    return fig


def _baseline_lines(ax: Axes, base: pd.DataFrame, config: str, col: str,
                    horizontal: bool) -> None:
    b = base[base["config"] == config]
    for policy in [p for p in BASELINES if p in set(b["policy"])]:
        value = float(b.loc[b["policy"] == policy, col].mean())
        line = ax.axhline if horizontal else ax.axvline
        line(value, color=style.BASELINE_COLOR[policy],
             linestyle=style.BASELINE_LINESTYLE[policy], linewidth=1.0,
             label=f"{policy} (baseline)")


def learning_curves(data: Data) -> Figure:
    """Episode return vs env steps, sync vs async, one panel per config."""
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
    configs = sorted(set(sm["config"]))
    if not configs:
        return _empty_figure("no sync_metrics data")
    fig, axes = _panels(2, len(configs))
    for j, config in enumerate(configs):
        sub = sm[sm["config"] == config]
        ax = axes[0, j]
        edges, centres = _grid(sub["env_steps"])
        modes = modes_in(sub)
        for mode in modes:
            runs = sub[sub["mode"] == mode]
            band(ax, centres, seed_curves(runs, "env_steps", "sync_efficiency", edges),
                 _mode_label(mode, runs), **style.mode_style(mode))
        ax.set_ylabel("sync efficiency\n(samples/s)")
        ax.set_title(config)
        _steps_axis(ax)
        ax = axes[1, j]
        per_run = sub.groupby(["mode", "seed"])[["collection_time", "update_time"]].mean()
        xs = np.arange(len(modes))
        bottom = np.zeros(len(modes))
        for col, colour, label in [
            ("collection_time", style.OKABE_ITO["sky_blue"], "collection"),
            ("update_time", style.OKABE_ITO["orange"], "update"),
        ]:
            g = per_run[col].groupby(level="mode")
            mean = g.mean().reindex(modes).to_numpy()
            std = g.std(ddof=1).reindex(modes).fillna(0.0).to_numpy()
            ax.bar(xs, mean, 0.6, bottom=bottom, color=colour, label=f"{label} time",
                   yerr=std, capsize=3, error_kw={"elinewidth": 0.8})
            bottom = bottom + mean
        ax.set_xticks(xs, modes)
        ax.set_xlim(-0.7, len(modes) - 0.3)
        ax.set_ylabel("time per update (s)")
        ax.grid(axis="x", visible=False)
    _legend(fig, axes)
    return fig


def policy_lag(data: Data) -> Figure:
    """Histograms of the per-update mean and max policy lag (versions), per mode."""
    sm = data["sync_metrics"]
    configs = sorted(set(sm["config"]))
    if not configs:
        return _empty_figure("no sync_metrics data")
    fig, axes = _panels(2, len(configs))
    for j, config in enumerate(configs):
        sub = sm[sm["config"] == config]
        top = max(1.0, float(np.nanmax(sub[["mean_lag", "max_lag"]].to_numpy())))
        # Bins centred on multiples of their width: a strictly on-policy schedule is one
        # bar centred on 0.
        width = 1.0 if top > 3 else 0.25
        edges = np.arange(-width / 2, np.ceil(top) + width, width)
        for i, (col, label) in enumerate([("mean_lag", "mean policy lag per update"),
                                           ("max_lag", "max policy lag per update")]):
            ax = axes[i, j]
            for mode in modes_in(sub):
                runs = sub[sub["mode"] == mode]
                v = runs[col].to_numpy(np.float64)
                v = v[np.isfinite(v)]
                if not v.size:
                    continue
                stale = runs["stale_fraction"].mean()
                ms = style.mode_style(mode)
                ax.hist(v, bins=edges, weights=np.full(v.size, 1.0 / v.size),
                        histtype="stepfilled", alpha=0.35, color=ms["color"])
                ax.hist(v, bins=edges, weights=np.full(v.size, 1.0 / v.size), histtype="step",
                        linewidth=1.4, label=f"{mode} (stale {stale:.2f}, n={_n_seeds(runs)})",
                        **ms)
            ax.set_xlabel(f"{label} (versions)")
            ax.set_ylabel("fraction of updates")
            ax.set_ylim(0, 1.05)
            if i == 0:
                ax.set_title(config)
    _legend(fig, axes)
    return fig


def skill_usage(data: Data) -> Figure:
    """Team-skill share vs env steps (mean across seeds), with the normalised entropy of
    the team-skill counts; rows: modes, columns: configs."""
    su = data["skill_usage"]
    team = su[su["kind"] == "team"]
    if not len(team):
        return _empty_figure("no skill_usage data")
    configs, modes = sorted(set(team["config"])), modes_in(team)
    fig, axes = _panels(len(modes), len(configs))
    skills = sorted(set(team["skill"]))
    for j, config in enumerate(configs):
        for i, mode in enumerate(modes):
            ax = axes[i, j]
            runs = team[(team["config"] == config) & (team["mode"] == mode)]
            if not len(runs):
                no_data(ax, f"no {mode} run")
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
            ax.set_title(f"{config}: {mode} (n={_n_seeds(runs)})")
            _steps_axis(ax)
    _legend(fig, axes)
    return fig


def reward_components(data: Data) -> Figure:
    """Mean per-step env, team-discriminator and individual-discriminator reward terms per
    update vs env steps (IQM across seeds + CI); rows: modes, columns: configs."""
    rc = data["reward_components"]
    if not len(rc):
        return _empty_figure("no reward_components data")
    configs, modes = sorted(set(rc["config"])), modes_in(rc)
    fig, axes = _panels(len(modes), len(configs))
    for j, config in enumerate(configs):
        sub = rc[rc["config"] == config]
        edges, centres = _grid(sub["env_steps"])
        for i, mode in enumerate(modes):
            ax = axes[i, j]
            runs = sub[sub["mode"] == mode]
            if not len(runs):
                no_data(ax, f"no {mode} run")
                continue
            for col, colour in style.COMPONENT_COLOR.items():
                band(ax, centres, seed_curves(runs, "env_steps", col, edges),
                     style.COMPONENT_LABEL[col], color=colour)
            ax.axhline(0.0, color="0.5", linewidth=0.6)
            ax.set_ylabel("reward per step")
            ax.set_title(f"{config}: {mode} (n={_n_seeds(runs)})")
            _steps_axis(ax)
    _legend(fig, axes)
    return fig


def final_scores(data: Data) -> Figure:
    """Final-checkpoint eval return per config x mode: IQM with 95 % bootstrap CI and each
    seed's score; baseline policies as vertical reference lines."""
    ev = data["eval"]
    ev = ev[ev["which"] == "final"]
    base = data["baselines"]
    configs = sorted(set(ev["config"]) | set(base["config"]))
    if not configs:
        return _empty_figure("no eval data")
    fig, axes = _panels(1, len(configs))
    for j, config in enumerate(configs):
        ax = axes[0, j]
        scores = ev[ev["config"] == config].groupby(["mode", "seed"])["return"].mean()
        modes = [m for m in MODES if m in scores.index.get_level_values("mode")]
        for k, mode in enumerate(modes):
            x = scores.loc[mode].to_numpy()
            point, lo, hi = stats.iqm_ci(x)
            ms = style.mode_style(mode)
            y = len(modes) - 1 - k
            ax.errorbar([point], [y], xerr=[[point - lo], [hi - point]], fmt=style.MODE_MARKER[
                mode], color=ms["color"], capsize=4, markersize=6,
                label=f"{mode} IQM, 95% CI (n={x.size})")
            ax.scatter(x, np.full(x.size, y - 0.18), s=10, color=ms["color"], alpha=0.6,
                       linewidths=0, label=f"{mode} seeds")
        _baseline_lines(ax, base, config, "return", horizontal=False)
        ax.set_yticks(range(len(modes)), list(reversed(modes)))
        ax.set_ylim(-0.6, max(len(modes), 1) - 0.4)
        ax.set_xlabel("final eval return (team env reward)")
        ax.set_title(config)
        ax.grid(axis="y", visible=False)
        if not modes:
            ax.text(0.5, 0.5, "no eval of a trained run", transform=ax.transAxes,
                    ha="center", va="center", color="0.4")
    _legend(fig, axes, order=lambda lab: 0 if "IQM" in lab else 1 if "seeds" in lab else 2)
    return fig


BUILDERS: dict[str, Callable[[Data], Figure]] = {
    "learning_curves": learning_curves,
    "performance_curves": performance_curves,
    "sync_efficiency": sync_efficiency,
    "policy_lag": policy_lag,
    "skill_usage": skill_usage,
    "reward_components": reward_components,
    "final_scores": final_scores,
}
assert list(BUILDERS) == FIGURES


def load(consolidated_dir: Path) -> Data:
    names = ["episodes", "sync_metrics", "reward_components", "skill_usage", "eval",
             "baselines"]
    return {n: read(consolidated_dir, n).to_pandas() for n in names}


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
