"""Every figure is written as PNG (300 dpi) and PDF, also from thin data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from analysis import stats
from analysis.consolidate import consolidate
from analysis.figures import BUILDERS, FIGURES, load, make_figures
from analysis.scores import run_scores

from .fixtures import CONFIGS, make_tree


def _check(paths: list[Path], out: Path) -> None:
    assert sorted(paths) == sorted(out / f"{n}.{e}" for n in FIGURES for e in ("png", "pdf"))
    for name in FIGURES:
        png, pdf = out / f"{name}.png", out / f"{name}.pdf"
        assert pdf.read_bytes()[:5] == b"%PDF-"
        with Image.open(png) as im:
            assert im.format == "PNG"
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.5)
            # At 300 dpi a panel of ~3.5 in is ~1000 px wide.
            assert im.size[0] >= 900 and im.size[1] >= 300
    assert not list(out.glob("*.tmp"))


def test_all_figures_from_the_full_grid(consolidated: Path, tmp_path: Path) -> None:
    out = tmp_path / "figures"
    _check(make_figures(consolidated, out), out)


def test_single_seed_single_mode_does_not_crash(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "results", configs=CONFIGS[:1], modes=("async",), seeds=(0,))
    consolidate(**tree.inputs(), out_dir=tmp_path / "c")
    _check(make_figures(tmp_path / "c", tmp_path / "f"), tmp_path / "f")


def test_no_data_still_writes_every_figure(tmp_path: Path) -> None:
    consolidate([], [], [], [], tmp_path / "c")
    _check(make_figures(tmp_path / "c", tmp_path / "f"), tmp_path / "f")


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("learning_curves", ["return"]),
        ("performance_curves", ["throughput_mbps", "connected_users", "coverage"]),
    ],
)
def test_curves_carry_each_baselines_mean(
    consolidated: Path, name: str, columns: list[str]
) -> None:
    data = load(consolidated)
    fig = BUILDERS[name](data)
    try:
        drawn = {
            (line.get_label(), round(float(line.get_ydata()[0]), 6))
            for ax in fig.axes
            for line in ax.get_lines()
            if line.get_label().endswith("(baseline)")
        }
    finally:
        plt.close(fig)
    base = data["baselines"]
    means = base.groupby(["config", "policy"])[columns].mean()
    expected = {
        (f"{policy} (baseline)", round(float(means.loc[(config, policy), col]), 6))
        for config, policy in means.index
        for col in columns
    }
    assert len(expected) == len(set(base["policy"])) * len(set(base["config"])) * len(columns)
    assert drawn == expected


def test_rerun_gives_identical_bytes(consolidated: Path, tmp_path: Path) -> None:
    # Separate interpreters with different hash seeds: set and dict order, font subsetting
    # and timestamps must not leak into the files.
    code = "import sys; from analysis.figures import make_figures; make_figures(*sys.argv[1:])"
    for n in (1, 2):
        env = {**os.environ, "PYTHONHASHSEED": str(n)}
        out = str(tmp_path / f"run{n}")
        subprocess.run(
            [sys.executable, "-c", code, str(consolidated), out],
            env=env,
            cwd=Path(__file__).parents[2],
            check=True,
        )
    first = {p.name: p.read_bytes() for p in (tmp_path / "run1").iterdir()}
    assert len(first) == 2 * len(FIGURES)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run2").iterdir()} == first


def test_staleness_ratios_draw_a_point_per_run_and_lag(consolidated: Path) -> None:
    data = load(consolidated)
    fig = BUILDERS["staleness_ratios"](data)
    try:
        axes = [ax for ax in fig.axes if ax.collections]
        assert len(axes) == 2 * len(CONFIGS)  # clip fraction and KL per family
        sm = data["sync_metrics"]
        fam = sm[sm["family"] == CONFIGS[0]]
        per_run = fam.groupby(["method", "config", "mode", "seed"])[
            [f"clipfrac_lag{k}" for k in range(8)]
        ].mean()
        first = axes[0]
        points = sum(len(c.get_offsets()) for c in first.collections)
        assert points == int(per_run.notna().to_numpy().sum())
        assert first.get_xlabel() == "policy lag (versions)"
        assert "share of samples" in first.get_ylabel()
        assert "nats" in axes[len(CONFIGS)].get_ylabel() or "nats" in axes[1].get_ylabel()
    finally:
        plt.close(fig)


def test_skill_cost_draws_a_point_per_run_with_skills(consolidated: Path) -> None:
    data = load(consolidated)
    fig = BUILDERS["skill_cost"](data)
    try:
        axes = [ax for ax in fig.axes if ax.collections]
        assert len(axes) == len(CONFIGS)
        scores = run_scores(data)
        for ax in axes:
            fam = ax.get_title().split(":")[0]
            runs = scores[(scores["family"] == fam) & (scores["n_ind_skills"] > 1)]
            points = sum(len(c.get_offsets()) for c in ax.collections)
            assert points == len(runs) > 0  # flat MAPPO (one skill) is not drawn
            rho = stats.within_group_spearman(
                runs["ind_skill_margin"], runs["coverage"], runs["method"],
                runs.index.get_level_values("seed"))[0]
            assert f"rho {rho:.2f} [" in ax.get_title()
            assert ax.get_ylabel() == "final eval coverage"
    finally:
        plt.close(fig)
