"""Asynchronous schedule: the original trainer's behaviour, made explicit and measurable.

The ``num_envs`` envs are split into ``G = async_groups`` groups of ``group_size`` envs,
each its own batched env. Groups take turns (round-robin); on its turn a group advances
``rollout_len`` steps (as long as a sync rollout: the same GAE horizon, and whole skill
windows) and appends that segment ``(T=rollout_len, B=group_size)`` to a FIFO. An update
fires between turns as soon as the FIFO holds ``batch_size`` transitions (one round: a turn
of every group) and consumes them, oldest first. Updates per env step, epochs, minibatches,
rewards and GAE are those of sync mode: the schedules differ in staleness only.

Staleness is real, not simulated by relabelling: each group acts on its own *snapshot* of
the agent (a full copy: actor, coordinator, discriminators, version). Weights reach the
actor groups with a delay, as in a learner/actor system where the learner broadcasts while
the actors keep stepping: in round ``r`` only group ``r mod G`` refreshes its snapshot from
the learner at the start of its turn, so a group's snapshot is 0..G-1 versions old (mean
lag (G-1)/2) and groups act on different versions at the same time. Running skills, skill
windows and GRU hidden states carry on across updates and refreshes. With ``G = 1`` the
only group refreshes every round: no lag, and the run is the sync run bit for bit (tested).

Lag counts policy versions (one per update): ``lag = learner version - sample version``.
Sample-Factory counts optimiser steps instead, so its numbers are larger for the same data.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import fields
from typing import Any

import torch
from torch import Tensor

from hmasd.agent.batch import Batch
from hmasd.training.rollout import Collector, Dims, RolloutBuffer, RunningState


def batch_to_dict(batch: Batch) -> dict[str, Tensor]:
    return {f.name: getattr(batch, f.name) for f in fields(Batch)}


class AsyncSchedule:
    """Round-robin env groups on delayed policy snapshots, feeding a FIFO of segments."""

    mode = "async"

    def __init__(
        self,
        agent: Any,
        envs: list[Any],
        collectors: list[Collector],
        rollout_len: int,
        batch_size: int,
        dims: Dims,
        device: torch.device,
    ) -> None:
        self.agent = agent
        self._envs = envs
        self.collectors = collectors
        self.G = len(envs)
        self.rollout_len = rollout_len
        self.batch_size = batch_size
        self.dims = dims
        self.device = device
        self.snapshots = [copy.deepcopy(agent) for _ in range(self.G)]
        self.rs: list[RunningState] = []
        for env in envs:
            obs, state = env.reset()
            self.rs.append(RunningState.initial(obs, state, agent.initial_hidden(obs.shape[0])))
        self.fifo: deque[Batch] = deque()
        self.fifo_steps = 0
        self.turn = 0

    @property
    def envs(self) -> list[Any]:
        return self._envs

    def refreshes(self, turn: int) -> bool:
        """Whether the group acting on global turn ``turn`` picks up the learner's weights.

        Round ``turn // G``'s refresh goes to group ``(turn // G) mod G``: staggered, so at
        any moment the groups hold snapshots of different ages (0 .. G-1 rounds).
        """
        g = turn % self.G
        return (turn // self.G) % self.G == g

    def snapshot_versions(self) -> list[int]:
        return [int(s.policy_version) for s in self.snapshots]

    def next_batch(self, env_step: int) -> tuple[Batch, int]:
        """Run group turns until the FIFO holds ``batch_size`` transitions; pop them."""
        while self.fifo_steps < self.batch_size:
            g = self.turn % self.G
            if self.refreshes(self.turn):
                self.snapshots[g].load_state_dict(self.agent.state_dict())
            B = self.rs[g].obs.shape[0]
            # A fresh buffer per segment: segments wait in the FIFO across turns.
            buf = RolloutBuffer(self.rollout_len, B, self.dims, self.device)
            env_step = self.collectors[g].collect(
                self.snapshots[g], self._envs[g], self.rs[g], buf, env_step
            )
            self.fifo.append(buf.batch())
            self.fifo_steps += self.rollout_len * B
            self.turn += 1
        return self._take(self.batch_size), env_step

    def _take(self, n: int) -> Batch:
        """Pop whole segments, oldest first, holding ``n`` transitions together."""
        parts: list[Batch] = []
        taken = 0
        while taken < n:
            seg = self.fifo.popleft()
            parts.append(seg)
            taken += seg.num_steps
        if taken != n:
            raise RuntimeError(f"async FIFO segments hold {taken} transitions, not {n}")
        self.fifo_steps -= n
        return parts[0] if len(parts) == 1 else Batch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        return {
            "running": [rs.state_dict() for rs in self.rs],
            "snapshots": [s.state_dict() for s in self.snapshots],
            "fifo": [{k: v.clone() for k, v in batch_to_dict(b).items()} for b in self.fifo],
            "fifo_steps": self.fifo_steps,
            "turn": self.turn,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.rs = [RunningState.from_state_dict(r, self.device) for r in d["running"]]
        for snap, sd in zip(self.snapshots, d["snapshots"], strict=True):
            snap.load_state_dict(sd)
        self.fifo = deque(
            Batch(**{k: v.to(self.device) for k, v in seg.items()}) for seg in d["fifo"]
        )
        self.fifo_steps = int(d["fifo_steps"])
        self.turn = int(d["turn"])
