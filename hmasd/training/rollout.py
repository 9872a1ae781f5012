"""Acting, shared by both schedules and by evaluation, and rollout collection.

- :class:`RunningState`: what each env carries from step to step: observations, the
  running skills and their window clock, the actor's GRU hidden state, episode starts.
- :func:`skills_due`: THE skill-window clock. The coordinator (re)chooses (Z, z_1..z_n) for
  an env at an episode start and when its window has run ``k`` steps, never elsewhere.
  Training and evaluation both step through :func:`act_step`, so they share it.
- :func:`act_step`: one env step of the whole hierarchical policy: skills where due, then
  ``agent.act``, then ``env.step``; advances the running state.
- :class:`Collector`: ``T`` act steps into a :class:`RolloutBuffer` (the
  :class:`~hmasd.agent.batch.Batch` fields), plus intrinsic rewards and tracking.

Windows are never cut by the schedule: a rollout (sync) or turn (async) lasts
``rollout_len`` steps, a multiple of ``k``, as is the episode length (checked in
:mod:`hmasd.config`), so every collection starts with every env at a window boundary.
:meth:`Collector.collect` checks it (one host read) and refuses to collect otherwise.

Nothing here loops over envs or agents; per step the host reads whether any env must
decide and whether any episode ended.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from hmasd.agent.batch import Batch
from hmasd.agent.hmasd import ActOut, SkillOut, reward_terms
from hmasd.config import AgentConfig
from hmasd.env.uav_env import StepResult
from hmasd.errors import TrainingError
from hmasd.training.policy_groups import PolicyGroups

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
            "hl_logp": ((T, B, n + 1), f32),
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


def phase_offsets(num_envs: int, max_steps: int, k: int) -> Tensor:
    """(num_envs,) long: the episode step each training env starts at, ``(b mod W) * k``
    with ``W = max_steps / k`` skill windows per episode.

    Envs that all start at step 0 stay phase-locked: every rollout of ``T`` steps is then
    the same slice of the episode for every env, and the networks train on one phase of
    the episode at a time. Staggered by whole windows, a rollout of ``num_envs >= W`` envs
    holds every window index of the episode, and windows stay whole (every offset is a
    multiple of k). Consecutive env rows take consecutive phases, so each async group
    (a block of consecutive rows) holds a spread of phases too.
    """
    windows = max_steps // k
    return (torch.arange(num_envs) % windows) * k


def staggered_start(env: Any, k: int) -> tuple[Tensor, Tensor]:
    """Reset every env and start env ``b`` at episode step :func:`phase_offsets` ``[b]``;
    returns ``(obs, state)``. Both training schedules start this way."""
    env.reset()
    offsets = phase_offsets(env.num_envs, env.cfg.max_steps, k).to(env.device)
    return env.start_at(offsets)


def skills_due(rs: RunningState, k: int) -> Tensor:
    """(B,) bool: envs whose coordinator must choose skills before the next step: an
    episode starts, or the running window has lasted ``k`` steps (the one skill clock)."""
    return rs.episode_start | (rs.window_step >= k)


@dataclass
class StepOut:
    """One :func:`act_step`: the policy's inputs and outputs and the env's answer."""

    obs: Tensor
    """(B, n, obs_dim) observations the policy acted on."""
    state: Tensor
    """(B, state_dim) state the policy acted on."""
    team: Tensor
    """(B,) team skill in force at this step."""
    ind: Tensor
    """(B, n) individual skills in force at this step."""
    start: Tensor
    """(B,) bool: this step is the first of an episode."""
    hidden: Tensor
    """(B, n, H) actor hidden before this step (zeros at episode starts)."""
    decision: Tensor
    """(B,) bool: the coordinator chose new skills at this step."""
    skills: SkillOut | None
    """The coordinator's output (rows valid where ``decision``); None if nobody decided."""
    act: ActOut
    """The skill discoverer's output."""
    env: StepResult
    """What ``env.step`` returned."""


