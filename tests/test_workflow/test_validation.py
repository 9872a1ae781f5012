"""A bad grid stops the DAG before any job, with one message that names the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .helpers import REPO, copy_repo, snakemake


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("validation") / "repo")


def _smoke() -> dict:
    return yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())


def _unknown_override(grid: dict) -> str:
    grid["configs"]["smoke"]["overrides"] = {"train": {"num_envz": 4}}
    return "configs.smoke.overrides.train.num_envz"


def _wrong_override_type(grid: dict) -> str:
    grid["configs"]["smoke"]["overrides"] = {"train": {"total_env_steps": "lots"}}
    return "configs.smoke.overrides.train.total_env_steps"


def _unknown_default(grid: dict) -> str:
    grid["defaults"]["agent"] = {"lambda_x": 1.0}
    return "defaults.agent.lambda_x"


def _unknown_top_level(grid: dict) -> str:
    grid["seed"] = [0]
    return "seed"


def _wrong_seed_type(grid: dict) -> str:
    grid["seeds"] = [0, "one"]
    return "seeds.1"


def _bad_mode(grid: dict) -> str:
    grid["modes"] = ["sync", "semi"]
    return "modes.1"


def _unknown_resource(grid: dict) -> str:
    grid["resources"]["train"]["gpus"] = 1
    return "resources.train.gpus"


def _out_of_range(grid: dict) -> str:
    # Types fine, but hmasd.config rejects it: checked for every named config up front.
    grid["configs"]["smoke"]["overrides"] = {"train": {"batch_size": 63}}
    return "train.batch_size"


def _window_cut(grid: dict) -> str:
    # A rollout of 4 envs x 15 steps would cut k = 10 skill windows: refused up front.
    grid["defaults"]["train"]["batch_size"] = 60
    return "'agent.skill_interval' (10), or rollouts would cut skill windows"


def _nan_value(grid: dict) -> str:
    # Types fine (NaN is a number to JSON Schema), but not a finite learning rate.
    grid["configs"]["smoke"]["overrides"] = {"agent": {"lr": float("nan")}}
    return "'agent.lr' must be finite, got nan"


def _variant_changes_the_env(grid: dict) -> str:
    # A variant plays its family's episodes: it may not change the env dynamics.
    grid["configs"]["smoke_flat"]["overrides"]["env"] = {"n_users": 20}
    return "'configs.smoke_flat' changes env.n_users of its family 'smoke'"


def _unknown_base(grid: dict) -> str:
    grid["configs"]["smoke_flat"]["base"] = "nope"
    return "'configs.smoke_flat.base' is 'nope'"


def _unknown_preset(grid: dict) -> str:
    grid["configs"]["smoke"]["preset"] = "no_such_preset"
    return "no_such_preset"


@pytest.mark.parametrize(
    "break_grid",
    [
        _unknown_override,
        _wrong_override_type,
        _unknown_default,
        _unknown_top_level,
        _wrong_seed_type,
        _bad_mode,
        _unknown_resource,
        _out_of_range,
        _window_cut,
        _nan_value,
        _variant_changes_the_env,
        _unknown_base,
        _unknown_preset,
    ],
)
def test_invalid_grid_stops_before_any_job(repo_copy: Path, break_grid, tmp_path: Path) -> None:
    grid = _smoke()
    key = break_grid(grid)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(grid))
    proc = snakemake(repo_copy, "--cores", "1", "--configfile", str(bad), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    errors = [line for line in out.splitlines() if line.startswith("invalid config (")]
    assert len(errors) == 1, out
    assert key in errors[0] and str(bad) in errors[0], errors[0]
    assert "Traceback" not in out and "Failed validating" not in out, out
    assert "Building DAG" not in out
    assert not (repo_copy / "results").exists()


def test_defaults_are_filled_in(repo_copy: Path, tmp_path: Path) -> None:
    """A minimal grid (seeds, modes, configs) is complete after validation."""
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text(
        yaml.safe_dump({"seeds": [0], "modes": ["sync"], "configs": {"tiny": {"preset": "smoke"}}})
    )
    targets = ["results/runs/tiny/sync/seed0/eval/final.json", "results/baselines/tiny/kmeans.json"]
    proc = snakemake(repo_copy, "--dry-run", *targets, "--configfile", str(minimal))
    out = proc.stdout + proc.stderr
    # evaluate defaults (32 episodes, seed 1000; the baselines play the same episodes) and
    # the default device reach jobs.
    assert "--episodes 32 --seed 1000 --device cpu" in out, out
    assert "--episodes 32 --seed 1000 --out results/baselines/tiny/kmeans.json" in out, out
    assert "baseline --policy kmeans" in out
