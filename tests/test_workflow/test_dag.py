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
from hmasd.config import derived, load
from hmasd.grid import resolve_all
from hmasd.training.rollout import phase_offsets

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
    "staleness_ratios",
]
DATASETS = [
    "runs",
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


def _smoke_grid() -> tuple[dict, dict]:
    """The smoke grid and its named configs, resolved (hmasd.grid, as common.smk does)."""
    grid = yaml.safe_load((REPO / SMOKE).read_text())
    grid.setdefault("device", "cpu")
    return grid, resolve_all(grid)


def _runs(grid: dict, named: dict) -> list[tuple[str, str, int]]:
    return [(c, m, s) for c, n in named.items() for m in n.modes for s in grid["seeds"]]


def test_smoke_dag_writes_every_output(smoke_run: Path) -> None:
    grid, named = _smoke_grid()
    results = smoke_run / "results"
    runs = _runs(grid, named)
    assert len(runs) == 8  # smoke x {sync, async}, flat x sync, async4 x async; 2 seeds
    for config, mode, seed in runs:
        run = results / "runs" / config / mode / f"seed{seed}"
        summary = json.loads((run / "train_summary.json").read_text())
        assert summary["env_steps"] == 320 and summary["mode"] == mode
        assert summary["seed"] == seed and summary["resumed_from"] is None
        assert (run / "models" / f"{PREFIX[mode]}_final.pt").stat().st_size > 0
        assert (run / "models" / f"{PREFIX[mode]}.pt").stat().st_size > 0
        assert (run / "models" / f"{PREFIX[mode]}_160.pt").exists()  # periodic
        assert list((run / "tb").iterdir())
        assert list((run / "paper_data").glob("episode_rewards_step_*.csv"))
        for which in WHICH:
            ev = json.loads((run / "eval" / f"{which}.json").read_text())
            assert ev["episodes"] == 2 and set(ev["policies"]) == {"deterministic",
                                                                    "stochastic"}
        bench = results / "benchmarks"
        assert (bench / "evaluate" / config / mode / f"seed{seed}.tsv").exists()
        assert (bench / "train" / config / mode / f"seed{seed}.tsv").exists()
        assert (results / "logs" / "train" / config / mode / f"seed{seed}.log").exists()
    for policy in ("random", "hover", "kmeans"):
        assert json.loads((results / "baselines" / "smoke" / f"{policy}.json").read_text())
    assert not (results / "baselines" / "smoke_flat").exists()  # one set per family
    assert sorted(DATASETS) == sorted(SCHEMAS)
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (results / "figures" / f"{name}.{ext}").stat().st_size > 0
    for ext in ("csv", "md", "tex"):
        assert (results / "tables" / f"sync_vs_async.{ext}").stat().st_size > 0
    assert "Trained on:" in (results / "tables" / "readme_summary.md").read_text()
    for rule in ("resolve_config", "baseline", "evaluate", "consolidate", "figures", "tables"):
        assert list((results / "logs" / rule).rglob("*.log")), rule


def test_consolidated_datasets_have_the_declared_schema_and_rows(smoke_run: Path) -> None:
    """Each Parquet file has exactly the columns and types analysis/schema.py declares (as
    pandas reads them too), and as many rows as the smoke grid implies."""
    grid, named = _smoke_grid()
    runs = _runs(grid, named)
    cfgs = {c: load(n.preset, n.overrides) for c, n in named.items()}
    families = {n.family for n in named.values()}
    policies = len(grid["baselines"]["policies"])
    episodes = grid["evaluate"]["episodes"]

    def per_run(config: str) -> dict[str, int]:
        cfg = cfgs[config]
        t, e, a = cfg.train, cfg.env, cfg.agent
        d = derived(cfg)
        steps_per_env = d.num_updates * t.batch_size // t.num_envs
        exports = d.num_updates * t.batch_size // cfg.tracking.export_interval
        return {
            "runs": 1,
            # every whole training episode: env b starts at episode step offsets[b]
            # (staggered phases), so its first, partial episode is not one
            "episodes": sum(
                (steps_per_env + int(o)) // e.max_steps - (1 if o else 0)
                for o in phase_offsets(t.num_envs, e.max_steps, a.skill_interval)
            ),
            "sync_metrics": d.num_updates,  # one row per update
            "reward_components": d.num_updates,  # one row per update
            # per export: one row per team skill, one per (agent, individual skill)
            "skill_usage": exports * (a.n_team_skills + e.n_uavs * a.n_ind_skills),
            # final + best checkpoints, both evaluation policies
            "eval": len(WHICH) * 2 * episodes,
            "benchmarks": 2,  # one train and one evaluate job per run
        }

    expected_rows = {k: sum(per_run(c)[k] for c, _, _ in runs) for k in per_run(runs[0][0])}
    expected_rows["baselines"] = len(families) * policies * episodes
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
            assert got == set(runs), name
    evals = pd.read_parquet(smoke_run / "results" / "consolidated" / "eval.parquet")
    keys = ["config", "mode", "seed", "which", "policy"]
    assert evals.groupby(keys).size().eq(episodes).all()
    meta = pd.read_parquet(smoke_run / "results" / "consolidated" / "runs.parquet")
    assert set(meta["method"]) == {"HMASD sync", "HMASD async G=2", "HMASD async G=4",
                                   "flat MAPPO sync"}
    assert set(meta["family"]) == {"smoke"}
    baselines = pd.read_parquet(smoke_run / "results" / "consolidated" / "baselines.parquet")
    assert sorted(set(baselines["policy"])) == sorted(grid["baselines"]["policies"])


def test_completed_run_has_nothing_to_do(smoke_run: Path) -> None:
    assert planned(smoke_run) == []


# --------------------------------------------------------------------------------------
# Partial reruns (dry runs on private copies)


def test_adding_a_seed_runs_only_its_jobs_and_the_aggregates(smoke_copy: Path) -> None:
    _edit_grid(smoke_copy, lambda g: g.update(seeds=[0, 1, 2]))
    jobs = planned(smoke_copy)
    # smoke (sync, async), smoke_flat (sync), smoke_async4 (async): 4 runs, 4 evaluations.
    assert rules_of(jobs) == {"train_sync": 2, "train_async": 2, "evaluate": 4, **AGGREGATES}
    assert {j.wildcards["seed"] for j in jobs if "seed" in j.wildcards} == {"2"}


def test_changing_one_config_reruns_only_its_family_members(smoke_copy: Path) -> None:
    """A second config is completed for real on a reduced grid (seed 0, sync, hover), then
    one value of the first config changes: only the first config's jobs and those of its
    variants (which inherit the value) are planned, never the second config's."""
    # A second --configfile narrows the grid (merged over the first; see common.smk).
    (smoke_copy / "reduced.yaml").write_text(
        "seeds: [0]\nmodes: [sync]\nbaselines: {policies: [hover]}\n"
    )
    grids = ("--configfile", SMOKE, "reduced.yaml")

    def add_twin(grid: dict) -> None:
        grid["configs"]["twin"] = {"preset": "smoke"}

    _edit_grid(smoke_copy, add_twin)
    twin = [
        "results/runs/twin/sync/seed0/eval/final.json",
        "results/baselines/twin/hover.json",
    ]
    snakemake(smoke_copy, "--cores", "2", *twin, *grids)

    def change_smoke(grid: dict) -> None:
        grid["configs"]["smoke"]["overrides"] = {"train": {"eval_episodes": 3}}

    _edit_grid(smoke_copy, change_smoke)
    dry = snakemake(smoke_copy, "--dry-run", *grids)
    jobs = parse_jobs(dry.stdout + dry.stderr)
    # smoke_flat (base: smoke) inherits the change; smoke_async4 runs no sync mode.
    assert {j.wildcards.get("config") for j in jobs if j.wildcards} == {"smoke", "smoke_flat"}
    assert rules_of(jobs) == {
        "resolve_config": 2,
        "train_sync": 2,
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
