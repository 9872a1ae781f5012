"""The data one update trains on: the contract between the schedules and the agent.

Both modes hand the agent a :class:`Batch` of ``T`` consecutive steps of ``B`` env
*sequences* (time-major, ``(T, B, n, ...)``), with ``T = rollout_len = batch_size /
num_envs`` and ``B = num_envs`` in both: a sync sequence is one env's rollout, an async one
an env's segment from one group turn, which lasts ``rollout_len`` steps too (the same GAE
horizon). Every step within a sequence is in real time order, so GAE runs over it
backwards.

High-level (skill coordinator) samples live on the same time axis: ``decision[t, b]`` marks
the steps where the coordinator chose (Z, z_1..z_n). ``T`` and the episode length are
multiples of the skill interval k and sequences start at window boundaries, so every
sequence holds whole windows: a window's reward r^h is the sum of its k team env rewards,
and the sequence end is a window end, bootstrapped with V_h at ``last_state``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class Batch:
    """One update's worth of transitions. Shapes: T steps, B sequences, n agents."""

    # --- low level (skill discoverer) -------------------------------------------------
    obs: Tensor
    """(T, B, n, obs_dim) agent observations o_{i,t}."""
    state: Tensor
    """(T, B, state_dim) global state s_t."""
    team_skill: Tensor
    """(T, B) long: the team skill Z in force at step t (the stored one, never re-sampled)."""
    ind_skill: Tensor
    """(T, B, n) long: individual skills z_i in force at step t."""
    action: Tensor
    """(T, B, n, act_dim) raw Gaussian samples, before clipping to [-1, 1] (log-probs use these)."""
    logp: Tensor
    """(T, B, n) log pi_l(a | o, z) at collection time (the PPO "old" log-prob)."""
    value: Tensor
    """(T, B, n) V_l at collection time (normalised space if value_norm)."""
    env_reward: Tensor
    """(T, B) team env reward r_t."""
    team_disc_logq: Tensor
    """(T, B) log q_D(Z | s_{t+1}) at collection time."""
    ind_disc_logq: Tensor
    """(T, B, n) log q_d(z_i | o_{i,t+1}, Z) at collection time."""
    reward: Tensor
    """(T, B, n) low-level reward lambda_e r + lambda_D log q_D + lambda_d log q_d."""
    done: Tensor
    """(T, B) bool: the episode ended after step t (a terminal: the state carries the step
    fraction, so the time limit is part of the task; nothing is bootstrapped past it)."""
    next_obs: Tensor
    """(T, B, n, obs_dim) o_{t+1} before any auto-reset (discriminator input)."""
    next_state: Tensor
    """(T, B, state_dim) s_{t+1} before any auto-reset (discriminator input, bootstrap)."""
    episode_start: Tensor
    """(T, B) bool: step t is the first of an episode (GRU hidden is reset before it)."""
    hidden0: Tensor
    """(B, n, hidden_dim) actor GRU hidden state before step 0 (zeros for the MLP actor)."""
    version: Tensor
    """(T, B) long: policy version that produced step t."""

    # --- high level (skill coordinator) -----------------------------------------------
    decision: Tensor
    """(T, B) bool: the coordinator chose new skills at step t."""
    hl_logp: Tensor
    """(T, B, n+1) log-probs of the stored Z, then z_1..z_n (each given the choices before
    it) at the decision (0 elsewhere): one PPO ratio per column (Eq. 6)."""
    hl_value_state: Tensor
    """(T, B) V_h(s) at the decision (0 elsewhere)."""
    hl_value_obs: Tensor
    """(T, B, n) V_h(o_i) at the decision (0 elsewhere)."""
    hl_version: Tensor
    """(T, B) long: policy version that made the decision (-1 elsewhere)."""

    # --- sequence ends -----------------------------------------------------------------
    last_state: Tensor
    """(B, state_dim) state after the last step (bootstrap of both levels)."""
    last_obs: Tensor
    """(B, n, obs_dim) observations after the last step."""
    last_team_skill: Tensor
    """(B,) long: team skill running after the last step (for V_l(s, Z) bootstrap)."""
    last_ind_skill: Tensor
    """(B, n) long: individual skills running after the last step."""
    last_done: Tensor
    """(B,) bool: the last step ended an episode."""

    @property
    def num_steps(self) -> int:
        return int(self.obs.shape[0] * self.obs.shape[1])

    def to(self, device: torch.device) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @staticmethod
    def cat(batches: list[Batch]) -> Batch:
        """Join batches of equal T along the sequence axis."""
        out = {}
        for f in fields(Batch):
            parts = [getattr(b, f.name) for b in batches]
            dim = 0 if f.name.startswith(("hidden0", "last_")) else 1
            out[f.name] = torch.cat(parts, dim=dim)
        return Batch(**out)
