"""The study's tables: formats, expected rows and comparisons, verdicts, identical bytes on
rerun."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from analysis import stats
from analysis.cells import PRIMARIES
from analysis.consolidate import consolidate
from analysis.render import (
    CLAIMS_HEADER,
    COST_HEADER,
    CSV_COLUMNS,
    PERF_HEADER,
    SECTIONS,
    SKILL_COST_HEADER,
    SKILL_HEADER,
)
from analysis.scores import run_scores
from analysis.tables import load, make_tables

from .fixtures import CONFIGS, POLICIES, make_tree

FILES = ["sync_vs_async.csv", "sync_vs_async.md", "sync_vs_async.tex", "readme_summary.md"]
METHODS = {
    CONFIGS[0]: ["HMASD sync", "HMASD async G=4", "HMASD async G=4 + decoupled",
                 "HMASD async G=8", "flat MAPPO sync"],
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


def _comparisons(tables: dict[str, Path], family: str) -> dict[tuple, dict[str, str]]:
    return {(r["method"], r["metric"], r["estimator"]): r
            for r in _csv_rows(tables["sync_vs_async.csv"])
            if r["section"] == "comparison" and r["family"] == family}


def test_comparisons_cover_every_method_and_baseline(tables: dict[str, Path]) -> None:
    rows = [r for r in _csv_rows(tables["sync_vs_async.csv"]) if r["section"] == "comparison"]
    got = {(r["family"], r["method"], r["estimator"]) for r in rows}
    for fam, methods in METHODS.items():
        for other in methods[1:]:
            for est in ("poi", "mean_diff", "mdd", "n_needed"):
                assert (fam, f"HMASD sync > {other}", est) in got
        for method in methods:
            for policy in POLICIES:
                for est in ("mean_diff", "t_p", "sd_diff", "mdd", "n_needed"):
                    assert (fam, f"{method} - {policy}", est) in got
        assert (fam, "HMASD sync / kmeans", "ratio") in got
        for est in ("slope", "t_p", "mdd", "n_needed", "holm_p", "verdict"):
            assert (fam, "final return vs mean policy lag", est) in got
    # Runs are the unit of the baseline comparisons.
    run_rows = [r for r in rows if r["estimator"] == "t_p" and r["metric"] != "lag_slope"]
    assert {r["n_of"] for r in run_rows} == {"runs"}
    assert {r["n_ref"] for r in run_rows} == {"4"}  # the shared evaluation episodes


def test_same_seeds_are_paired_other_seeds_use_welch(tables: dict[str, Path]) -> None:
    rows = _comparisons(tables, CONFIGS[0])
    paired = "HMASD sync > HMASD async G=4"
    for est in ("paired_t_p", "wilcoxon_p", "sd_diff"):
        assert (paired, "final_return", est) in rows
    assert (paired, "final_return", "welch_p") not in rows
    assert rows[(paired, "final_return", "mean_diff")]["n_of"] == "seed pairs"
    assert "paired over seeds" in rows[(paired, "final_return", "mean_diff")]["note"]
    welch = "HMASD sync > HMASD async G=4 + decoupled"  # one seed fewer in the fixture
    for est in ("welch_p", "mannwhitney_p"):
        assert (welch, "final_return", est) in rows
    assert (welch, "final_return", "paired_t_p") not in rows
    md = tables["sync_vs_async.md"].read_text()
    assert "paired over seeds" in md.split("## Comparisons")[0]  # the notes say it too


def test_every_inferential_comparison_states_its_power(tables: dict[str, Path]) -> None:
    rows = [r for r in _csv_rows(tables["sync_vs_async.csv"]) if r["section"] == "comparison"]
    tests = {(r["family"], r["method"], r["metric"]) for r in rows
             if r["estimator"] in ("paired_t_p", "welch_p", "t_p")}
    assert len(tests) > 10
    power = {(r["family"], r["method"], r["metric"], r["estimator"]) for r in rows}
    for key in tests:
        assert (*key, "mdd") in power and (*key, "n_needed") in power, key
    for r in rows:
        if r["estimator"] == "n_needed" and r["value"] not in ("", "inf"):
            assert float(r["value"]) >= 2 and float(r["value"]).is_integer()


def test_primaries_are_holm_adjusted_with_verdicts(tables: dict[str, Path]) -> None:
    rows = _csv_rows(tables["sync_vs_async.csv"])
    for fam in CONFIGS:
        cmp_ = _comparisons(tables, fam)
        primary = {
            "a": ("final return vs mean policy lag", "lag_slope", "t_p", "slope"),
            "b": ("HMASD sync > HMASD async G=4", "final_return", "paired_t_p", "mean_diff"),
            "c": ("HMASD sync - hover", "final_return", "t_p", "mean_diff"),
            "d": ("HMASD sync - hover", "coverage", "t_p", "mean_diff"),
        }
        raw = [float(cmp_[(m, metric, p)]["value"]) for m, metric, p, _ in primary.values()]
        expected = stats.holm(raw)
        for (key, (m, metric, _, est)), h in zip(primary.items(), expected, strict=True):
            got = cmp_[(m, metric, "holm_p")]
            assert float(got["value"]) == pytest.approx(h), key
            assert got["note"].startswith(f"primary ({key})")
            prim = next(p for p in PRIMARIES if p.key == key)
            v = cmp_[(m, metric, "verdict")]["verdict"]
            assert v == stats.verdict(prim.claimed_sign, float(cmp_[(m, metric, est)]["value"]),
                                      h, int(cmp_[(m, metric, est)]["n_ref"] if key == "a"
                                             else cmp_[(m, metric, est)]["n"]))
        # Only the four primaries carry a Holm p and a verdict.
        holm_rows = [r for r in rows if r["section"] == "comparison" and r["family"] == fam
                     and r["estimator"] in ("holm_p", "verdict")]
        assert len(holm_rows) == 2 * len(PRIMARIES)
    md = tables["sync_vs_async.md"].read_text()
    for p in PRIMARIES:
        assert f"({p.key}) {p.what}" in md
    assert "## Primary comparisons" in md


def test_descriptive_episode_rows_carry_no_test(tables: dict[str, Path]) -> None:
    rows = [r for r in _csv_rows(tables["sync_vs_async.csv"])
            if r["section"] == "comparison" and "(descriptive" in r["method"]]
    assert rows
    names = {r["method"] for r in rows if r["family"] == CONFIGS[0]}
    assert names == {f"HMASD sync - {p} (descriptive: episodes of the 3 trained agents)"
                     for p in POLICIES}
    assert {r["estimator"] for r in rows} == {"mean_diff"}
    assert {r["verdict"] for r in rows} == {""}
    assert {r["n_of"] for r in rows} == {"episodes"}
    md = tables["sync_vs_async.md"].read_text()
    for line in md.splitlines():
        if "(descriptive:" in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert cells[5] == "descriptive, no test"
            assert cells[6:] == ["–"] * 4, line


def test_dose_response_uses_only_uncorrected_runs(consolidated: Path,
                                                  tables: dict[str, Path]) -> None:
    import pandas as pd

    from analysis.schema import read

    runs = read(consolidated, "runs").to_pandas()
    ev = read(consolidated, "eval").to_pandas()
    sm = read(consolidated, "sync_metrics").to_pandas()
    fam = runs[(runs["family"] == CONFIGS[0]) & (runs["label"] == "HMASD")]
    assert "decoupled" in set(fam["async_correction"])
    fam = fam[fam["async_correction"] == "none"].set_index(["config", "mode", "seed"])
    ret = ev[(ev["which"] == "final") & (ev["policy"] == "deterministic")].groupby(
        ["config", "mode", "seed"])["return"].mean()
    lag = sm.groupby(["config", "mode", "seed"])["mean_lag"].mean()
    df = pd.DataFrame({"ret": ret, "lag": lag}).loc[fam.index]
    df.loc[df.index.get_level_values("mode") == "sync", "lag"] = 0.0
    expected = stats.seed_slope_test(df["lag"], df["ret"], df.index.get_level_values("seed"))
    got = _comparisons(tables, CONFIGS[0])
    slope = got[("final return vs mean policy lag", "lag_slope", "slope")]
    assert int(slope["n"]) == len(df) == 9  # sync, G=4, G=8 x 3 seeds; no decoupled run
    assert slope["n_ref"] == "3"
    assert (float(slope["value"]), float(slope["low"]), float(slope["high"])) == pytest.approx(
        expected[:3])
    assert float(got[("final return vs mean policy lag", "lag_slope", "t_p")][
        "value"]) == pytest.approx(expected[3])


def test_skills_section_reports_chance_levels(tables: dict[str, Path]) -> None:
    rows = [r for r in _csv_rows(tables["sync_vs_async.csv"]) if r["section"] == "skills"]
    methods = {(r["family"], r["method"]) for r in rows}
    # Every HMASD method; flat MAPPO (one skill) has no discriminator to check.
    assert methods == {(f, m) for f, ms in METHODS.items() for m in ms if "flat" not in m}
    by = {(r["family"], r["method"], r["metric"], r["estimator"]): r for r in rows}
    key = (CONFIGS[0], "HMASD sync")
    for metric in ("intrinsic_share", "intrinsic_share_team", "intrinsic_share_ind",
                   "team_disc_accuracy", "ind_disc_accuracy", "team_skill_majority",
                   "ind_skill_majority"):
        for est in ("mean", "std"):
            assert (*key, metric, est) in by
    assert float(by[(*key, "team_disc_accuracy", "chance")]["value"]) == pytest.approx(1 / 3)
    acc = float(by[(*key, "team_disc_accuracy", "mean")]["value"])
    assert float(by[(*key, "team_disc_accuracy", "x_chance")]["value"]) == pytest.approx(
        acc * 3)
    share = by[(*key, "intrinsic_share", "mean")]
    parts = [float(by[(*key, m, "mean")]["value"]) for m in ("intrinsic_share_team",
                                                              "intrinsic_share_ind")]
    assert float(share["value"]) == pytest.approx(sum(parts))
    assert float(share["low"]) <= float(share["value"]) <= float(share["high"])
    md = tables["sync_vs_async.md"].read_text()
    assert "## Do the skills carry signal?" in md
    assert "| " + " | ".join(SKILL_HEADER) + " |" in md
    assert re.search(r"\| [\d.]+ ± [\d.]+ \[[\d.]+, [\d.]+\] \([\d.]+x chance\) \| 0\.333 / ",
                     md)


def test_skill_cost_matches_a_hand_computation(consolidated: Path,
                                               tables: dict[str, Path]) -> None:
    # Within-method rank association of the individual skills' margin with each outcome,
    # over the runs of every method with skills (flat MAPPO has none).
    scores = run_scores(load(consolidated))
    rows = {(r["family"], r["metric"], r["estimator"]): r
            for r in _csv_rows(tables["sync_vs_async.csv"]) if r["section"] == "skill_cost"}
    assert {(f, m) for f, m, _ in rows} == {(f, m) for f in CONFIGS
                                            for m in ("coverage", "final_return")}
    for fam in CONFIGS:
        sc = scores[(scores["family"] == fam) & (scores["n_ind_skills"] > 1)].copy()
        assert set(sc["method"]) == {m for m in METHODS[fam] if "flat" not in m}
        sc["margin"] = sc["ind_disc_accuracy"] - sc["ind_skill_majority"]
        for outcome in ("coverage", "final_return"):
            centred = sc[["margin", outcome]] - sc.groupby("method")[["margin", outcome]
                                                                     ].transform("mean")
            expected = sps.spearmanr(centred["margin"], centred[outcome]).statistic
            got = rows[(fam, outcome, "spearman_within")]
            assert float(got["value"]) == pytest.approx(expected)
            assert int(got["n"]) == len(sc) and int(got["n_ref"]) == sc["method"].nunique()
            assert float(got["low"]) <= float(got["value"]) <= float(got["high"])
            assert 0 < float(rows[(fam, outcome, "perm_p")]["value"]) <= 1
    md = tables["sync_vs_async.md"].read_text()
    assert "## Do the skills cost performance?" in md
    assert "| " + " | ".join(SKILL_COST_HEADER) + " |" in md


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
    by = {(r["family"], r["metric"], r["estimator"]): r for r in rows}
    for fam in CONFIGS:
        for metric in ("curve_variability", "peak_rss_mb", "env_steps_per_s", "final_return"):
            # Sync and async of the root config share seeds: paired, with their power.
            for est in ("mean_diff", "paired_t_p", "wilcoxon_p", "mdd", "n_needed"):
                assert (fam, metric, est) in by, (fam, metric, est)
        # The convergence claim is primary (b): its verdict takes (b)'s Holm p.
        holm_b = _comparisons(tables, fam)[("HMASD sync > HMASD async G=4", "final_return",
                                            "holm_p")]
        assert by[(fam, "final_return", "holm_p")]["value"] == holm_b["value"]
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


def test_baseline_comparison_over_runs_matches_a_hand_computation(
    consolidated: Path, tables: dict[str, Path]
) -> None:
    runs = consolidated.parent / "runs"
    per_run = [
        np.array([e["return"] for e in json.loads(p.read_text())["policies"]["deterministic"][
            "per_episode"]])
        for p in sorted(runs.glob(f"{CONFIGS[0]}/sync/seed*/eval/final.json"))
    ]
    hover = np.array([e["return"] for e in json.loads(
        (consolidated.parent / "baselines" / CONFIGS[0] / "hover.json").read_text())[
        "per_episode"]][: per_run[0].size])
    diff, lo, hi, p, sd = stats.paired_run_difference(per_run, hover)
    rows = _comparisons(tables, CONFIGS[0])
    key = ("HMASD sync - hover", "final_return")
    got = rows[(*key, "mean_diff")]
    assert (float(got["value"]), float(got["low"]), float(got["high"])) == pytest.approx(
        (diff, lo, hi))
    assert got["n"] == "3" and got["n_of"] == "runs"
    assert float(rows[(*key, "t_p")]["value"]) == pytest.approx(p)
    assert float(rows[(*key, "mdd")]["value"]) == pytest.approx(stats.mdd(sd, 3))
    assert float(rows[(*key, "n_needed")]["value"]) == stats.n_needed(diff, sd)


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
    diff, lo, hi, t_p, w_p, sd = stats.paired_seed_difference(sync, asyn)
    assert (float(got["value"]), float(got["low"]), float(got["high"])) == pytest.approx(
        (diff, lo, hi))
    key = ("HMASD sync > HMASD async G=4", "final_return")
    assert float(rows[(*key, "paired_t_p")]["value"]) == pytest.approx(t_p)
    assert float(rows[(*key, "mdd")]["value"]) == pytest.approx(stats.mdd(sd, 3))
    md = tables["sync_vs_async.md"].read_text()
    assert re.search(r"\| P\(improvement\) = [\d.]+ \[[\d.]+, [\d.]+\]; mean difference "
                     r"-?[\d.]+ \[-?[\d.]+, -?[\d.]+\] \| paired over seeds: t p", md)


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
    for fam in CONFIGS:
        for key in "abcd":
            assert re.search(rf"^\| {fam} \| \({key}\) \|.*\| (holds|refuted|not resolved "
                             r"at N=\d+) \|$", text, re.M), (fam, key)
        assert re.search(rf"^\| {fam} \| HMASD sync \| 3 \| [\d.]+ ± ", text, re.M)


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
