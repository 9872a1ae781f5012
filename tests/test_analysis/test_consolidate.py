"""Consolidation of a realistic results tree into typed Parquet datasets."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from analysis.consolidate import consolidate
from analysis.schema import SCHEMAS, read
from hmasd.errors import ExportError

from .fixtures import CONFIGS, MODES, VARIANTS, Tree, write_run

RUN_DATASETS = ("episodes", "sync_metrics", "reward_components", "skill_usage", "eval",
                "benchmarks")


def _run(tree: Tree, out: Path) -> None:
    consolidate(**tree.inputs(), out_dir=out)


def test_every_dataset_is_written_with_its_schema(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "consolidated"
    _run(tree, out)
    for name, schema in SCHEMAS.items():
        path = out / f"{name}.parquet"
        table = pq.read_table(path)
        assert table.schema.equals(schema), name
        n = tree.rows[name]
        assert table.num_rows == n, name
        assert len(pd.read_parquet(path)) == n
        assert pl.read_parquet(path).height == n
        assert duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall() == [(n,)]
        ids = ["config", "policy"] if name == "baselines" else ["config", "mode", "seed"]
        df = table.to_pandas()
        assert set(ids) <= set(df.columns)
        # Baselines once per family; runs of every config (the variants too).
        names = set(CONFIGS) if name == "baselines" else {*CONFIGS, *VARIANTS}
        assert set(df["config"]) == names
        if "mode" in ids:
            assert set(df["mode"]) == set(MODES)
            assert set(df["seed"]) == {0, 1}
    assert not list(out.glob("*.tmp")), "temp files left behind"


def test_step_files_are_concatenated_in_numeric_order(tree: Tree, tmp_path: Path) -> None:
    _run(tree, tmp_path / "c")
    ep = read(tmp_path / "c", "episodes").to_pandas()
    for _, run in ep.groupby(["config", "mode", "seed"]):
        # The fixture numbers episodes in export order; N runs 2048..10240, so a lexical
        # sort of the file names ("10240" < "2048") would scramble them.
        assert run["episode"].tolist() == list(range(len(run)))
        assert run["export_step"].is_monotonic_increasing
    su = read(tmp_path / "c", "skill_usage").to_pandas()
    one = su[(su["config"] == CONFIGS[0]) & (su["mode"] == "sync") & (su["seed"] == 0)]
    first = one[one["export_step"] == one["export_step"].min()]
    assert first["kind"].tolist() == ["team"] * 3 + ["individual"] * 9
    assert first["agent"].tolist() == [-1] * 3 + [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_values_survive_the_round_trip(tree: Tree, tmp_path: Path) -> None:
    _run(tree, tmp_path / "c")
    run = tree.run_dirs[0]
    raw = pd.concat([pd.read_csv(p, float_precision="round_trip") for p in
                     sorted((run / "paper_data").glob("sync_metrics_step_*.csv"),
                            key=lambda p: int(p.stem.rsplit("_", 1)[1]))])
    sm = read(tmp_path / "c", "sync_metrics").to_pandas()
    cfg, mode, seed = run.parts[-3], run.parts[-2], int(run.name[4:])
    mine = sm[(sm["config"] == cfg) & (sm["mode"] == mode) & (sm["seed"] == seed)]
    np.testing.assert_array_equal(mine["wall_time"].to_numpy(), raw["wall_time"].to_numpy())
    assert mine["max_lag"].dtype == np.int64
    bench = read(tmp_path / "c", "benchmarks").to_pandas()
    assert bench["max_pss"].isna().all()  # "NA" in the TSV -> null
    # One evaluate job covers the final and best checkpoints: no `which` in its file name.
    assert set(bench["rule"]) == {"train", "evaluate"}
    assert bench["which"].isna().all()


def test_adding_a_seed_adds_exactly_its_rows(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "c"
    _run(tree, out)
    before = {n: read(out, n).to_pandas() for n in SCHEMAS}
    _run(tree, out)  # a rebuild from the same inputs duplicates nothing
    for n in SCHEMAS:
        pd.testing.assert_frame_equal(read(out, n).to_pandas(), before[n])
    old_rows = dict(tree.rows)
    write_run(tree, CONFIGS[1], "async", 7)
    _run(tree, out)
    for n in RUN_DATASETS:
        after = read(out, n).to_pandas()
        added = tree.rows[n] - old_rows[n]
        assert added > 0
        assert len(after) == len(before[n]) + added, n
        assert (after["seed"] == 7).sum() == added
        kept = after[after["seed"] != 7].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, before[n])
    assert len(read(out, "baselines")) == len(before["baselines"])


def test_no_inputs_give_empty_typed_datasets(tmp_path: Path) -> None:
    consolidate([], [], [], [], tmp_path / "c")
    for name, schema in SCHEMAS.items():
        table = pq.read_table(tmp_path / "c" / f"{name}.parquet")
        assert table.num_rows == 0 and table.schema.equals(schema)


def _expect_error(tree: Tree, tmp_path: Path, path: Path, *needles: str) -> str:
    with pytest.raises(ExportError) as info:
        _run(tree, tmp_path / "c")
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def _episode_file(tree: Tree, step: int = 4096) -> Path:
    return tree.run_dirs[1] / "paper_data" / f"episode_rewards_step_{step}.csv"


def test_missing_column_names_file_and_column(tree: Tree, tmp_path: Path) -> None:
    path = tree.run_dirs[1] / "paper_data" / "sync_metrics_step_2048.csv"
    df = pd.read_csv(path).drop(columns=["stale_fraction"])
    df.to_csv(path, index=False)
    _expect_error(tree, tmp_path, path, "header", "stale_fraction")


def test_non_numeric_value_names_file_and_row(tree: Tree, tmp_path: Path) -> None:
    path = _episode_file(tree)
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[2].split(",")
    cells[2] = "abc"  # total_reward of data row 2
    lines[2] = ",".join(cells)
    path.write_text("".join(lines))
    _expect_error(tree, tmp_path, path, "row 2", "total_reward", "'abc'")


def test_row_cut_short_names_file_and_row(tree: Tree, tmp_path: Path) -> None:
    path = _episode_file(tree)
    text = path.read_text()
    n_rows = text.count("\n") - 1
    # Truncated mid-row: the last row loses its trailing fields.
    path.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 20])
    _expect_error(tree, tmp_path, path, f"row {n_rows}", "truncated")


def test_row_cut_inside_its_last_field_is_caught(tree: Tree, tmp_path: Path) -> None:
    path = _episode_file(tree)
    text = path.read_text()
    path.write_text(text[:-2])  # all fields present, the last one cut, no final newline
    n_rows = text.count("\n") - 1
    _expect_error(tree, tmp_path, path, f"row {n_rows}", "truncated")


def test_non_integer_counter_is_rejected(tree: Tree, tmp_path: Path) -> None:
    path = tree.run_dirs[0] / "paper_data" / "sync_metrics_step_2048.csv"
    df = pd.read_csv(path)
    df.loc[0, "max_lag"] = 1.5
    df.to_csv(path, index=False)
    _expect_error(tree, tmp_path, path, "row 1", "max_lag")


def test_truncated_json_and_bad_rows_are_reported(tree: Tree, tmp_path: Path) -> None:
    path = tree.run_dirs[0] / "paper_data" / "skill_usage_step_4096.json"
    path.write_text(path.read_text()[:50])
    _expect_error(tree, tmp_path, path, "invalid JSON")


def test_eval_row_missing_a_key(tree: Tree, tmp_path: Path) -> None:
    import json

    path = tree.eval_jsons[3]
    data = json.loads(path.read_text())
    del data["policies"]["stochastic"]["per_episode"][2]["coverage"]
    path.write_text(json.dumps(data))
    _expect_error(tree, tmp_path, path, "policies.stochastic, per_episode row 2", "coverage")


def test_eval_rows_carry_each_policy_and_runs_carry_the_method(tree: Tree, tmp_path: Path) -> None:
    _run(tree, tmp_path / "c")
    ev = read(tmp_path / "c", "eval").to_pandas()
    assert set(ev["policy"]) == {"deterministic", "stochastic"}
    per = ev.groupby(["config", "mode", "seed", "which", "policy"]).size()
    assert set(per) == {4}
    runs = read(tmp_path / "c", "runs").to_pandas().set_index(["config", "mode", "seed"])
    assert runs.loc[("base_station", "async", 0), "method"] == "HMASD async G=4"
    assert runs.loc[("base_station_async8", "async", 0), "method"] == "HMASD async G=8"
    assert runs.loc[("base_station_flat", "sync", 0), "method"] == "flat MAPPO sync"
    assert runs.loc[("base_station_flat", "sync", 0), "n_team_skills"] == 1
    assert set(runs.loc[runs["label"] == "flat MAPPO", "family"]) == {"base_station"}
    assert runs.loc[("cooperative_network", "sync", 1), "family"] == "cooperative_network"
    dec = ("base_station_decoupled", "async", 0)
    assert runs.loc[dec, "method"] == "HMASD async G=4 + decoupled"
    assert runs.loc[dec, "async_correction"] == "decoupled"
    assert set(runs.drop(index=dec)["async_correction"]) == {"none"}
    import yaml

    for run_dir in tree.run_dirs:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        key = (run_dir.parts[-3], run_dir.parts[-2], int(run_dir.name[4:]))
        assert runs.loc[key, "lambda_e"] == cfg["agent"]["lambda_e"]


def test_sync_metrics_diagnostics(tree: Tree, tmp_path: Path) -> None:
    from analysis.schema import SYNC_DIAG_CSV

    _run(tree, tmp_path / "c")
    sm = read(tmp_path / "c", "sync_metrics").to_pandas()
    cols = list(sm.columns)
    assert cols[cols.index("wall_time") + 1:] == list(SYNC_DIAG_CSV)
    assert cols[cols.index("wall_time") + 1: cols.index("wall_time") + 7] == [
        "intrinsic_share_team", "intrinsic_share_ind", "team_disc_accuracy",
        "ind_disc_accuracy", "team_skill_majority", "ind_skill_majority"]
    assert list(SYNC_DIAG_CSV)[6:] == [f"clipfrac_lag{k}" for k in range(8)] + [
        f"approx_kl_lag{k}" for k in range(8)]
    sync = sm[sm["mode"] == "sync"]
    assert (sync["clipfrac_lag0"] == 0).all() and sync["clipfrac_lag1"].isna().all()
    flat = sm[sm["config"] == "base_station_flat"]
    assert flat["team_disc_accuracy"].isna().all()


def test_exports_without_the_diagnostics_read_as_nan(tree: Tree, tmp_path: Path) -> None:
    from analysis.schema import SYNC_DIAG_CSV

    path = tree.run_dirs[0] / "paper_data" / "sync_metrics_step_2048.csv"
    df = pd.read_csv(path)
    df.drop(columns=list(SYNC_DIAG_CSV)).to_csv(path, index=False)
    _run(tree, tmp_path / "c")
    sm = read(tmp_path / "c", "sync_metrics").to_pandas()
    old = sm[(sm["config"] == CONFIGS[0]) & (sm["mode"] == "sync") & (sm["seed"] == 0)
             & (sm["export_step"] == 2048)]
    assert len(old) == 4 and old[list(SYNC_DIAG_CSV)].isna().all().all()
    # Some of the group but not all: a malformed export.
    df.drop(columns=["approx_kl_lag3"]).to_csv(path, index=False)
    _expect_error(tree, tmp_path, path, "header", "approx_kl_lag3")


def test_unknown_async_correction_is_rejected(tree: Tree, tmp_path: Path) -> None:
    import yaml

    path = tree.run_dirs[0] / "config.yaml"
    data = yaml.safe_load(path.read_text())
    data["train"]["async_correction"] = "vtrace"
    path.write_text(yaml.safe_dump(data))
    _expect_error(tree, tmp_path, path, "async_correction", "'vtrace'")


def test_bad_input_leaves_previous_outputs_intact(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "c"
    _run(tree, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bench = tree.benchmark_tsvs[0]
    bench.write_text(bench.read_text().replace("\t", ",", 3))
    with pytest.raises(ExportError, match=str(bench)):
        _run(tree, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_paths_must_carry_the_ids(tree: Tree, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="seed"):
        consolidate([tmp_path / "runs" / "cfg" / "sync" / "s0"], [], [], [], tmp_path / "c")
