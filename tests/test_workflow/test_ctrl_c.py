"""Ctrl-C on a local `snakemake --cores 2`: the running train jobs checkpoint and stop, and
the same command afterwards resumes them and ends with the undisturbed run's results."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import SNAKEMAKE, job_env, snakemake
from .interrupts import (
    CKPT,
    GRID,
    RUNS,
    assert_resumed_where_stopped,
    assert_same_results,
    first_checkpoint,
    two_copies,
)

pytestmark = pytest.mark.slow

TOTAL = 8000  # 100 updates per run: seconds, so that Ctrl-C lands mid-training


def test_ctrl_c_leaves_train_jobs_resumable_and_the_rerun_matches(tmp_path: Path) -> None:
    reference, undisturbed, root = two_copies(tmp_path, TOTAL, cores=2)
    # A terminal's Ctrl-C: SIGINT to the foreground process group (Snakemake and its jobs).
    output = tmp_path / "first.out"
    with open(output, "w") as out:
        first = subprocess.Popen([SNAKEMAKE, "--cores", "2", "--configfile", GRID], cwd=root,
                                 env=job_env(root), stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not all(first_checkpoint(root, mode).exists() for mode in RUNS):
            assert first.poll() is None, "snakemake ended before the train jobs were under way"
            assert time.monotonic() < deadline, "no periodic checkpoints within 300 s"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGINT)
    finally:
        assert first.wait(timeout=120) != 0
    for run in RUNS.values():
        assert not (root / run / "train_summary.json").exists()

    # The same command again (Snakemake removed its lock on the way out; the default
    # profile has rerun-incomplete).
    rerun = snakemake(root, "--cores", "2", "--configfile", GRID, timeout=600)
    for mode, run in RUNS.items():
        # Each attempt's lines about this run (both jobs write to Snakemake's output).
        attempts = ["\n".join(line for line in text.splitlines() if str(run) in line)
                    for text in (output.read_text(), rerun.stdout + rerun.stderr)]
        log = (root / f"results/logs/train/long/{mode}/seed0.log").read_text()
        (step,) = assert_resumed_where_stopped(attempts, log, "SIGINT")
        assert CKPT <= step < TOTAL
        print(f"train_{mode}: stopped by SIGINT at env step {step}, resumed there")
    assert undisturbed.wait(timeout=600) == 0
    assert_same_results(root, reference)