def act_step(
    policies: PolicyGroups, env: Any, rs: RunningState, k: int, deterministic: bool = False
) -> StepOut:
    """Advance ``env`` one step from ``rs`` (updated in place), each block of env rows
    under its own policy: the learner for every row in sync mode and evaluation, one
    snapshot per group in async mode, all run as one stacked forward
    (:class:`~hmasd.training.policy_groups.PolicyGroups`). All envs step together.

    Skills are chosen where :func:`skills_due`; the actor's hidden state is zeroed at
    episode starts. ``deterministic``: argmax skills and Gaussian-mean actions.
    """
    start = rs.episode_start
    need = skills_due(rs, k)
    sk = None
    acting = policies.acting
    if bool(need.any()):
        sk = acting.choose_skills(rs.state, rs.obs, deterministic=deterministic)
        rs.team = torch.where(need, sk.team, rs.team)
        rs.ind = torch.where(need[:, None], sk.ind, rs.ind)
        rs.window_step = torch.where(need, 0, rs.window_step)
    hidden = rs.hidden.masked_fill(start[:, None, None], 0.0)
    obs, state, team, ind = rs.obs, rs.state, rs.team, rs.ind
    act = acting.act(obs, state, team, ind, hidden, start, deterministic=deterministic)
    out = env.step(act.action)
    rs.obs, rs.state, rs.hidden = out.obs, out.state, act.hidden
    rs.episode_start = out.done
    rs.window_step = rs.window_step + 1
    return StepOut(obs, state, team, ind, start, hidden, need, sk, act, out)


