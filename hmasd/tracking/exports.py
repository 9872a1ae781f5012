"""`paper_data/` exports: the column contract, the pending-row buffers and the file writers.

Each export holds only the rows logged since the previous export, so the tracker's memory
stays bounded by one export interval; each file is written whole or not at all (temp file,
then rename). The column names and their order are the contract with ``analysis/schema.py``:
change them there and here together.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hmasd.config import LAG_LEVELS
from hmasd.env.uav_env import METRICS as ENV_METRICS
from hmasd.io import atomic_write

# Per-episode env metrics: the env's own metric names (its `out.episode` holds their means).
EPISODE_METRICS = ENV_METRICS

EPISODE_COLUMNS = (
    "episode",
    "env_id",
    "total_reward",
    "episode_length",
    "timestamp",
    "env_component",
    "team_disc_component",
    "ind_disc_component",
    "env_return",
    *EPISODE_METRICS,
    "env_step",
    "policy_version",
)
# Per-update measures of the skills' signal, from the update's ``skills/*`` metrics.
SIGNAL_COLUMNS = (
    "intrinsic_share_team",
    "intrinsic_share_ind",
    "team_disc_accuracy",
    "ind_disc_accuracy",
    "team_skill_majority",
    "ind_skill_majority",
)
# Clip fraction and approx KL of the learner at the update's start against the behaviour
# policy, per policy-lag level (the update's ``staleness/*`` metrics; NaN: no such sample).
STALENESS_COLUMNS = tuple(
    f"{measure}_lag{level}" for measure in ("clipfrac", "approx_kl") for level in range(LAG_LEVELS)
)
SYNC_COLUMNS = (
    "policy_version",
    "samples_collected",
    "collection_time",
    "update_time",
    "sync_efficiency",
    "stale_fraction",
    "mean_lag",
    "max_lag",
    "env_steps",
    "wall_time",
    *SIGNAL_COLUMNS,
    *STALENESS_COLUMNS,
)
REWARD_COLUMNS = (
    "env_steps",
    "policy_version",
    "env_component",
    "team_disc_component",
    "ind_disc_component",
    "total",
)
DETAILED_REWARD_COLUMNS = (
    "env_step",
    "env_id",
    "env_component",
    "team_disc_component",
    "ind_disc_component",
)
SKILL_TRACE_COLUMNS = ("env_step", "env_id", "agent", "team_skill", "ind_skill")


def write_csv(path: Path, columns: Iterable[str], data: Mapping[str, np.ndarray]) -> None:
    """Write columns of equal length as a CSV (numbers in their shortest exact form)."""
    names = list(columns)
    cols = [np.asarray(data[c]).astype(str) for c in names]

    def writer(fh: Any) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(names)
        w.writerows(zip(*cols, strict=True))

    atomic_write(path, writer)


def jsonable(obj: Any) -> Any:
    """Plain JSON values: non-finite floats become null (strict JSON readers reject NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Tensor | np.generic):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)  # paths, devices, ...: their readable form


class Rows:
    """Pending rows of one CSV, stored column-wise as numpy chunks (one chunk per log call).

    Column-wise chunks keep a log call to one small allocation per column, however many
    episodes or updates it carries; the rows are joined only at export.
    """

    def __init__(self, columns: Iterable[str]) -> None:
        self.columns = tuple(columns)
        self.chunks: list[dict[str, np.ndarray]] = []
        self.n = 0

    def append(self, chunk: Mapping[str, Any]) -> None:
        """Add rows: ``chunk`` maps every column to a scalar or a 1-D array (extra keys are
        ignored)."""
        arrays = {c: np.atleast_1d(np.asarray(chunk[c])) for c in self.columns}
        self.chunks.append(arrays)
        self.n += len(arrays[self.columns[0]])

    def data(self) -> dict[str, np.ndarray]:
        """Every pending row, one array per column (empty arrays when none)."""
        if not self.chunks:
            return {c: np.zeros(0) for c in self.columns}
        return {c: np.concatenate([ch[c] for ch in self.chunks]) for c in self.columns}

    def write(self, path: Path) -> None:
        write_csv(path, self.columns, self.data())

    def clear(self) -> None:
        self.chunks, self.n = [], 0

    def state_dict(self) -> dict[str, list[Any]]:
        return {c: v.tolist() for c, v in self.data().items()}

    def load_state_dict(self, d: Mapping[str, list[Any]]) -> None:
        self.clear()
        if d and len(d[self.columns[0]]):
            self.append({c: np.asarray(d[c]) for c in self.columns})


