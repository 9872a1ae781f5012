"""kill -9 of a running train job (and of Snakemake): the rerun resumes, not restarts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .helpers import SNAKEMAKE, copy_repo, edit_without_meaning, job_env, snakemake

pytestmark = pytest.mark.slow

TOTAL = 1280  # 16 updates of 80 transitions (smoke preset)
CKPT = 320  # periodic checkpoint interval (every 4 updates)
RUN = Path("results/runs/long/sync/seed0")
PERIODIC = "hmasd_sync_enhanced_tracking_{}.pt"


def _grid(root: Path) -> str:
    grid = {
        "seeds": [0],
        "modes": ["sync"],
        "configs": {
            "long": {
                "preset": "smoke",
                "overrides": {
                    "train": {
                        "total_env_steps": TOTAL,
                        "checkpoint_interval": CKPT,
                        "eval_interval": TOTAL,
                    },
                    "tracking": {"export_interval": CKPT},
                },
            }
        },
    }
    path = root / "config" / "long.yaml"
    path.write_text(yaml.safe_dump(grid))
    return "config/long.yaml"


def _kill(pid: int, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError):
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)


def test_killed_training_resumes_from_its_periodic_checkpoint(tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo")
    grid = _grid(root)
    target = str(RUN / "train_summary.json")
    run = root / RUN
    first = subprocess.Popen(
        [SNAKEMAKE, "--cores", "1", target, "--configfile", grid],
        cwd=root,
        env=job_env(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (run / "models" / PERIODIC.format(CKPT)).exists():
            assert first.poll() is None, "snakemake ended before the first periodic checkpoint"
            assert time.monotonic() < deadline, "no periodic checkpoint within 300 s"
            time.sleep(0.2)
        attempt = json.loads((run / ".train_attempt.json").read_text())
        # Node loss: the training process and Snakemake die at once, no clean-up.
        _kill(attempt["pid"])
        _kill(first.pid, group=True)
    finally:
        first.wait(timeout=60)
    assert not (run / "train_summary.json").exists()
    kept = sorted((run / "models").glob(PERIODIC.format("*")))
    assert kept, "the periodic checkpoints must survive the kill"

    # A docstring and comment edit meanwhile keeps the attempt resumable: the attempt's
    # fingerprint holds the code's meaning (params.code), not its bytes.
    edit_without_meaning(root / "hmasd" / "env" / "uav_env.py")
    edit_without_meaning(root / "hmasd" / "training" / "trainer.py")
    # A killed Snakemake leaves its lock: unlock, then the same command picks the job up
    # again (the default profile has rerun-incomplete).
    snakemake(root, "--unlock", target, "--configfile", grid)
    snakemake(root, "--cores", "1", target, "--configfile", grid, timeout=600)

    log = (root / "results/logs/train/long/sync/seed0.log").read_text()
    assert "[train job] resuming an interrupted attempt" in log, log
    assert "fresh start" not in log
    summary = json.loads((run / "train_summary.json").read_text())
    resumed = Path(summary["resumed_from"]).name
    resumed_step = int(resumed.rsplit("_", 1)[1].removesuffix(".pt"))
    assert CKPT <= resumed_step < TOTAL
    assert f"at env_step {resumed_step}" in log
    assert summary["env_steps"] == TOTAL and summary["updates"] == TOTAL // 80
    assert (run / "models" / PERIODIC.format(TOTAL)).exists()
