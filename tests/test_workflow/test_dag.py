"""The smoke DAG end to end, and partial reruns on copies of the completed run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from analysis.schema import SCHEMAS
from hmasd.config import MODEL_PREFIX as PREFIX
from hmasd.config import MODES, derived, load

from .helpers import REPO, SMOKE, parse_jobs, planned, rules_of, snakemake

pytestmark = pytest.mark.slow

SEEDS = (0, 1)
WHICH = ("final", "best")
FIGURES = [
    "learning_curves",
    "performance_curves",
    "sync_efficiency",
    "policy_lag",
    "skill_usage",
    "reward_components",
    "final_scores",
]
DATASETS = [
    "episodes",
    "sync_metrics",
    "reward_components",
    "skill_usage",
    "eval",
    "baselines",
    "benchmarks",
]
AGGREGATES = {"consolidate": 1, "figures": 1, "tables": 1, "all": 1}


def _edit_grid(root: Path, edit) -> None:
    path = root / SMOKE
    grid = yaml.safe_load(path.read_text())
    edit(grid)
    path.write_text(yaml.safe_dump(grid, sort_keys=False))


# --------------------------------------------------------------------------------------
# End to end


def test_smoke_dag_writes_every_output(smoke_run: Path) -> None:
    results = smoke_run / "results"
    for mode in MODES:
        for seed in SEEDS:
            run = results / "runs" / "smoke" / mode / f"seed{seed}"
            summary = json.loads((run / "train_summary.json").read_text())
            assert summary["env_steps"] == 256 and summary["mode"] == mode
            assert summary["seed"] == seed and summary["resumed_from"] is None
            assert (run / "models" / f"{PREFIX[mode]}_final.pt").stat().st_size > 0
            assert (run / "models" / f"{PREFIX[mode]}.pt").stat().st_size > 0
            assert (run / "models" / f"{PREFIX[mode]}_128.pt").exists()  # periodic
            assert list((run / "tb").iterdir())
            assert list((run / "paper_data").glob("episode_rewards_step_*.csv"))
            for which in ("final", "best"):
                ev = json.loads((run / "eval" / f"{which}.json").read_text())
                assert ev["episodes"] == 2
                bench = results / "benchmarks" / "evaluate" / "smoke" / mode
                assert (bench / f"seed{seed}_{which}.tsv").exists()
            assert (results / "benchmarks" / "train" / "smoke" / mode / f"seed{seed}.tsv").exists()
            assert (results / "logs" / "train" / "smoke" / mode / f"seed{seed}.log").exists()
    for policy in ("random", "hover", "kmeans"):
        assert json.loads((results / "baselines" / "smoke" / f"{policy}.json").read_text())
    assert sorted(DATASETS) == sorted(SCHEMAS)
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (results / "figures" / f"{name}.{ext}").stat().st_size > 0
    for ext in ("csv", "md", "tex"):
        assert (results / "tables" / f"sync_vs_async.{ext}").stat().st_size > 0
    for rule in ("resolve_config", "baseline", "evaluate", "consolidate", "figures", "tables"):
        assert list((results / "logs" / rule).rglob("*.log")), rule


def _smoke_grid() -> tuple[dict, dict]:
    """The smoke grid and its one named config's resolved run config."""
    grid = yaml.safe_load((REPO / SMOKE).read_text())
    ((name, named),) = grid["configs"].items()
    return grid, {"name": name, "cfg": load(named["preset"], named.get("overrides"))}


