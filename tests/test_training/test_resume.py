"""A run resumed from a periodic checkpoint ends exactly like the uninterrupted run (CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hmasd.cli import main
from hmasd.training.checkpoint import (
    best_path,
    final_path,
    latest_checkpoint,
    load_checkpoint,
    periodic_path,
)
from hmasd.training.trainer import train

from .helpers import TINY, assert_same_state, tiny_config

# Columns that hold wall-clock readings, which differ between any two runs.
WALL_CLOCK = {"timestamp", "collection_time", "update_time", "sync_efficiency", "wall_time"}


def _drop_wall_clock(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: _drop_wall_clock(v)
            for k, v in obj.items()
            if k not in WALL_CLOCK and "time" not in k and "efficiency" not in k.lower()
        }
    if isinstance(obj, list):
        return [_drop_wall_clock(v) for v in obj]
    return obj


def assert_same_exports(full: Path, resumed: Path) -> int:
    """Every export of the resumed run equals the uninterrupted run's file of the same name
    (wall-clock columns aside). Returns how many files were compared."""
    compared = 0
    for path in sorted((resumed / "paper_data").iterdir()):
        other = full / "paper_data" / path.name
        assert other.exists(), path.name
        if path.suffix == ".csv":
            a, b = pd.read_csv(other), pd.read_csv(path)
            keep = [c for c in a.columns if c not in WALL_CLOCK]
            assert list(a.columns) == list(b.columns), path.name
            pd.testing.assert_frame_equal(a[keep], b[keep], obj=path.name)
            compared += 1
        elif path.suffix == ".json" and path.name.startswith("skill_usage"):
            a, b = json.loads(other.read_text()), json.loads(path.read_text())
            assert _drop_wall_clock(a) == _drop_wall_clock(b), path.name
            compared += 1
    return compared


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("full")
    runs = {}
    for mode in ("sync", "async"):
        runs[mode] = root / mode
        train(tiny_config(), mode, 0, runs[mode])
    return runs


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_resume_from_periodic_equals_uninterrupted(
    full_runs: dict[str, Path], tmp_path: Path, mode: str
) -> None:
    full = full_runs[mode]
    assert latest_checkpoint(full, mode) == periodic_path(full, mode, 96)
    # A killed job's directory: models/ holds the checkpoint it got to (step 32 of 96).
    resumed = tmp_path / "resumed"
    src = periodic_path(full, mode, 32)
    (resumed / "models").mkdir(parents=True)
    shutil.copy(src, resumed / "models" / src.name)
    summary = train(tiny_config(), mode, 0, resumed, resume_from=resumed / "models" / src.name)
    assert summary["env_steps"] == 96 and summary["updates"] == 3
    a = load_checkpoint(final_path(full, mode))
    b = load_checkpoint(final_path(resumed, mode))
    assert a["policy_version"] == b["policy_version"] == 3
    assert_same_state(a["agent"], b["agent"])
    assert_same_state(a["schedule"], b["schedule"], "schedule")
    assert assert_same_exports(full, resumed) >= 2


def test_resume_latest_extends_a_shorter_run(full_runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    base = ["train", "--config", "smoke", "--mode", "sync", "--seed", "0", "--out", str(out)]
    sets = []
    for section, values in TINY.items():
        for key, value in values.items():
            sets += ["--set", f"{section}.{key}={value}"]
    # Nothing to resume from yet: --resume-latest starts fresh (a 2-update run).
    assert main([*base, *sets, "--set", "train.total_env_steps=64", "--resume-latest"]) == 0
    assert latest_checkpoint(out, "sync") == periodic_path(out, "sync", 64)
    # The rerun with the full budget picks up at 64 and ends like the 96-step run.
    assert main([*base, *sets, "--resume-latest"]) == 0
    a = load_checkpoint(final_path(full_runs["sync"], "sync"))
    b = load_checkpoint(final_path(out, "sync"))
    assert b["env_step"] == 96
    assert_same_state(a["agent"], b["agent"])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_retried_job_ends_with_the_best_checkpoint_of_the_uninterrupted_run(
    full_runs: dict[str, Path], tmp_path: Path, mode: str
) -> None:
    """A job stopped after step 64, whose outputs (best and final checkpoints) Snakemake
    deleted before the retry. In this run the evaluation at step 64 beats the final one,
    so the best checkpoint is not the final one: it must survive the retry."""
    full = full_runs[mode]
    summary = json.loads((full / "train_summary.json").read_text())
    assert summary["best_eval_mean_reward"] > summary["final_eval"]["mean_reward"]
    resumed = tmp_path / "resumed"
    shutil.copytree(full / "models", resumed / "models")
    for path in (best_path(resumed, mode), final_path(resumed, mode),
                 periodic_path(resumed, mode, 96)):
        path.unlink()
    train(tiny_config(), mode, 0, resumed, resume_from=latest_checkpoint(resumed, mode))
    a = load_checkpoint(best_path(full, mode))
    b = load_checkpoint(best_path(resumed, mode))
    assert a["env_step"] == b["env_step"] == 64
    assert_same_state(a["agent"], b["agent"])
