"""Shared pieces of the agent tests: small real agents and batches built by acting.

No env here: observations and states are random tensors of the env's shapes (obs
(B, n, obs_dim), state (B, state_dim), actions (B, n, 3)); everything else (skills, actions,
log-probs, values, hidden states, intrinsic rewards) comes from the agent itself, step by
step, exactly as a schedule would store it.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from hmasd.agent import Batch, HMASDAgent, low_level_reward
from hmasd.config import AgentConfig

N_AGENTS, OBS_DIM, STATE_DIM, ACT_DIM = 3, 7, 9, 3


def small_cfg(**overrides: object) -> AgentConfig:
    base = AgentConfig(hidden_dim=16, ppo_epochs=2, transformer_heads=2, skill_interval=3)
    return dataclasses.replace(base, **overrides)


def make_agent(seed: int = 0, **overrides: object) -> HMASDAgent:
    torch.manual_seed(seed)
    return HMASDAgent(small_cfg(**overrides), N_AGENTS, OBS_DIM, STATE_DIM, ACT_DIM, "cpu")


@torch.no_grad()
def rollout(
    agent: HMASDAgent,
    T: int = 8,
    B: int = 4,
    seed: int = 0,
    done: Tensor | None = None,
    hidden: Tensor | None = None,
    episode_start: Tensor | None = None,
) -> Batch:
    """Act ``T`` steps in ``B`` fake envs and store a :class:`Batch` as a schedule would.

    ``done`` (T, B) bool: episodes that end after step t (the next step starts a new one,
    with fresh observations). ``hidden`` / ``episode_start``: the actor state carried in
    from an earlier rollout (default: every env starts an episode at step 0).
    """
    g = torch.Generator().manual_seed(seed)
    n, k = agent.n_agents, agent.cfg.skill_interval
    done = torch.zeros(T, B, dtype=torch.bool) if done is None else done

    def obs_state() -> tuple[Tensor, Tensor]:
        obs = torch.randn(B, n, agent.obs_dim, generator=g)
        return obs, torch.randn(B, agent.state_dim, generator=g)

    f = {name: [] for name in (f.name for f in dataclasses.fields(Batch))}
    obs, state = obs_state()
    start = torch.ones(B, dtype=torch.bool) if episode_start is None else episode_start
    h = agent.initial_hidden(B) if hidden is None else hidden
    team = torch.zeros(B, dtype=torch.long)
    ind = torch.zeros(B, n, dtype=torch.long)
    window = torch.zeros(B, dtype=torch.long)
    for t in range(T):
        need = start | (window >= k) | (t == 0)
        sk = agent.choose_skills(state, obs)
        team = torch.where(need, sk.team, team)
        ind = torch.where(need[:, None], sk.ind, ind)
        window = torch.where(need, 0, window)
        f["decision"].append(need)
        f["hl_logp"].append(torch.where(need, sk.logp, 0.0))
        f["hl_value_state"].append(torch.where(need, sk.value_state, 0.0))
        f["hl_value_obs"].append(torch.where(need[:, None], sk.value_obs, 0.0))
        f["hl_version"].append(torch.where(need, agent.policy_version, -1))
        h = torch.where(start[:, None, None], agent.initial_hidden(B), h)
        if t == 0:
            f["hidden0"] = h.clone()
        act = agent.act(obs, state, team, ind, h, start)
        assert act.action.abs().max() <= 1.0
        next_obs, next_state = obs_state()
        tq, iq = agent.intrinsic(next_state, next_obs, team, ind)
        env_reward = torch.randn(B, generator=g)
        for name, value in (
            ("obs", obs),
            ("state", state),
            ("team_skill", team),
            ("ind_skill", ind),
            ("action", act.raw_action),
            ("logp", act.logp),
            ("value", act.value),
            ("env_reward", env_reward),
            ("team_disc_logq", tq),
            ("ind_disc_logq", iq),
            ("reward", low_level_reward(agent.cfg, env_reward, tq, iq)),
            ("done", done[t]),
            ("next_obs", next_obs),
            ("next_state", next_state),
            ("episode_start", start),
            ("version", torch.full((B,), agent.policy_version)),
        ):
            f[name].append(value)
        # Auto-reset: a finished episode continues from a fresh start state.
        fresh_obs, fresh_state = obs_state()
        d = done[t]
        obs = torch.where(d[:, None, None], fresh_obs, next_obs)
        state = torch.where(d[:, None], fresh_state, next_state)
        h, start, window = act.hidden, d, window + 1
    out = {name: torch.stack(v) for name, v in f.items() if isinstance(v, list) and v}
    out["hidden0"] = f["hidden0"]
    out["last_state"], out["last_obs"] = state, obs
    out["last_team_skill"], out["last_ind_skill"] = team, ind
    out["last_done"] = done[-1]
    return Batch(**out)


def clone_batch(batch: Batch) -> Batch:
    return Batch(**{f.name: getattr(batch, f.name).clone() for f in dataclasses.fields(Batch)})
