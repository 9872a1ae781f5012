"""The smoke DAG through the SLURM executor on the local single-node test cluster."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO, SMOKE, copy_repo, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

START = REPO / "workflow" / "slurm" / "start_cluster.sh"
UNSUPPORTED = 3  # start_cluster.sh: this machine cannot host a cluster


@pytest.fixture(scope="module")
def cluster() -> None:
    if sys.platform != "linux":
        pytest.skip("the SLURM test cluster needs Linux")
    res = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=600)
    if res.returncode == UNSUPPORTED:
        pytest.skip(res.stderr.strip().splitlines()[-1])
    assert res.returncode == 0, f"start_cluster.sh failed:\n{res.stdout}\n{res.stderr}"


def test_smoke_dag_runs_through_slurm(cluster: None, tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo")
    # A workflow profile replaces profiles/default (a --profile would be overridden by it).
    # One seed of the smoke grid: every rule still runs through SLURM, in half the train
    # and evaluate jobs (the plugin's status checks back off by 10 s while no job ends,
    # so each wave of jobs costs tens of seconds here).
    (root / "one_seed.yaml").write_text("seeds: [1]\n")
    res = snakemake(
        root,
        "--workflow-profile",
        "profiles/slurm",
        "--configfile",
        SMOKE,
        "one_seed.yaml",
        timeout=1500,
    )
    jobs = re.findall(r"submitted with SLURM jobid (\d+)", res.stdout + res.stderr)
    # 3 resolve_config + 4 train + 4 evaluate + 3 baselines + consolidate/figures/tables.
    assert len(jobs) == 17, res.stderr[-4000:]
    for rule in ("train_sync", "train_async", "evaluate", "baseline", "tables"):
        assert list((root / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob("*.log")), rule
    for mode in ("sync", "async"):
        summary = root / "results" / "runs" / "smoke" / mode / "seed1" / "train_summary.json"
        assert json.loads(summary.read_text())["env_steps"] == 320
    assert (root / "results" / "tables" / "sync_vs_async.md").stat().st_size > 0
    assert (root / "results" / "figures" / "learning_curves.pdf").stat().st_size > 0
