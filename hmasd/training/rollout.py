"""Rollout collection shared by both schedules: step envs, fill preallocated ``(T, B, ...)``
buffers, and report episodes / skills / reward components to the tracker.

One call of :meth:`Collector.collect` advances one batched env ``T`` steps under one policy
(the learner in sync mode, a group's snapshot in async mode). Per step, in order:

1. skills: the coordinator re-chooses (Z, z_1..z_n) for envs whose window must restart
   (``skill_interval`` steps elapsed, episode start, or, in sync mode, step 0 of a rollout);
2. ``agent.act`` (GRU hidden reset at episode start), then ``env.step``;
3. ``agent.intrinsic`` on the pre-reset next state/obs, then the low-level reward;
4. everything goes into the buffer at row ``t``; finished episodes go to the tracker.

Nothing here loops over envs or agents; the only host sync is one two-element read per step
(did an episode end, must the coordinator decide next step), plus index reads on those rare
steps where one of them is true.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from hmasd.agent.batch import Batch
from hmasd.config import AgentConfig

# Batch fields that hold one row per sequence (not per step).
SEQUENCE_FIELDS = (
    "hidden0",
    "last_state",
    "last_obs",
    "last_team_skill",
    "last_ind_skill",
    "last_done",
)


@dataclass
class Dims:
    """Sizes of one batched env and the agent."""

    n_agents: int
    obs_dim: int
    state_dim: int
    action_dim: int
    hidden_dim: int


class RolloutBuffer:
    """Preallocated tensors for ``T`` steps of ``B`` envs, named as :class:`Batch` fields."""

    def __init__(self, T: int, B: int, dims: Dims, device: torch.device) -> None:
        n, f32, i64, b8 = dims.n_agents, torch.float32, torch.long, torch.bool
        shapes: dict[str, tuple[tuple[int, ...], torch.dtype]] = {
            "obs": ((T, B, n, dims.obs_dim), f32),
            "state": ((T, B, dims.state_dim), f32),
            "team_skill": ((T, B), i64),
            "ind_skill": ((T, B, n), i64),
            "action": ((T, B, n, dims.action_dim), f32),
            "logp": ((T, B, n), f32),
            "value": ((T, B, n), f32),
            "env_reward": ((T, B), f32),
            "team_disc_logq": ((T, B), f32),
            "ind_disc_logq": ((T, B, n), f32),
            "reward": ((T, B, n), f32),
            "done": ((T, B), b8),
            "next_obs": ((T, B, n, dims.obs_dim), f32),
            "next_state": ((T, B, dims.state_dim), f32),
            "episode_start": ((T, B), b8),
            "hidden0": ((B, n, dims.hidden_dim), f32),
            "version": ((T, B), i64),
            "decision": ((T, B), b8),
            "hl_logp": ((T, B), f32),
            "hl_value_state": ((T, B), f32),
            "hl_value_obs": ((T, B, n), f32),
            "hl_version": ((T, B), i64),
            "last_state": ((B, dims.state_dim), f32),
            "last_obs": ((B, n, dims.obs_dim), f32),
            "last_team_skill": ((B,), i64),
            "last_ind_skill": ((B, n), i64),
            "last_done": ((B,), b8),
        }
        assert set(shapes) == {f.name for f in fields(Batch)}, "buffer and Batch disagree"
        self.T, self.B = T, B
        self.t: dict[str, Tensor] = {
            name: torch.zeros(shape, dtype=dtype, device=device)
            for name, (shape, dtype) in shapes.items()
        }

    def clear_high_level(self) -> None:
        """High-level rows are written only at decisions; the rest must read 0 / -1."""
        for name in ("decision", "hl_logp", "hl_value_state", "hl_value_obs"):
            self.t[name].zero_()
        self.t["hl_version"].fill_(-1)

    def batch(self) -> Batch:
        """A :class:`Batch` viewing this buffer (valid until the buffer is refilled)."""
        return Batch(**self.t)


@dataclass
class RunningState:
    """Per-env state carried from step to step, across rollouts and across updates.

    Shapes: B envs, n agents.
    """

    obs: Tensor
    """(B, n, obs_dim) current observations."""
    state: Tensor
    """(B, state_dim) current global state."""
    team: Tensor
    """(B,) long: running team skill (-1 before the first decision)."""
    ind: Tensor
    """(B, n) long: running individual skills (-1 before the first decision)."""
    hidden: Tensor
    """(B, n, H) actor GRU hidden after the last step."""
    episode_start: Tensor
    """(B,) bool: the next step is the first of an episode."""
    window_step: Tensor
    """(B,) long: steps taken since the running skills were chosen."""
    ep_env: Tensor
    """(B,) running episode sum of lambda_e * r."""
    ep_team: Tensor
    """(B,) running episode sum of lambda_D * log q_D."""
    ep_ind: Tensor
    """(B,) running episode sum of mean_i lambda_d * log q_d."""

    @classmethod
    def initial(cls, obs: Tensor, state: Tensor, hidden: Tensor) -> RunningState:
        B, n = obs.shape[:2]
        dev = obs.device
        zeros = torch.zeros(B, device=dev)
        return cls(
            obs=obs.clone(),
            state=state.clone(),
            team=torch.full((B,), -1, dtype=torch.long, device=dev),
            ind=torch.full((B, n), -1, dtype=torch.long, device=dev),
            hidden=hidden.clone(),
            episode_start=torch.ones(B, dtype=torch.bool, device=dev),
            window_step=torch.zeros(B, dtype=torch.long, device=dev),
            ep_env=zeros.clone(),
            ep_team=zeros.clone(),
            ep_ind=zeros.clone(),
        )

    def state_dict(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name).clone() for f in fields(self)}

    @classmethod
    def from_state_dict(cls, d: dict[str, Tensor], device: torch.device) -> RunningState:
        return cls(**{f.name: d[f.name].to(device) for f in fields(cls)})


class Collector:
    """Fills a :class:`RolloutBuffer` by stepping one batched env under one policy.

    Args:
        acfg: agent config (skill interval k and the lambda weights of the components).
        low_level_reward: ``(cfg=, env_reward= (B,), team_logq= (B,), ind_logq= (B, n)) -> (B, n)``.
        tracker: receives skills, step rewards and finished episodes; None for no tracking.
        env_offset: env id of this env's first row (async groups number envs globally).
    """

    def __init__(
        self,
        acfg: AgentConfig,
        low_level_reward: Any,
        tracker: Any | None,
        env_offset: int = 0,
        recent: deque[float] | None = None,
    ) -> None:
        self.acfg = acfg
        self.low_level_reward = low_level_reward
        self.tracker = tracker
        self.env_offset = env_offset
        self.recent_returns: deque[float] = recent if recent is not None else deque(maxlen=10)
        self.episodes_done = 0

    @torch.no_grad()
    def collect(
        self,
        agent: Any,
        env: Any,
        rs: RunningState,
        buf: RolloutBuffer,
        env_step: int,
        force_decision: bool,
    ) -> int:
        """Step ``env`` ``buf.T`` times under ``agent``; returns the env-step counter after.

        ``force_decision``: re-choose skills for every env at step 0 (sync: every high-level
        decision in a batch then comes from the version being trained).
        """
        a = self.acfg
        b = buf.t
        B = buf.B
        version = int(agent.policy_version)
        b["version"].fill_(version)
        buf.clear_high_level()
        tracker = self.tracker
        h_init = agent.initial_hidden(B)
        k = a.skill_interval
        need = rs.episode_start | (rs.window_step >= k)
        if force_decision:
            need = torch.ones_like(need)
        any_need = bool(need.any())
        for t in range(buf.T):
            start = rs.episode_start
            # --- 1. skills -----------------------------------------------------------
            if any_need:
                sk = agent.choose_skills(rs.state, rs.obs)
                if tracker is not None:
                    changed = (sk.team != rs.team) | (sk.ind != rs.ind).any(-1)
                    switched = (rs.team >= 0) & changed
                    idx = need.nonzero().squeeze(1)
                    tracker.log_skills(env_step, sk.team[idx], sk.ind[idx], switched[idx])
                rs.team = torch.where(need, sk.team, rs.team)
                rs.ind = torch.where(need[:, None], sk.ind, rs.ind)
                rs.window_step = torch.where(need, 0, rs.window_step)
                b["decision"][t] = need
                b["hl_logp"][t] = torch.where(need, sk.logp, 0.0)
                b["hl_value_state"][t] = torch.where(need, sk.value_state, 0.0)
                b["hl_value_obs"][t] = torch.where(need[:, None], sk.value_obs, 0.0)
                b["hl_version"][t] = need.long() * (version + 1) - 1

            # --- 2. act and step -----------------------------------------------------
            hidden = torch.where(start[:, None, None], h_init, rs.hidden)
            if t == 0:
                b["hidden0"].copy_(hidden)
            act = agent.act(rs.obs, rs.state, rs.team, rs.ind, hidden, start)
            # Inputs are stored before env.step, which may reuse its output tensors.
            b["obs"][t] = rs.obs
            b["state"][t] = rs.state
            b["team_skill"][t] = rs.team
            b["ind_skill"][t] = rs.ind
            b["episode_start"][t] = start
            b["action"][t] = act.raw_action
            b["logp"][t] = act.logp
            b["value"][t] = act.value
            out = env.step(act.action)

            # --- 3. intrinsic and low-level reward -------------------------------------
            tq, iq = agent.intrinsic(out.terminal_state, out.terminal_obs, rs.team, rs.ind)
            reward = self.low_level_reward(cfg=a, env_reward=out.reward, team_logq=tq, ind_logq=iq)
            b["env_reward"][t] = out.reward
            b["team_disc_logq"][t] = tq
            b["ind_disc_logq"][t] = iq
            b["reward"][t] = reward
            b["done"][t] = out.done
            b["next_obs"][t] = out.terminal_obs
            b["next_state"][t] = out.terminal_state
            env_step += B

            # --- 4. reward components and finished episodes ---------------------------
            env_c = a.lambda_e * out.reward
            team_c = a.lambda_D * tq
            ind_c = a.lambda_d * iq
            rs.ep_env = rs.ep_env + env_c
            rs.ep_team = rs.ep_team + team_c
            rs.ep_ind = rs.ep_ind + ind_c.mean(-1)
            if tracker is not None:
                tracker.log_step_rewards(env_step, env_c, team_c, ind_c)
            done = out.done
            rs.window_step = rs.window_step + 1
            need = done | (rs.window_step >= k)
            # One host read per step: finished episodes now, decisions at the next step.
            any_done, any_need = torch.stack((done.any(), need.any())).tolist()
            if any_done:
                self._finish_episodes(env_step, version, rs, done, out.episode)
                keep = ~done
                rs.ep_env = rs.ep_env * keep
                rs.ep_team = rs.ep_team * keep
                rs.ep_ind = rs.ep_ind * keep

            rs.obs, rs.state, rs.hidden = out.obs, out.state, act.hidden
            rs.episode_start = done

        b["last_state"].copy_(rs.state)
        b["last_obs"].copy_(rs.obs)
        b["last_team_skill"].copy_(rs.team)
        b["last_ind_skill"].copy_(rs.ind)
        b["last_done"].copy_(rs.episode_start)
        # The env may write its next outputs in place: keep our own copies.
        rs.obs, rs.state = rs.obs.clone(), rs.state.clone()
        return env_step

    def _finish_episodes(
        self,
        env_step: int,
        version: int,
        rs: RunningState,
        done: Tensor,
        episode: dict[str, Tensor],
    ) -> None:
        idx = done.nonzero().squeeze(1)
        eps = {key: value[idx] for key, value in episode.items()}
        eps["env_id"] = idx + self.env_offset
        eps["env_component"] = rs.ep_env[idx]
        eps["team_disc_component"] = rs.ep_team[idx]
        eps["ind_disc_component"] = rs.ep_ind[idx]
        if "return" in eps:
            self.recent_returns.extend(eps["return"].tolist())
        self.episodes_done += int(idx.numel())
        if self.tracker is not None:
            self.tracker.log_episodes(env_step, version, eps)
