"""A real single-node SLURM cluster runs batch jobs and a Snakemake DAG via the slurm executor.

Starts the cluster with workflow/slurm/start_cluster.sh (installs slurm-wlm + munge when
missing; root only) and leaves it running for other tests. Skips, with the script's reason,
where the machine cannot host one (not root, no apt-get).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "workflow" / "slurm" / "start_cluster.sh"
PROFILE = ROOT / "profiles" / "slurm"
UNSUPPORTED = 3  # start_cluster.sh: this machine cannot host a cluster


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def cluster() -> str:
    """Start (or find) the cluster; returns the node name."""
    if sys.platform != "linux":
        pytest.skip("SLURM test cluster needs Linux")
    res = _run(["bash", str(START)], timeout=600)
    if res.returncode == UNSUPPORTED:
        pytest.skip(res.stderr.strip().splitlines()[-1])
    assert res.returncode == 0, f"start_cluster.sh failed:\n{res.stdout}\n{res.stderr}"
    return _run(["hostname", "-s"], timeout=10).stdout.strip()


def _job_state(job_id: str) -> str:
    """State of a job as squeue reports it (finished jobs stay visible for MinJobAge)."""
    res = _run(["squeue", "--states=all", "--noheader", "-j", job_id, "-o", "%T"], timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Jobs re-run `python -m snakemake` with this interpreter; sbatch --export=ALL passes PATH.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "--workflow-profile", str(PROFILE), *args]
    return _run(cmd, timeout=480, cwd=workdir, env=env)


def test_sbatch_job_runs_on_the_node(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "job.txt"
    res = _run(
        [
            "sbatch", "--parsable", "--wait", "-p", "debug", "-t", "1", "--mem", "50",
            "-o", str(tmp_path / "slurm-%j.log"),
            "--wrap", f"echo $SLURM_JOB_ID $SLURMD_NODENAME > {out}",
        ],
        timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip().split(";")[0]
    assert out.read_text().split() == [job_id, cluster]
    assert _job_state(job_id) == "COMPLETED"


SNAKEFILE = """\
rule all:
    input: "b.txt"

rule a:
    output: "a.txt"
    resources: mem_mb=200, runtime=5
    shell: "echo $SLURM_JOB_ID > {output}"

rule b:
    input: "a.txt"
    output: "b.txt"
    shell: "cat {input} > {output}; echo $SLURM_JOB_ID >> {output}"
"""


def test_snakemake_slurm_executor_runs_dependent_rules(cluster: str, tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    res = _snakemake(tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    # Each rule ran as its own SLURM job, a before b; both finished as squeue saw them.
    job_a, job_b = (tmp_path / "b.txt").read_text().split()
    assert (tmp_path / "a.txt").read_text().split() == [job_a]
    assert int(job_a) < int(job_b)
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", res.stderr)
    assert submitted == [job_a, job_b]
    for rule, job in (("a", job_a), ("b", job_b)):
        assert (tmp_path / ".snakemake" / "slurm_logs" / f"rule_{rule}" / f"{job}.log").is_file()
        assert _job_state(job) == "COMPLETED"


def test_snakemake_slurm_executor_reports_a_failed_job(cluster: str, tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent("""\
        rule boom:
            output: "never.txt"
            shell: "echo failing on purpose >&2; exit 3"
        """)
    )
    # The profile retries a failed job (a preempted or timed-out train job resumes:
    # tests/test_workflow/test_slurm_dag.py); one retry is enough to see it here.
    assert yaml.safe_load((PROFILE / "config.yaml").read_text())["retries"] >= 1
    res = _snakemake(tmp_path, "--retries", "1")
    assert res.returncode != 0
    jobs = re.findall(r"submitted with SLURM jobid (\d+)", res.stderr)
    assert len(jobs) == 2
    assert {_job_state(j) for j in jobs} == {"FAILED"}
    assert not (tmp_path / "never.txt").exists()
    log = tmp_path / ".snakemake" / "slurm_logs" / "rule_boom" / f"{jobs[-1]}.log"
    assert "failing on purpose" in log.read_text()
