"""Finished episodes: their host copy, their ``episode_rewards`` rows and the running return
statistics (episode count, last 10 returns, best return)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hmasd.tracking import tags
from hmasd.tracking.exports import EPISODE_METRICS

# Keys every episodes dict must hold; the per-episode env metrics are optional.
EPISODE_REQUIRED = ("env_id", "return", "length", "env_component", "team_disc_component",
                    "ind_disc_component")


def host_columns(episodes: Mapping[str, Tensor | np.ndarray]) -> dict[str, np.ndarray]:
    """The required keys and the env metrics present, as float64 host arrays of length E.

    All keys are stacked into one tensor first, so a device pays one host copy per call
    instead of one per key.
    """
    missing = [k for k in EPISODE_REQUIRED if k not in episodes]
    if missing:
        raise KeyError(f"log_episodes: episodes dict lacks {', '.join(missing)}")
    keys = [*EPISODE_REQUIRED, *(k for k in EPISODE_METRICS if k in episodes)]
    dev = next(
        (v.device for v in episodes.values() if isinstance(v, Tensor)), torch.device("cpu")
    )
    stacked = torch.stack([
        torch.as_tensor(episodes[k], device=dev).detach().reshape(-1).to(torch.float64)
        for k in keys
    ]).cpu().numpy()
    return dict(zip(keys, stacked, strict=True))


def episode_rows(
    cols: Mapping[str, np.ndarray], first: int, env_step: int, policy_version: int
) -> dict[str, np.ndarray]:
    """The ``episode_rewards`` rows of the episodes in ``cols`` (from :func:`host_columns`),
    numbered from ``first``. ``total_reward`` is the low-level reward the agent trained on
    (the sum of the three weighted terms), ``env_return`` the env's own return; env metrics
    not given are NaN, so the columns are the same in every file."""
    e = len(cols["return"])
    nan = np.full(e, np.nan)
    return {
        "episode": np.arange(first, first + e, dtype=np.int64),
        "env_id": cols["env_id"].astype(np.int64),
        "total_reward": cols["env_component"]
        + cols["team_disc_component"]
        + cols["ind_disc_component"],
        "episode_length": cols["length"].astype(np.int64),
        "timestamp": np.full(e, time.time()),
        "env_component": cols["env_component"],
        "team_disc_component": cols["team_disc_component"],
        "ind_disc_component": cols["ind_disc_component"],
        "env_return": cols["return"],
        **{k: cols.get(k, nan) for k in EPISODE_METRICS},
        "env_step": np.full(e, int(env_step), dtype=np.int64),
        "policy_version": np.full(e, int(policy_version), dtype=np.int64),
    }


class EpisodeStats:
    """How many episodes finished, the last :data:`~hmasd.tracking.tags.ROLLING` returns and
    the best return of the run."""

    def __init__(self) -> None:
        self.completed = 0
        self.recent_returns: deque[float] = deque(maxlen=tags.ROLLING)
        self.best_return = -math.inf

    def add(self, returns: np.ndarray) -> int:
        """Count the episodes of ``returns`` (E > 0); returns the number of the first one
        (episodes are numbered from 1 over the run)."""
        first = self.completed + 1
        self.completed += len(returns)
        self.recent_returns.extend(returns.tolist())
        self.best_return = max(self.best_return, float(returns.max()))
        return first

    def recent_mean(self) -> float:
        """Mean of the last :data:`~hmasd.tracking.tags.ROLLING` returns (``Avg_Reward_10ep``)."""
        return float(np.mean(self.recent_returns))

    def summary(self) -> dict[str, Any]:
        return {
            "episodes_completed": self.completed,
            "best_episode_reward": self.best_return if self.completed else None,
            "mean_recent_reward": self.recent_mean() if self.recent_returns else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "episodes_completed": self.completed,
            "recent_returns": list(self.recent_returns),
            "best_return": self.best_return,
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self.completed = int(d["episodes_completed"])
        self.recent_returns = deque(d["recent_returns"], maxlen=tags.ROLLING)
        self.best_return = float(d["best_return"])
