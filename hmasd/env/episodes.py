"""Whole evaluation episodes, for any policy, and the one summary of them.

Trained agents (``hmasd eval``, periodic evaluation) and the baseline policies run their
episodes through :func:`run_episodes` on envs made by :func:`eval_env`, and are summarised
by :func:`summarise`. So at the same seed, episode ``i`` of every policy starts from the
same user layout and UAV positions (and sees the same user motion): per-episode results
are paired across policies, and the analysis can test them pairwise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import torch

from hmasd.config import EnvConfig
from hmasd.env.uav_env import StepResult, UAVBaseStationEnv
from hmasd.errors import TrainingError
from hmasd.seeding import EVAL_STREAM, derive_seed

EPISODE_KEYS = (
    "return",
    "length",
    "throughput_mbps",
    "connected_users",
    "coverage",
    "mean_sinr_db",
    "fairness",
)
"""Per-episode columns of eval and baseline JSONs, in order (env episode metrics)."""


def eval_env(
    cfg: EnvConfig, episodes: int, seed: int, device: torch.device | str = "cpu"
) -> UAVBaseStationEnv:
    """``episodes`` envs (one episode each) seeded from ``seed``'s evaluation stream; reset
    by its constructor, so episode ``i`` starts from the same state for every policy."""
    return UAVBaseStationEnv(cfg, episodes, device=device, seed=derive_seed(seed, EVAL_STREAM))


@torch.no_grad()
def run_episodes(env: UAVBaseStationEnv, step: Callable[[], StepResult]) -> dict[str, list[float]]:
    """Call ``step`` (one env step of the policy, returning ``env.step``'s result) until
    every env of ``env`` has finished the episode it is in; returns ``{metric: [value per
    env]}`` for every episode metric the env reports (``return``, ``length`` and
    :data:`~hmasd.env.uav_env.METRICS`), in env order.
    """
    finished = torch.zeros(env.num_envs, dtype=torch.bool, device=env.device)
    result: dict[str, torch.Tensor] = {}
    for _ in range(env.cfg.max_steps + 1):
        out = step()
        newly = out.done & ~finished
        if bool(newly.any()):
            for key, value in out.episode.items():
                prev = result.get(key, torch.zeros_like(value, dtype=torch.float32))
                result[key] = torch.where(newly, value.float(), prev)
            finished = finished | out.done
            if bool(finished.all()):
                return {key: value.tolist() for key, value in result.items()}
    raise TrainingError(f"evaluation: an episode did not end within {env.cfg.max_steps + 1} steps")


def summarise(per_env: dict[str, list[float]]) -> dict[str, Any]:
    """Mean/std (population) of the returns, means of the performance metrics, and one
    row per episode with the :data:`EPISODE_KEYS` the env reported."""
    returns = per_env["return"]
    rows = []
    for i in range(len(returns)):
        row: dict[str, Any] = {"episode": i}
        for key in EPISODE_KEYS:
            if key in per_env:
                value = per_env[key][i]
                row[key] = int(value) if key == "length" else float(value)
        rows.append(row)

    def mean(key: str) -> float:
        return float(statistics.fmean(per_env[key])) if key in per_env else math.nan

    return {
        "episodes": len(returns),
        "mean_reward": mean("return"),
        "std_reward": float(statistics.pstdev(returns)) if len(returns) > 1 else 0.0,
        "mean_throughput_mbps": mean("throughput_mbps"),
        "mean_connected_users": mean("connected_users"),
        "mean_coverage": mean("coverage"),
        "per_episode": rows,
    }