class Collector:
    """Fills a :class:`RolloutBuffer` by stepping one batched env under its policies (one
    for every env in sync mode; one per group of env rows in async mode).

    Args:
        acfg: agent config (skill interval k and the lambda weights of the components).
        tracker: receives skills, step rewards and finished episodes; None for no tracking.
        recent: shared deque of recent episode returns (progress reporting).
    """

    def __init__(
        self,
        acfg: AgentConfig,
        tracker: Any | None,
        recent: deque[float] | None = None,
    ) -> None:
        self.acfg = acfg
        self.tracker = tracker
        self.recent_returns: deque[float] = recent if recent is not None else deque(maxlen=10)
        self.episodes_done = 0

    @torch.no_grad()
    def collect(
        self,
        policies: Any,
        env: Any,
        rs: RunningState,
        buf: RolloutBuffer,
        env_step: int,
    ) -> int:
        """Step ``env`` ``buf.T`` times; returns the env-step counter after.

        ``policies``: an agent acting for every env, or :class:`PolicyGroups` (see
        :func:`act_step`). Every stored step carries the version of the policy that
        produced it. Raises :class:`~hmasd.errors.TrainingError` if some env is inside a
        skill window at the start: the schedule would cut that window.
        """
        if not isinstance(policies, PolicyGroups):
            policies = PolicyGroups.single(policies)
        a = self.acfg
        b = buf.t
        k = a.skill_interval
        if not bool(skills_due(rs, k).all()):
            raise TrainingError(
                "a rollout would start inside a skill window: the rollout length and "
                "env.max_steps must be multiples of agent.skill_interval"
            )
        versions = torch.empty(buf.B, dtype=torch.long, device=b["version"].device)
        for agent, rows in policies.members:
            versions[rows] = int(agent.policy_version)
        b["version"].copy_(versions.expand(buf.T, buf.B))
        # Values are stored in raw units, each row de-normalised by its own policy's
        # statistics (fixed for the whole collection).
        low_m, low_s = policies.value_affine(buf.B, "low")
        high_m, high_s = policies.value_affine(buf.B, "high")
        buf.clear_high_level()
        tracker = self.tracker
        for t in range(buf.T):
            prev_team, prev_ind = rs.team, rs.ind
            st = act_step(policies, env, rs, k)
            # --- skills chosen at this step ----------------------------------------------
            sk, need = st.skills, st.decision
            if sk is not None:
                if tracker is not None:
                    changed = (st.team != prev_team) | (st.ind != prev_ind).any(-1)
                    switched = (prev_team >= 0) & changed
                    idx = need.nonzero().squeeze(1)
                    tracker.log_skills(env_step, st.team[idx], st.ind[idx], switched[idx])
                b["decision"][t] = need
                b["hl_logp"][t] = torch.where(need[:, None], sk.logp, 0.0)
                v_state = sk.value_state * high_s + high_m
                v_obs = sk.value_obs * high_s[:, None] + high_m[:, None]
                b["hl_value_state"][t] = torch.where(need, v_state, 0.0)
                b["hl_value_obs"][t] = torch.where(need[:, None], v_obs, 0.0)
                b["hl_version"][t] = torch.where(need, versions, -1)
            if t == 0:
                b["hidden0"].copy_(st.hidden)
            out, act = st.env, st.act
            b["obs"][t] = st.obs
            b["state"][t] = st.state
            b["team_skill"][t] = st.team
            b["ind_skill"][t] = st.ind
            b["episode_start"][t] = st.start
            b["action"][t] = act.raw_action
            b["logp"][t] = act.logp
            b["value"][t] = act.value * low_s[:, None] + low_m[:, None]

            # --- intrinsic and low-level reward (skill at t paired with s_{t+1}) -----------
            tq, iq = self._intrinsic(policies, out, st)
            terms = reward_terms(a, out.reward, tq, iq)
            reward = terms.total()
            b["env_reward"][t] = out.reward
            b["team_disc_logq"][t] = tq
            b["ind_disc_logq"][t] = iq
            b["reward"][t] = reward
            b["done"][t] = out.done
            b["next_obs"][t] = out.terminal_obs
            b["next_state"][t] = out.terminal_state
            env_step += buf.B

            # --- reward components and finished episodes ---------------------------------
            env_c, team_c, ind_c = terms
            rs.ep_env = rs.ep_env + env_c
            rs.ep_team = rs.ep_team + team_c
            rs.ep_ind = rs.ep_ind + ind_c.mean(-1)
            if tracker is not None:
                tracker.log_step_rewards(env_step, env_c, team_c, ind_c)
            done = out.done
            if bool(done.any()):
                # An env started mid-episode (staggered phases) ends a partial first
                # episode: it resets the running sums but is not a training episode.
                full = done & (out.episode["length"] >= env.cfg.max_steps)
                self._finish_episodes(env_step, policies, rs, full, out.episode)
                keep = ~done
                rs.ep_env = rs.ep_env * keep
                rs.ep_team = rs.ep_team * keep
                rs.ep_ind = rs.ep_ind * keep

        b["last_state"].copy_(rs.state)
        b["last_obs"].copy_(rs.obs)
        b["last_team_skill"].copy_(rs.team)
        b["last_ind_skill"].copy_(rs.ind)
        b["last_done"].copy_(rs.episode_start)
        # The env may write its next outputs in place: keep our own copies.
        rs.obs, rs.state = rs.obs.clone(), rs.state.clone()
        return env_step

    @staticmethod
    def _intrinsic(policies: PolicyGroups, out: StepResult, st: StepOut) -> tuple[Tensor, Tensor]:
        """log q_D and log q_d of the running skills, each block of rows under the
        discriminators of the policy that acted there."""
        return policies.acting.intrinsic(out.terminal_state, out.terminal_obs, st.team, st.ind)

    def _finish_episodes(
        self,
        env_step: int,
        policies: PolicyGroups,
        rs: RunningState,
        done: Tensor,
        episode: dict[str, Tensor],
    ) -> None:
        idx = done.nonzero().squeeze(1)
        if "return" in episode:
            self.recent_returns.extend(episode["return"][idx].tolist())
        self.episodes_done += int(idx.numel())
        if self.tracker is None:
            return
        # Each block of rows is credited to the policy version that acted there (episodes
        # end every max_steps steps, so this loop over policies runs rarely).
        for agent, rows in policies.members:
            mine = torch.zeros_like(done)
            mine[rows] = done[rows]
            idx = mine.nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            eps = {key: value[idx] for key, value in episode.items()}
            eps["env_id"] = idx
            eps["env_component"] = rs.ep_env[idx]
            eps["team_disc_component"] = rs.ep_team[idx]
            eps["ind_disc_component"] = rs.ep_ind[idx]
            self.tracker.log_episodes(env_step, int(agent.policy_version), eps)
