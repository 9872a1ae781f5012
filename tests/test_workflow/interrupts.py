"""What the interruption tests share: a grid whose train jobs run long enough to be stopped
mid-run, and the comparison of a disturbed DAG's results with an undisturbed one's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import yaml
from test_training.helpers import assert_same_state

from analysis.scores import TIMING_METRICS
from hmasd.training.checkpoint import final_path, load_checkpoint, periodic_path

from .helpers import SNAKEMAKE, copy_repo, job_env

GRID = "config/interrupted.yaml"
CKPT = 1600  # periodic checkpoints (every 20 updates of the smoke preset's 80 steps)
RUNS = {mode: Path(f"results/runs/long/{mode}/seed0") for mode in ("sync", "async")}


def write_grid(root: Path, total_env_steps: int) -> str:
    """One config (the smoke preset, ``total_env_steps`` per run), seed 0, both modes, the
    hover baseline: every rule of the DAG, two train jobs."""
    grid = {
        "seeds": [0],
        "modes": ["sync", "async"],
        "configs": {
            "long": {
                "preset": "smoke",
                "overrides": {
                    "train": {
                        "total_env_steps": total_env_steps,
                        "checkpoint_interval": CKPT,
                        "eval_interval": total_env_steps,
                    },
                    "tracking": {"export_interval": CKPT},
                },
            }
        },
        "evaluate": {"episodes": 2, "seed": 1000},
        "baselines": {"policies": ["hover"]},
    }
    (root / GRID).write_text(yaml.safe_dump(grid))
    return GRID


def two_copies(
    tmp_path: Path, total_env_steps: int, cores: int
) -> tuple[Path, subprocess.Popen, Path]:
    """A repository copy running the undisturbed DAG in the background on ``cores`` cores
    (the reference), and one to disturb; both hold the grid (:data:`GRID`)."""
    reference = copy_repo(tmp_path / "reference")
    write_grid(reference, total_env_steps)
    undisturbed = subprocess.Popen([SNAKEMAKE, "--cores", str(cores), "--configfile", GRID],
                                   cwd=reference, env=job_env(reference),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = copy_repo(tmp_path / "repo")
    write_grid(root, total_env_steps)
    return reference, undisturbed, root


def first_checkpoint(root: Path, mode: str) -> Path:
    return periodic_path(root / RUNS[mode], mode, CKPT)


def assert_same_results(root: Path, reference: Path) -> None:
    """The tables are those of the undisturbed run but for the timing rows, and every
    run's final weights are the same, bit for bit."""
    table = "results/tables/sync_vs_async.csv"
    a, b = pd.read_csv(root / table), pd.read_csv(reference / table)
    a = a[~a.metric.isin(TIMING_METRICS)].reset_index(drop=True)
    b = b[~b.metric.isin(TIMING_METRICS)].reset_index(drop=True)
    assert len(a) > 100
    pd.testing.assert_frame_equal(a, b)
    for mode, run in RUNS.items():
        x = load_checkpoint(final_path(root / run, mode))
        y = load_checkpoint(final_path(reference / run, mode))
        assert_same_state(x["agent"], y["agent"], f"{mode} agent")


def assert_resumed_where_stopped(
    attempts: list[str], final_log: str, signal_name: str
) -> list[int]:
    """``attempts``: what each attempt of a train job printed, in order (its Snakemake or
    SLURM output); ``final_log``: the train log of the last attempt. Every attempt but
    the last was stopped by ``signal_name`` at the end of an update, every attempt but the
    first resumed, and the last resumed from exactly where the one before it stopped:
    nothing is lost but start-up time. Returns the env steps of the stops."""
    assert len(attempts) >= 2, attempts
    stops = []
    for i, text in enumerate(attempts):
        state = "fresh start" if i == 0 else "resuming an interrupted attempt"
        assert f"[train job] {state}" in text, text[-3000:]
        if i < len(attempts) - 1:
            m = re.search(rf"\[train job\] hmasd: stopped by {signal_name} at env step (\d+)", text)
            assert m, text[-3000:]
            stops.append(int(m.group(1)))
    assert stops == sorted(set(stops)), stops
    assert f"at env_step {stops[-1]}\n" in final_log, final_log[-3000:]
    return stops
