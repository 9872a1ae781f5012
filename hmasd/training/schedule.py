"""What both training schedules share: the batched env at staggered phases, its running
state, one reused rollout buffer, and the collector that fills it.

:class:`~hmasd.training.sync.SyncSchedule` and :class:`~hmasd.training.async_.AsyncSchedule`
add only who acts for which env rows and when weights reach them.
"""

from __future__ import annotations

from typing import Any

import torch

from hmasd.training.rollout import (
    Collector,
    Dims,
    RolloutBuffer,
    RunningState,
    staggered_start,
)


class Schedule:
    """The env (every row started at its :func:`~hmasd.training.rollout.phase_offsets`
    step), its :class:`RunningState` and a ``(rollout_len, num_envs)`` buffer."""

    mode = ""

    def __init__(
        self,
        agent: Any,
        env: Any,
        collector: Collector,
        rollout_len: int,
        dims: Dims,
        device: torch.device,
    ) -> None:
        self.agent, self.env, self.collector = agent, env, collector
        obs, state = staggered_start(env, agent.cfg.skill_interval)
        self.num_envs = obs.shape[0]
        self.rs = RunningState.initial(obs, state, agent.initial_hidden(self.num_envs))
        self.buf = RolloutBuffer(rollout_len, self.num_envs, dims, device)
        self.device = device

    @property
    def envs(self) -> list[Any]:
        return [self.env]

    def state_dict(self) -> dict[str, Any]:
        return {"running": self.rs.state_dict()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.rs = RunningState.from_state_dict(d["running"], self.device)
