"""The study's tables: formats, expected rows and comparisons, verdicts, identical bytes on
rerun."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from analysis import stats
from analysis.consolidate import consolidate
from analysis.tables import (
    CLAIMS_HEADER,
    COST_HEADER,
    CSV_COLUMNS,
    PERF_HEADER,
    SECTIONS,
    make_tables,
)

from .fixtures import CONFIGS, POLICIES, make_tree

FILES = ["sync_vs_async.csv", "sync_vs_async.md", "sync_vs_async.tex", "readme_summary.md"]
METHODS = {
    CONFIGS[0]: ["HMASD sync", "HMASD async G=4", "HMASD async G=8", "flat MAPPO sync"],
    CONFIGS[1]: ["HMASD sync", "HMASD async G=4"],
}


@pytest.fixture(scope="module")
def tables(consolidated: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tables")
    return {p.name: p for p in make_tables(consolidated, out)}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_four_files_written(tables: dict[str, Path]) -> None:
    assert sorted(tables) == sorted(FILES)
    assert all(p.stat().st_size for p in tables.values())


def test_csv_has_a_row_per_method_and_baseline(tables: dict[str, Path]) -> None:
    rows = _csv_rows(tables["sync_vs_async.csv"])
    assert list(rows[0]) == CSV_COLUMNS
    perf = {(r["family"], r["method"]) for r in rows if r["section"] == "performance"}
    assert perf == {(f, m) for f, ms in METHODS.items() for m in (*ms, *POLICIES)}
    cost = {(r["family"], r["method"]) for r in rows if r["section"] == "cost"}
    assert cost == {(f, m) for f, ms in METHODS.items() for m in ms}
    metrics = {r["metric"] for r in rows if r["section"] == "cost"}
    assert metrics == {"env_steps_per_s", "sync_efficiency", "train_wall_time_s",
                       "peak_rss_mb", "stale_fraction", "mean_lag", "max_lag"}
    both = {(r["family"], r["method"], r["policy"]) for r in rows if r["section"] == "policies"}
    assert both == {(f, m, p) for f, ms in METHODS.items() for m in ms
                    for p in ("deterministic", "stochastic")}


def test_comparisons_cover_every_method_and_baseline(tables: dict[str, Path]) -> None:
    rows = [r for r in _csv_rows(tables["sync_vs_async.csv"]) if r["section"] == "comparison"]
    got = {(r["family"], r["method"], r["estimator"]) for r in rows}
    for fam, methods in METHODS.items():
        for other in methods[1:]:
            for est in ("poi", "mean_diff", "welch_p", "mannwhitney_p"):
                assert (fam, f"HMASD sync > {other}", est) in got
        for policy in POLICIES:
            for est in ("paired_diff", "wilcoxon_p"):
                assert (fam, f"HMASD sync - {policy} (paired episodes)", est) in got
        assert (fam, "HMASD sync / kmeans", "ratio") in got
        assert (fam, "final return vs mean policy lag", "slope") in got
    # Paired comparisons use the shared evaluation episodes.
    paired = [r for r in rows if r["estimator"] == "paired_diff"]
    assert {r["n_of"] for r in paired} == {"episodes"}
    assert {r["n"] for r in paired} == {"4"}


def test_claims_are_checked_with_a_verdict(tables: dict[str, Path]) -> None:
    rows = [r for r in _csv_rows(tables["sync_vs_async.csv"]) if r["section"] == "claims"]
    verdicts = {(r["family"], r["metric"]): r["verdict"] for r in rows
                if r["estimator"] == "verdict"}
    for fam in CONFIGS:
        assert {m for f, m in verdicts if f == fam} == {
            "stale_fraction", "curve_variability", "peak_rss_mb", "env_steps_per_s",
            "final_return"}
        # Sync has no stale sample in any update, the fixture's async has some.
        assert verdicts[(fam, "stale_fraction")] == "holds"
        for v in verdicts.values():
            assert v in ("holds", "refuted") or re.fullmatch(r"not resolved at N=\d+", v)
    md = tables["sync_vs_async.md"].read_text()
    assert "| " + " | ".join(CLAIMS_HEADER) + " |" in md
    assert md.index("## The original's claims") < md.index("## Performance")


def test_csv_numbers_match_the_raw_evals(consolidated: Path, tables: dict[str, Path]) -> None:
    # 3 seeds of (CONFIGS[0], sync): final score = mean eval return of the headline policy.
    runs = consolidated.parent / "runs"
    scores, sampled = [], []
    for p in sorted(runs.glob(f"{CONFIGS[0]}/sync/seed*/eval/final.json")):
        data = json.loads(p.read_text())
        assert data["headline"] == "deterministic"
        scores.append(np.mean([e["return"] for e in data["policies"]["deterministic"][
            "per_episode"]]))
        sampled.append(np.mean([e["return"] for e in data["policies"]["stochastic"][
            "per_episode"]]))
    assert len(scores) == 3
    rows = {(r["section"], r["family"], r["method"], r["policy"], r["metric"],
             r["estimator"]): r for r in _csv_rows(tables["sync_vs_async.csv"])}
    key = ("performance", CONFIGS[0], "HMASD sync", "", "final_return")
    assert float(rows[(*key, "mean")]["value"]) == pytest.approx(np.mean(scores))
    assert float(rows[(*key, "std")]["value"]) == pytest.approx(np.std(scores, ddof=1))
    iqm = rows[(*key, "iqm")]
    point, lo, hi = stats.iqm_ci(scores)
    assert (float(iqm["value"]), float(iqm["low"]), float(iqm["high"])) == pytest.approx(
        (point, lo, hi))
    assert iqm["n"] == "3" and iqm["n_of"] == "seeds"
    sto = rows[("policies", CONFIGS[0], "HMASD sync", "stochastic", "final_return", "mean")]
    assert float(sto["value"]) == pytest.approx(np.mean(sampled))
    stale = rows[("cost", CONFIGS[0], "HMASD sync", "", "stale_fraction", "mean")]
    assert float(stale["value"]) == 0.0
    assert float(rows[("cost", CONFIGS[0], "HMASD async G=4", "", "max_lag", "max")][
        "value"]) >= 1


def test_paired_baseline_comparison_matches_a_hand_computation(
    consolidated: Path, tables: dict[str, Path]
) -> None:
    runs = consolidated.parent / "runs"
    per_seed = [
        [e["return"] for e in json.loads(p.read_text())["policies"]["deterministic"][
            "per_episode"]]
        for p in sorted(runs.glob(f"{CONFIGS[0]}/sync/seed*/eval/final.json"))
    ]
    mine = np.mean(per_seed, axis=0)
    hover = [e["return"] for e in json.loads(
        (consolidated.parent / "baselines" / CONFIGS[0] / "hover.json").read_text())[
        "per_episode"]][: mine.size]
    diff, lo, hi, p = stats.paired_difference(mine, hover)
    rows = {(r["method"], r["metric"], r["estimator"]): r
            for r in _csv_rows(tables["sync_vs_async.csv"])
            if r["section"] == "comparison" and r["family"] == CONFIGS[0]}
    key = ("HMASD sync - hover (paired episodes)", "final_return")
    assert float(rows[(*key, "paired_diff")]["value"]) == pytest.approx(diff)
    assert float(rows[(*key, "wilcoxon_p")]["value"]) == pytest.approx(p)


def test_sync_async_difference_matches_a_hand_computation(
    consolidated: Path, tables: dict[str, Path]
) -> None:
    # The size of the headline effect: sync's seed mean minus async's, CI over seeds.
    runs = consolidated.parent / "runs"

    def seed_means(mode: str) -> list[float]:
        return [float(np.mean([e["return"] for e in json.loads(p.read_text())["policies"][
            "deterministic"]["per_episode"]]))
            for p in sorted(runs.glob(f"{CONFIGS[0]}/{mode}/seed*/eval/final.json"))]

    sync, asyn = seed_means("sync"), seed_means("async")
    assert len(sync) == 3 and len(asyn) >= 2
    rows = {(r["method"], r["metric"], r["estimator"]): r
            for r in _csv_rows(tables["sync_vs_async.csv"])
            if r["section"] == "comparison" and r["family"] == CONFIGS[0]}
    got = rows[("HMASD sync > HMASD async G=4", "final_return", "mean_diff")]
    assert (float(got["value"]), float(got["low"]), float(got["high"])) == pytest.approx(
        stats.difference_ci(sync, asyn))
    md = tables["sync_vs_async.md"].read_text()
    assert re.search(r"\| P\(improvement\) = [\d.]+ \[[\d.]+, [\d.]+\]; mean difference "
                     r"-?[\d.]+ \[-?[\d.]+, -?[\d.]+\] \|", md)


def test_markdown_and_latex_tables(tables: dict[str, Path]) -> None:
    md = tables["sync_vs_async.md"].read_text()
    for header in (PERF_HEADER, COST_HEADER):
        assert "| " + " | ".join(header) + " |" in md
    for fam, methods in METHODS.items():
        for m in (*methods, *POLICIES):
            assert re.search(rf"^\| {fam} \| {re.escape(m)} \|", md, re.M), (fam, m)
    assert "Headline evaluation policy: deterministic" in md
    tex = tables["sync_vs_async.tex"].read_text()
    assert tex.count(r"\toprule") == len(SECTIONS) == tex.count(r"\bottomrule")
    bare = tex.replace(r"\{", "").replace(r"\}", "")
    assert bare.count("{") == bare.count("}")
    # Every body row has as many cells as its header.
    for block in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, re.S):
        ncols = len(block[0])
        body = block[1].split(r"\midrule")[1].split(r"\bottomrule")[0]
        for line in filter(str.strip, body.splitlines()):
            assert line.count(" & ") == ncols - 1, line
    assert "base\\_station" in tex and "±" not in tex


def test_readme_summary_names_the_machine(tables: dict[str, Path]) -> None:
    text = tables["readme_summary.md"].read_text()
    assert "Trained on: Test CPU (AVX2), torch 2.13.0, 1 thread(s)." in text
    assert re.search(rf"^\| {CONFIGS[0]} \| HMASD sync \| 3 \| [\d.]+ \[", text, re.M)


def test_rerun_gives_identical_bytes(consolidated: Path, tables: dict[str, Path],
                                     tmp_path: Path) -> None:
    again = {p.name: p for p in make_tables(consolidated, tmp_path)}
    for name, path in tables.items():
        assert again[name].read_bytes() == path.read_bytes(), name


def test_single_mode_single_seed_degrades(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "results", configs=CONFIGS[:1], modes=("sync",), seeds=(0,),
                     variants=False)
    consolidate(**tree.inputs(), out_dir=tmp_path / "c")
    paths = {p.name: p for p in make_tables(tmp_path / "c", tmp_path / "t")}
    md = paths["sync_vs_async.md"].read_text()
    assert re.search(rf"^\| {CONFIGS[0]} \| HMASD sync \| 1 \|", md, re.M)
    claims = md.split("## The original's claims, checked")[1].split("##")[0]
    assert "(no data)" in claims


def test_empty_datasets_still_give_tables(tmp_path: Path) -> None:
    consolidate([], [], [], [], tmp_path / "c")
    paths = make_tables(tmp_path / "c", tmp_path / "t")
    assert [p.name for p in paths] == FILES
    assert _csv_rows(paths[0]) == []
