"""The sync-vs-async table: three formats, expected rows, identical bytes on rerun."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from analysis import stats
from analysis.consolidate import consolidate
from analysis.tables import COST_HEADER, CSV_COLUMNS, PERF_HEADER, make_tables

from .fixtures import CONFIGS, MODES, POLICIES, make_tree


@pytest.fixture(scope="module")
def tables(consolidated: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tables")
    paths = make_tables(consolidated, out)
    return {p.suffix[1:]: p for p in paths}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_three_formats_written(tables: dict[str, Path]) -> None:
    assert sorted(tables) == ["csv", "md", "tex"]
    assert all(p.name.startswith("sync_vs_async.") and p.stat().st_size for p in
               tables.values())


def test_csv_has_a_row_per_config_mode_and_baseline(tables: dict[str, Path]) -> None:
    rows = _csv_rows(tables["csv"])
    assert list(rows[0]) == CSV_COLUMNS
    perf = {(r["config"], r["method"]) for r in rows if r["section"] == "performance"}
    assert perf == {(c, m) for c in CONFIGS for m in (*MODES, *POLICIES)}
    cost = {(r["config"], r["method"]) for r in rows if r["section"] == "cost"}
    assert cost == {(c, m) for c in CONFIGS for m in MODES}
    metrics = {r["metric"] for r in rows if r["section"] == "cost"}
    assert metrics == {"env_steps_per_s", "sync_efficiency", "train_wall_time_s",
                       "peak_rss_mb", "stale_fraction", "mean_lag", "max_lag"}
    cmp_ = {(r["config"], r["estimator"]) for r in rows if r["section"] == "comparison"}
    for c in CONFIGS:
        assert {(c, e) for e in ("poi", "welch_p", "mannwhitney_p")} <= cmp_
    assert ("all", "poi") in cmp_


def test_csv_numbers_match_the_raw_evals(consolidated: Path, tables: dict[str, Path]) -> None:
    # 3 seeds of (CONFIGS[0], sync): final score = mean eval return per seed.
    runs = consolidated.parent / "runs"
    scores = []
    for p in sorted(runs.glob(f"{CONFIGS[0]}/sync/seed*/eval/final.json")):
        scores.append(np.mean([e["return"] for e in json.loads(p.read_text())["per_episode"]]))
    assert len(scores) == 3
    rows = {(r["section"], r["config"], r["method"], r["metric"], r["estimator"]): r
            for r in _csv_rows(tables["csv"])}
    key = ("performance", CONFIGS[0], "sync", "final_return")
    assert float(rows[(*key, "mean")]["value"]) == pytest.approx(np.mean(scores))
    assert float(rows[(*key, "std")]["value"]) == pytest.approx(np.std(scores, ddof=1))
    iqm = rows[(*key, "iqm")]
    point, lo, hi = stats.iqm_ci(scores)
    assert (float(iqm["value"]), float(iqm["low"]), float(iqm["high"])) == pytest.approx(
        (point, lo, hi))
    assert iqm["n"] == "3" and iqm["n_of"] == "seeds"
    stale = rows[("cost", CONFIGS[0], "sync", "stale_fraction", "mean")]
    assert float(stale["value"]) == 0.0
    assert float(rows[("cost", CONFIGS[0], "async", "max_lag", "max")]["value"]) >= 1


def test_markdown_and_latex_tables(tables: dict[str, Path]) -> None:
    md = tables["md"].read_text()
    for header in ("| " + " | ".join(PERF_HEADER) + " |", "| " + " | ".join(COST_HEADER) + " |"):
        assert header in md
    for c in CONFIGS:
        for m in (*MODES, *POLICIES):
            assert re.search(rf"^\| {c} \| {m} \|", md, re.M), (c, m)
    tex = tables["tex"].read_text()
    assert tex.count(r"\toprule") == 3 and tex.count(r"\bottomrule") == 3
    bare = tex.replace(r"\{", "").replace(r"\}", "")
    assert bare.count("{") == bare.count("}")
    # Every body row has as many cells as its header.
    for block in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, re.S):
        ncols = len(block[0])
        body = block[1].split(r"\midrule")[1].split(r"\bottomrule")[0]
        for line in filter(str.strip, body.splitlines()):
            assert line.count(" & ") == ncols - 1, line
    assert "base\\_station" in tex and "±" not in tex


def test_rerun_gives_identical_bytes(consolidated: Path, tables: dict[str, Path],
                                     tmp_path: Path) -> None:
    again = {p.suffix[1:]: p for p in make_tables(consolidated, tmp_path)}
    for ext, path in tables.items():
        assert again[ext].read_bytes() == path.read_bytes(), ext


def test_single_mode_single_seed_degrades(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "results", configs=CONFIGS[:1], modes=("sync",), seeds=(0,))
    consolidate(**tree.inputs(), out_dir=tmp_path / "c")
    paths = make_tables(tmp_path / "c", tmp_path / "t")
    md = Path(paths[1]).read_text()
    assert "needs both modes" in md
    assert re.search(rf"^\| {CONFIGS[0]} \| sync \| 1 \|", md, re.M)


def test_empty_datasets_still_give_tables(tmp_path: Path) -> None:
    consolidate([], [], [], [], tmp_path / "c")
    paths = make_tables(tmp_path / "c", tmp_path / "t")
    assert [p.name for p in paths] == ["sync_vs_async.csv", "sync_vs_async.md",
                                       "sync_vs_async.tex"]
    assert _csv_rows(paths[0]) == []