class DetailedRows:
    """The ``--detailed-logging`` rows: every env step's reward terms and every decision's
    skills, kept as the device tensors they were logged as until export (no host sync per
    step)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, Tensor]] = []  # (env_step, (3, B) env/team/ind terms)
        self.decisions: list[tuple[int, Tensor, Tensor]] = []  # (env_step, team (E,), ind (E, n))

    def add_step(self, env_step: int, terms: Tensor) -> None:
        """``terms`` (3, B): env, team-disc. and (agent-mean) ind-disc. reward terms per env."""
        self.steps.append((int(env_step), terms))

    def add_decision(self, env_step: int, team: Tensor, ind: Tensor) -> None:
        self.decisions.append((int(env_step), team.detach().clone(), ind.detach().clone()))

    def pending(self) -> dict[str, int]:
        """Rows each file would get now."""
        return {
            "reward_components_detailed": sum(int(t.shape[1]) for _, t in self.steps),
            "skill_traces": sum(int(ind.numel()) for _, _, ind in self.decisions),
        }

    def write(self, paper_dir: Path, step: int) -> None:
        """``reward_components_detailed_step_{step}.csv`` (one row per env per step) and
        ``skill_traces_step_{step}.csv`` (one row per env x agent per decision)."""
        if self.steps:
            comps = torch.cat([t for _, t in self.steps], dim=1).cpu().numpy()  # (3, R)
            steps = np.concatenate([np.full(t.shape[1], s, dtype=np.int64) for s, t in self.steps])
            ids = np.concatenate([np.arange(t.shape[1]) for _, t in self.steps])
        else:
            comps, steps, ids = np.zeros((3, 0)), np.zeros(0, np.int64), np.zeros(0, np.int64)
        write_csv(
            paper_dir / f"reward_components_detailed_step_{step}.csv",
            DETAILED_REWARD_COLUMNS,
            {
                "env_step": steps,
                "env_id": ids,
                "env_component": comps[0],
                "team_disc_component": comps[1],
                "ind_disc_component": comps[2],
            },
        )
        cols: dict[str, list[np.ndarray]] = {c: [] for c in SKILL_TRACE_COLUMNS}
        for s, team, ind in self.decisions:
            e, n = ind.shape
            cols["env_step"].append(np.full(e * n, s, dtype=np.int64))
            cols["env_id"].append(np.repeat(np.arange(e), n))
            cols["agent"].append(np.tile(np.arange(n), e))
            cols["team_skill"].append(np.repeat(team.cpu().numpy().astype(np.int64), n))
            cols["ind_skill"].append(ind.cpu().numpy().astype(np.int64).reshape(-1))
        data = {c: np.concatenate(v) if v else np.zeros(0, np.int64) for c, v in cols.items()}
        write_csv(paper_dir / f"skill_traces_step_{step}.csv", SKILL_TRACE_COLUMNS, data)

    def clear(self) -> None:
        self.steps.clear()
        self.decisions.clear()

    def state_dict(self) -> dict[str, Any]:
        """CPU copies under the checkpoint's keys ``step_rows`` and ``trace_rows``."""
        return {
            "step_rows": [(s, t.detach().cpu().clone()) for s, t in self.steps],
            "trace_rows": [
                (s, a.detach().cpu().clone(), b.detach().cpu().clone())
                for s, a, b in self.decisions
            ],
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self.steps = [(int(s), t.clone()) for s, t in d["step_rows"]]
        self.decisions = [(int(s), a.clone(), b.clone()) for s, a, b in d["trace_rows"]]