def test_consolidated_datasets_have_the_declared_schema_and_rows(smoke_run: Path) -> None:
    """Each Parquet file has exactly the columns and types analysis/schema.py declares (as
    pandas reads them too), and as many rows as the smoke grid implies."""
    grid, smoke = _smoke_grid()
    cfg = smoke["cfg"]
    t, e, a = cfg.train, cfg.env, cfg.agent
    d = derived(cfg)
    configs, policies = 1, len(grid["baselines"]["policies"])
    runs = configs * len(grid["modes"]) * len(grid["seeds"])
    steps_per_env = d.num_updates * t.batch_size // t.num_envs
    exports = d.num_updates * t.batch_size // cfg.tracking.export_interval
    eval_rows = runs * len(WHICH) * grid["evaluate"]["episodes"]
    if "policy" in SCHEMAS["eval"].names:
        eval_rows *= policies
    expected_rows = {
        # every finished training episode of every run (episodes end every max_steps steps)
        "episodes": runs * t.num_envs * (steps_per_env // e.max_steps),
        "sync_metrics": runs * d.num_updates,  # one row per update
        "reward_components": runs * d.num_updates,  # one row per update
        # per export: one row per team skill, one per (agent, individual skill)
        "skill_usage": runs * exports * (a.n_team_skills + e.n_uavs * a.n_ind_skills),
        "eval": eval_rows,
        "baselines": configs * policies * grid["baselines"]["episodes"],
        "benchmarks": runs * (1 + len(WHICH)),  # one train and two evaluate jobs per run
    }
    assert set(expected_rows) == set(SCHEMAS), "a new dataset needs its expected row count"
    for name, schema in SCHEMAS.items():
        path = smoke_run / "results" / "consolidated" / f"{name}.parquet"
        table = pq.read_table(path)
        assert table.schema.equals(schema, check_metadata=False), (name, table.schema)
        frame = pd.read_parquet(path)
        assert list(frame.columns) == schema.names, name
        for field in schema:
            assert frame[field.name].dtype == field.type.to_pandas_dtype(), (name, field.name)
        assert len(frame) == expected_rows[name], (name, len(frame), expected_rows[name])
        if {"config", "mode", "seed"} <= set(schema.names):
            got = set(frame[["config", "mode", "seed"]].itertuples(index=False, name=None))
            want = {(smoke["name"], m, s) for m in grid["modes"] for s in grid["seeds"]}
            assert got == want, name
    evals = pd.read_parquet(smoke_run / "results" / "consolidated" / "eval.parquet")
    assert evals.groupby(["mode", "seed", "which"]).size().eq(grid["evaluate"]["episodes"]).all()
    baselines = pd.read_parquet(smoke_run / "results" / "consolidated" / "baselines.parquet")
    assert sorted(set(baselines["policy"])) == sorted(grid["baselines"]["policies"])


def test_completed_run_has_nothing_to_do(smoke_run: Path) -> None:
    assert planned(smoke_run) == []


# --------------------------------------------------------------------------------------
# Partial reruns (dry runs on private copies)


def test_adding_a_seed_runs_only_its_jobs_and_the_aggregates(smoke_copy: Path) -> None:
    _edit_grid(smoke_copy, lambda g: g.update(seeds=[0, 1, 2]))
    jobs = planned(smoke_copy)
    assert rules_of(jobs) == {"train_sync": 1, "train_async": 1, "evaluate": 4, **AGGREGATES}
    assert {j.wildcards["seed"] for j in jobs if "seed" in j.wildcards} == {"2"}


def test_changing_one_config_reruns_only_that_configs_jobs(smoke_copy: Path) -> None:
    """A second config is completed for real on a reduced grid (seed 0, sync, hover), then
    one value of the first config changes: only the first config's jobs are planned."""
    # A second --configfile narrows the grid (merged over the first; see common.smk).
    (smoke_copy / "reduced.yaml").write_text(
        "seeds: [0]\nmodes: [sync]\nbaselines: {policies: [hover]}\n"
    )
    grids = ("--configfile", SMOKE, "reduced.yaml")

    def add_twin(grid: dict) -> None:
        grid["configs"]["twin"] = json.loads(json.dumps(grid["configs"]["smoke"]))

    _edit_grid(smoke_copy, add_twin)
    twin = [
        "results/runs/twin/sync/seed0/eval/final.json",
        "results/runs/twin/sync/seed0/eval/best.json",
        "results/baselines/twin/hover.json",
    ]
    snakemake(smoke_copy, "--cores", "2", *twin, *grids)

    def change_smoke(grid: dict) -> None:
        grid["configs"]["smoke"]["overrides"]["train"]["eval_episodes"] = 3

    _edit_grid(smoke_copy, change_smoke)
    dry = snakemake(smoke_copy, "--dry-run", *grids)
    jobs = parse_jobs(dry.stdout + dry.stderr)
    assert {j.wildcards.get("config") for j in jobs if j.wildcards} == {"smoke"}
    assert rules_of(jobs) == {
        "resolve_config": 1,
        "train_sync": 1,
        "evaluate": 2,
        "baseline": 1,
        **AGGREGATES,
    }
    # --summary names the trigger. (`--list-changes params` lists every output with
    # recorded params in Snakemake 9.27.1, changed or not, so it cannot tell.)
    summary = snakemake(smoke_copy, "--summary", *grids).stdout
    rows = {r.split("\t")[0]: r.split("\t") for r in summary.splitlines() if "\t" in r}
    assert rows["results/configs/smoke.yaml"][4:6] == ["params changed", "update pending"]
    assert rows["results/configs/twin.yaml"][4:6] == ["ok", "no update"]
    assert rows["results/runs/twin/sync/seed0/train_summary.json"][4:6] == ["ok", "no update"]


def test_report_holds_every_figure_and_the_table(smoke_copy: Path) -> None:
    """`snakemake --report` renders the figures and the table with their captions."""
    snakemake(smoke_copy, "--configfile", SMOKE, "--report", "results/report.html")
    html = (smoke_copy / "results/report.html").read_text(errors="replace")
    assert len(html) > 10_000
    for name in ("learning_curves", "policy_lag", "final_scores", "sync_vs_async.csv"):
        assert name in html, f"{name} missing from the report"


def test_rules_run_without_the_venv_on_path(smoke_copy: Path) -> None:
    """`.venv/bin/snakemake` from a plain shell: shell rules must not rely on `hmasd` on PATH."""
    import os
    import subprocess

    from .helpers import BIN, SNAKEMAKE, job_env

    env = job_env(smoke_copy)
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(p).resolve() != Path(BIN).resolve()
    )
    target = "results/baselines/smoke/hover.json"
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "1", "--configfile", SMOKE, "--forcerun", "baseline", target],
        cwd=smoke_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((smoke_copy / target).read_text())["policy"] == "hover"
