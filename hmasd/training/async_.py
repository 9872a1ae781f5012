"""Asynchronous schedule: the original trainer's behaviour, made explicit and measurable.

The ``num_envs`` envs are split into ``G = async_groups`` groups of ``group_size``
consecutive env rows, and each group acts on its own *snapshot* of the agent (a full copy:
actor, coordinator, discriminators, version). Weights reach the actor groups with a delay,
as in a learner/actor system where the learner broadcasts while the actors keep stepping:
in round ``r`` (one rollout of every group) only group ``r mod G`` refreshes its snapshot
from the learner before acting, so a group's snapshot is 0..G-1 versions old (mean lag
(G-1)/2) and groups act on different versions at the same time. Running skills, skill
windows and GRU hidden states carry on across updates and refreshes.

Everything else is the sync schedule's: the same env (seeded alike), rollouts of
``rollout_len`` steps (the same GAE horizon and whole skill windows), one update per
``batch_size`` transitions, the same collector. All groups step in one batched env call,
and the snapshots act as one stacked forward pass over all rows
(:class:`~hmasd.training.policy_groups.PolicyGroups`; each block of rows gets the numbers
its snapshot alone would compute, up to float rounding), so a group costs neither an env
step nor a forward pass of its own. With ``G = 1`` the only group refreshes every round:
no lag, and the run is the sync run bit for bit (tested). Staleness is real, not
simulated by relabelling: every stored step carries the version that produced it.

Lag counts policy versions (one per update): ``lag = learner version - sample version``.
Sample-Factory counts optimiser steps instead, so its numbers are larger for the same data.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from hmasd.agent.batch import Batch
from hmasd.training.policy_groups import PolicyGroups
from hmasd.training.rollout import Collector, Dims
from hmasd.training.schedule import Schedule


class AsyncSchedule(Schedule):
    """Env groups on delayed policy snapshots, one refresh per round."""

    mode = "async"

    def __init__(
        self,
        agent: Any,
        env: Any,
        collector: Collector,
        groups: int,
        rollout_len: int,
        dims: Dims,
        device: torch.device,
    ) -> None:
        super().__init__(agent, env, collector, rollout_len, dims, device)
        self.G = groups
        size = self.num_envs // groups
        self.rows = [slice(g * size, (g + 1) * size) for g in range(groups)]
        self.snapshots = [copy.deepcopy(agent) for _ in range(groups)]
        self.policies = PolicyGroups(self.snapshots, self.rows)
        self.round = 0

    def refreshed_group(self, round_: int) -> int:
        """The group that picks up the learner's weights before acting in round
        ``round_``: staggered, so at any moment the groups hold snapshots of different
        ages (0 .. G-1 versions)."""
        return round_ % self.G

    def snapshot_versions(self) -> list[int]:
        return [int(s.policy_version) for s in self.snapshots]

    def next_batch(self, env_step: int) -> tuple[Batch, int]:
        """One round: refresh one group, every group rolls out on its own snapshot; the
        batch views the reused buffer (valid until the next call)."""
        g = self.refreshed_group(self.round)
        self.snapshots[g].load_state_dict(self.agent.state_dict())
        self.policies.refresh(g)
        env_step = self.collector.collect(self.policies, self.env, self.rs, self.buf, env_step)
        self.round += 1
        return self.buf.batch(), env_step

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "snapshots": [s.state_dict() for s in self.snapshots],
            "round": self.round,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        super().load_state_dict(d)
        if len(d["snapshots"]) != len(self.snapshots):
            raise ValueError(f"{len(d['snapshots'])} async groups in the checkpoint, {self.G} here")
        for snap, sd in zip(self.snapshots, d["snapshots"], strict=True):
            snap.load_state_dict(sd)
        self.policies.refresh()
        self.round = int(d["round"])
