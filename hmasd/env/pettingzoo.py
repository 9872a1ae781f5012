"""PettingZoo ``ParallelEnv`` over one :class:`UAVBaseStationEnv`.

    from hmasd.env.pettingzoo import parallel_env
    env = parallel_env(n_uavs=3, scenario="cooperative_network", seed=0)
    obs, infos = env.reset(seed=42)
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)

Agents are ``uav_0`` .. ``uav_{n-1}``; observations are float32 vectors in [-1, 1] (Box),
actions float32 velocities in [-1, 1]^3 (Box; clipped by the env). Every agent receives the
team reward. Episodes end by the time limit (``truncations`` all True, ``terminations``
all False); ``infos[agent]`` holds the step metrics (and ``episode`` means at the end).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from hmasd.config import EnvConfig, env_from_dict
from hmasd.env.uav_env import UAVBaseStationEnv

RENDER_MODES = ("ansi",)


class UAVParallelEnv(ParallelEnv):
    """One multi-UAV base-station env with the PettingZoo parallel API."""

    metadata = {"name": "hmasd_uav_base_station_v0", "render_modes": list(RENDER_MODES)}

    def __init__(self, cfg: EnvConfig, seed: int = 0, render_mode: str | None = None) -> None:
        from hmasd.errors import ConfigError

        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ConfigError(
                f"unknown render_mode {render_mode!r} (allowed: None, {', '.join(RENDER_MODES)})"
            )
        self.render_mode = render_mode
        self.env = UAVBaseStationEnv(cfg, num_envs=1, device="cpu", seed=seed)
        n = self.env.n_agents
        self.possible_agents = [f"uav_{i}" for i in range(n)]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(-1.0, 1.0, (self.env.obs_dim,), np.float32)
        self._act_space = spaces.Box(-1.0, 1.0, (self.env.action_dim,), np.float32)
        self.state_space = spaces.Box(-1.0, 1.0, (self.env.state_dim,), np.float32)
        self._state = np.zeros(self.env.state_dim, np.float32)
        self._last: dict[str, float] = {}

    # Every agent shares one space object (parallel_api_test wants the same object each call).
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Box:
        return self._act_space

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode; ``seed`` re-seeds the env's generator."""
        if seed is not None:
            self.env.generator.manual_seed(int(seed))
        obs, state = self.env.reset()
        self.agents = list(self.possible_agents)
        self._state = state[0].numpy().astype(np.float32)
        return self._obs_dict(obs[0]), {a: {} for a in self.agents}

    def step(
        self, actions: dict[str, np.ndarray]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Advance one step; agents missing from ``actions`` hover (zero velocity)."""
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        act = np.zeros((1, len(self.possible_agents), 3), np.float32)
        for i, agent in enumerate(self.possible_agents):
            if agent in actions:
                act[0, i] = np.asarray(actions[agent], np.float32).reshape(3)
        out = self.env.step(torch.from_numpy(act))
        done = bool(out.done[0])
        self._state = out.terminal_state[0].numpy().astype(np.float32)
        reward = float(out.reward[0])
        metrics = {k: float(v[0]) for k, v in out.metrics.items()}
        self._last = metrics
        info: dict[str, Any] = {"metrics": metrics}
        if done:
            info["episode"] = {k: float(v[0]) for k, v in out.episode.items()}
        agents = self.agents
        obs = self._obs_dict(out.terminal_obs[0])
        rewards = dict.fromkeys(agents, reward)
        terminations = dict.fromkeys(agents, False)
        truncations = dict.fromkeys(agents, done)
        infos = {a: dict(info) for a in agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """Global state (state_dim,) float32 of the current step."""
        return self._state.copy()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        pos = self.env.uav_pos[0]
        lines = [
            f"t={int(self.env.t[0])}  " + "  ".join(f"{k}={v:.3g}" for k, v in self._last.items())
        ]
        for agent, p in zip(self.possible_agents, pos.tolist(), strict=True):
            lines.append(f"{agent}: x={p[0]:.1f} y={p[1]:.1f} z={p[2]:.1f}")
        return "\n".join(lines)

    def close(self) -> None:
        pass

    def _obs_dict(self, obs: torch.Tensor) -> dict[str, np.ndarray]:
        arr = obs.numpy().astype(np.float32)  # (n, obs_dim), a copy
        return {a: arr[i] for i, a in enumerate(self.possible_agents) if a in self.agents}


def parallel_env(**kwargs: Any) -> UAVParallelEnv:
    """A PettingZoo ParallelEnv; ``kwargs``: EnvConfig fields, plus ``seed``, ``render_mode``.

    Config values are validated as in YAML (unknown keys and wrong types raise ConfigError).
    """
    seed = kwargs.pop("seed", 0)
    render_mode = kwargs.pop("render_mode", None)
    cfg = env_from_dict(kwargs)
    return UAVParallelEnv(cfg, seed=seed, render_mode=render_mode)
