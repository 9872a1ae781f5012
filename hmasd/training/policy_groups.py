"""Who acts for which env rows: one agent for all of them, or G snapshots stacked.

Sync training and evaluation act with one agent on every env. Async training acts with G
policy snapshots, snapshot g on the g-th of G equal blocks of env rows
(:mod:`hmasd.training.async_`). :class:`PolicyGroups` holds that assignment (``members``,
for the versions each stored step and finished episode carry) and ``acting``, the one
object whose ``choose_skills`` / ``act`` / ``intrinsic`` cover all rows:

- one member: the agent itself (so async with one group is sync, bit for bit);
- G members: an acting-only copy of the agent whose parameters are the G snapshots'
  weights stacked (G, ...) (:mod:`hmasd.agent.grouped`): every env step runs one forward
  pass of each network on all rows instead of G passes on a block each, and each block
  gets the numbers its snapshot alone would compute up to float rounding (batched
  matmuls; tested to rtol 1e-5 in ``tests/test_training/test_policy_groups.py``).
  :meth:`PolicyGroups.refresh` copies a snapshot's weights into its slot after it loads
  new ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hmasd.agent.hmasd import HMASDAgent

Member = tuple[Any, slice]
"""An agent (the learner, or an async group's snapshot) and the env rows it acts for."""


class PolicyGroups:
    """``agents[g]`` acts for ``rows[g]``; G > 1 needs equal, consecutive row blocks."""

    def __init__(self, agents: list[Any], rows: list[slice]) -> None:
        if len(agents) != len(rows) or not agents:
            raise ValueError(f"{len(agents)} agents for {len(rows)} row blocks")
        self.members: list[Member] = list(zip(agents, rows, strict=True))
        self._slots: list[tuple[Tensor, list[Tensor]]] = []
        self.acting: Any = agents[0]
        if len(agents) > 1:
            self._check_blocks(rows)
            self.acting = self._stacked(agents)

    @classmethod
    def single(cls, agent: Any) -> PolicyGroups:
        """One agent acting for every env row."""
        return cls([agent], [slice(None)])

    @staticmethod
    def _check_blocks(rows: list[slice]) -> None:
        size = rows[0].stop - rows[0].start
        for g, r in enumerate(rows):
            if (r.start, r.stop, r.step) != (g * size, (g + 1) * size, None):
                raise ValueError(
                    f"row block {g} is {r}: stacked groups need equal, consecutive blocks"
                )

    def _stacked(self, agents: list[HMASDAgent]) -> HMASDAgent:
        """An acting-only agent whose parameters are the agents' weights stacked (G, ...)."""
        a0 = agents[0]
        # Building it must not draw from the training run's random stream.
        with torch.random.fork_rng(devices=[]):
            view = HMASDAgent(
                a0.cfg,
                a0.n_agents,
                a0.obs_dim,
                a0.state_dim,
                a0.action_dim,
                a0.device,
                trainable=False,
            )
        for name, module in view.modules().items():
            sources = [dict(a.modules()[name].named_parameters()) for a in agents]
            for sub_name, sub in list(module.named_modules()):
                for p_name, _ in list(sub.named_parameters(recurse=False)):
                    key = f"{sub_name}.{p_name}" if sub_name else p_name
                    own = [src[key] for src in sources]
                    stacked = torch.stack([p.detach() for p in own])
                    # A plain tensor in the parameter's place: the module's code reads it
                    # under the same name (hmasd.agent.grouped runs it stacked).
                    del sub._parameters[p_name]
                    sub.register_buffer(p_name, stacked, persistent=False)
                    self._slots.append((stacked, own))
        return view

    def value_affine(self, num_rows: int, level: str) -> tuple[Tensor, Tensor]:
        """Per-row ``(mean, std)`` (num_rows,) of the ``level`` ("low" / "high") value
        normaliser of the member acting on each row: what turns that row's critic output
        into raw units. Stale values must be de-normalised with the statistics of the
        snapshot that computed them, not with the learner's later ones."""
        device = self.members[0][0].device
        mean = torch.empty(num_rows, device=device)
        std = torch.empty(num_rows, device=device)
        for agent, rows in self.members:
            m, s = agent.norms[level].affine()
            mean[rows] = m
            std[rows] = s
        return mean, std

    def refresh(self, g: int | None = None) -> None:
        """Copy member ``g``'s weights (every member's: None) into the stacked ones."""
        index = range(len(self.members)) if g is None else [g]
        with torch.no_grad():
            for stacked, own in self._slots:
                for i in index:
                    stacked[i].copy_(own[i])
