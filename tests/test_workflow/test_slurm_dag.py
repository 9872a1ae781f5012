"""The DAG through the SLURM executor on the local single-node test cluster, with the two
ways a cluster stops a job: `scancel --signal=TERM` (preemption) of one train job and a time
limit on the other. Every rule runs as a SLURM job; both train jobs are retried and resume
from their newest checkpoint, and the DAG ends with the results of an undisturbed run."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import REPO, SNAKEMAKE, job_env
from .interrupts import (
    CKPT,
    GRID,
    RUNS,
    assert_resumed_where_stopped,
    assert_same_results,
    first_checkpoint,
    two_copies,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

START = REPO / "workflow" / "slurm" / "start_cluster.sh"
UNSUPPORTED = 3  # start_cluster.sh: this machine cannot host a cluster
# 800 updates per run, 1-2 minutes on one core. train_async hits a 1-minute time limit:
# slurmctld checks limits every 30 s, so SIGTERM comes 60-90 s after the job starts, and
# a retry finishes the run.
TOTAL = 64000
RULES = ("resolve_config", "train_sync", "train_async", "evaluate", "baseline",
         "consolidate", "figures", "tables")


@pytest.fixture(scope="module")
def cluster() -> None:
    if sys.platform != "linux":
        pytest.skip("the SLURM test cluster needs Linux")
    res = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=600)
    if res.returncode == UNSUPPORTED:
        pytest.skip(res.stderr.strip().splitlines()[-1])
    assert res.returncode == 0, f"start_cluster.sh failed:\n{res.stdout}\n{res.stderr}"


def _slurm_job(comment_prefix: str) -> str | None:
    """The id of the running SLURM job whose comment (the plugin's rule_<name>_...) starts
    with ``comment_prefix``."""
    out = subprocess.run(["squeue", "--noheader", "--states=RUNNING", "-o", "%i %k"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    ids = [line.split()[0] for line in out.splitlines() if line.split()[1:2]
           and line.split()[1].startswith(comment_prefix)]
    return ids[0] if ids else None


def test_a_cancelled_and_a_timed_out_train_job_resume_through_slurm(
    cluster: None, tmp_path: Path
) -> None:
    # The undisturbed run, locally, while the SLURM one mostly waits on status checks.
    reference, undisturbed, root = two_copies(tmp_path, TOTAL, cores=1)
    # train_async: a 1-minute time limit without the profile's warning signal (its 180 s
    # lead is longer than the limit), so the job meets the limit itself, as a job would
    # whose site sends no warning: SLURM's SIGTERM at the limit, SIGKILL 30 s later
    # (KillWait). The profile's retries (2) bring both train jobs back.
    slurm = subprocess.Popen(
        [SNAKEMAKE, "--workflow-profile", "profiles/slurm", "--configfile", GRID,
         "--set-resources", "train_async:runtime=1", "train_async:slurm_extra=''"],
        cwd=root, env=job_env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    # Preemption: once train_sync has written a periodic checkpoint, scancel it with TERM.
    deadline = time.monotonic() + 300
    while not first_checkpoint(root, "sync").exists():
        assert slurm.poll() is None and time.monotonic() < deadline, "train_sync never ran"
        time.sleep(0.1)
    job = _slurm_job("rule_train_sync")
    assert job is not None, "train_sync is not running"
    subprocess.run(["scancel", "--signal=TERM", job], check=True, timeout=30)
    out, _ = slurm.communicate(timeout=900)
    assert slurm.returncode == 0, out[-6000:]

    slurm_logs = root / ".snakemake" / "slurm_logs"
    for rule in RULES:
        assert list((slurm_logs / f"rule_{rule}").rglob("*.log")), rule
    attempts, logs = {}, {}
    for mode in RUNS:
        jobs = sorted((slurm_logs / f"rule_train_{mode}").rglob("*.log"),
                      key=lambda p: int(p.stem))
        attempts[mode] = [p.read_text() for p in jobs]
        logs[mode] = (root / f"results/logs/train/long/{mode}/seed0.log").read_text()
    # Preempted: stopped by the TERM after the update in progress, resumed from there.
    stops = assert_resumed_where_stopped(attempts["sync"], logs["sync"], "SIGTERM")
    print(f"train_sync: {len(attempts['sync'])} SLURM jobs, stopped at env steps {stops}")
    # Timed out without a warning: SLURM ends the job at its limit, here before the
    # stop checkpoint is written, so the retry resumes from the newest periodic one; the
    # evidence is the job state and where the last retry resumed.
    assert "SLURM status is: 'TIMEOUT'" in out, out[-6000:]
    assert len(attempts["async"]) >= 2
    assert "[train job] fresh start" in attempts["async"][0]
    assert all("[train job] resuming an interrupted attempt" in a for a in attempts["async"][1:])
    resumed = [int(s) for s in re.findall(r"resumed from \S+ at env_step (\d+)", logs["async"])]
    assert resumed and resumed[0] >= CKPT, logs["async"][-3000:]
    print(f"train_async: {len(attempts['async'])} SLURM jobs, last resumed at {resumed[0]}")
    assert undisturbed.wait(timeout=600) == 0
    assert_same_results(root, reference)
