"""Checkpoint files: names, atomic writes, and loading that fails with one readable line.

A checkpoint is a ``torch.save``'d dict holding everything a run needs to go on exactly
where it stopped: config, mode, seed, counters, agent / env / tracker state, every RNG
state and the schedule's own state (running skills, GRU hidden, async round and snapshots).
Files are written atomically, so a killed job always leaves its previous checkpoint whole.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hmasd.config import MODEL_PREFIX
from hmasd.errors import CheckpointError, one_line
from hmasd.io import atomic_write

FORMAT_VERSION = 1
MAGIC = "hmasd-checkpoint"

# The seed script's file names (sync) and the async trainer's (defined in hmasd.config).
PREFIX = MODEL_PREFIX

# Keys a checkpoint must hold; anything else is "not an hmasd checkpoint".
REQUIRED_KEYS = (
    "magic",
    "format_version",
    "config",
    "mode",
    "seed",
    "env_step",
    "policy_version",
    "agent",
)

# Config keys that may change when a run is resumed (budget, cadence, device, logging).
# Every other key fixes a tensor shape or the maths, so a mismatch is an error.
RESUMABLE_CHANGES = {
    "train": {
        "total_env_steps",
        "device",
        "torch_threads",
        "checkpoint_interval",
        "eval_interval",
        "eval_episodes",
    },
    "tracking": {"export", "export_interval", "tensorboard", "detailed_logging", "progress_figure"},
}


def models_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "models"


def best_path(run_dir: Path, mode: str) -> Path:
    """Best checkpoint by evaluation mean return."""
    return models_dir(run_dir) / f"{PREFIX[mode]}.pt"


def best_so_far_path(run_dir: Path, mode: str) -> Path:
    """The best checkpoint while training runs. Not a DAG output, so it survives when
    Snakemake deletes a failed attempt's outputs, and a resumed run ends with the best
    checkpoint of the uninterrupted one; :func:`best_path` is its copy at the end."""
    return models_dir(run_dir) / f"{PREFIX[mode]}_best_so_far.pt"


def final_path(run_dir: Path, mode: str) -> Path:
    return models_dir(run_dir) / f"{PREFIX[mode]}_final.pt"


def periodic_path(run_dir: Path, mode: str, env_step: int) -> Path:
    return models_dir(run_dir) / f"{PREFIX[mode]}_{env_step}.pt"


def periodic_step(path: Path, mode: str) -> int | None:
    """Env step of a periodic checkpoint's name, or None when ``path`` is not one."""
    match = re.fullmatch(rf"{PREFIX[mode]}_(\d+)\.pt", Path(path).name)
    return int(match.group(1)) if match else None


def latest_checkpoint(run_dir: Path, mode: str) -> Path | None:
    """Newest periodic checkpoint (highest env step) in ``run_dir/models``, or None."""
    found = [
        (step, p)
        for p in models_dir(run_dir).glob(f"{PREFIX[mode]}_*.pt")
        if (step := periodic_step(p, mode)) is not None
    ]
    return max(found)[1] if found else None


# --------------------------------------------------------------------------------------
# RNG state


def rng_state() -> dict[str, Any]:
    """Every RNG a run draws from (python, numpy, torch CPU, CUDA)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        # A checkpoint from a machine with more GPUs restores the ones present.
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


# --------------------------------------------------------------------------------------
# Save / load


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (see module docstring) to ``path`` atomically."""
    data = {"magic": MAGIC, "format_version": FORMAT_VERSION, **payload}
    # Serialised in memory first: torch.save's own file writer reports a full disk as an
    # opaque RuntimeError, a plain file write as the OSError that hmasd.io turns into one
    # clear line (the previous checkpoint stays intact either way).
    buf = io.BytesIO()
    torch.save(data, buf)
    atomic_write(path, lambda fh: fh.write(buf.getbuffer()), mode="wb")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint we wrote; any failure is a one-line :class:`CheckpointError`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    try:
        # weights_only=False: our checkpoints hold RNG tuples and numpy state. Only files
        # this package wrote are expected here; everything that goes wrong is caught.
        data = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # truncated zip, pickle garbage, wrong format: all one story
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({type(exc).__name__}: {one_line(exc)})"
        ) from None
    if not isinstance(data, dict) or data.get("magic") != MAGIC:
        raise CheckpointError(f"{path}: not an hmasd checkpoint")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {data.get('format_version')!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def check_compatible(
    path: Path, data: dict[str, Any], current: dict[str, Any], mode: str, seed: int
) -> None:
    """Raise :class:`CheckpointError` when a run (``current`` config dict, mode, seed)
    cannot resume the checkpoint ``data`` loaded from ``path``.

    Keys listed in ``RESUMABLE_CHANGES`` may differ; any other difference names the key.
    """
    if data["mode"] != mode:
        raise CheckpointError(f"{path}: checkpoint is from a {data['mode']} run, not {mode}")
    if data["seed"] != seed:
        raise CheckpointError(f"{path}: checkpoint is from seed {data['seed']}, not {seed}")
    saved = data["config"]
    for section, values in current.items():
        old = saved.get(section, {}) if isinstance(saved, dict) else {}
        allowed = RESUMABLE_CHANGES.get(section, set())
        for key, value in values.items():
            if key in allowed:
                continue
            if key not in old:
                raise CheckpointError(f"{path}: checkpoint config lacks '{section}.{key}'")
            if old[key] != value:
                raise CheckpointError(
                    f"{path}: checkpoint has '{section}.{key}' = {old[key]!r}, "
                    f"the run asks for {value!r}"
                )
