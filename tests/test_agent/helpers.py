"""Shared pieces of the agent tests: small real agents, and batches collected from a small
real env by the real :class:`~hmasd.training.rollout.Collector` (the batches the schedules
hand the agent, with the one skill clock), never by a re-implementation of it.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from hmasd.agent import Batch, HMASDAgent
from hmasd.config import AgentConfig, EnvConfig
from hmasd.env.uav_env import UAVBaseStationEnv
from hmasd.training.rollout import Collector, Dims, RolloutBuffer, RunningState

# A small real env: 3 UAVs, 8 users, the nearest 4 users in each observation.
ENV_CFG = EnvConfig(n_uavs=3, n_users=8, max_steps=24, user_obs="nearest", nearest_users=4)
_PROBE = UAVBaseStationEnv(ENV_CFG, 1)
N_AGENTS, OBS_DIM, STATE_DIM, ACT_DIM = (
    _PROBE.n_agents,
    _PROBE.obs_dim,
    _PROBE.state_dim,
    _PROBE.action_dim,
)
K = 4
"""Skill interval of the test agents; rollouts of T = 8 hold two whole windows."""


def small_cfg(**overrides: object) -> AgentConfig:
    base = AgentConfig(hidden_dim=16, ppo_epochs=2, transformer_heads=2, skill_interval=K)
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
    """Collect ``T`` steps of ``B`` envs with the real collector and return the batch.

    ``done`` (T, B) bool: at most one True per env: that env's episode ends after step t
    (its clock is advanced before collecting), so episodes end mid-batch in some envs and
    not in others. ``hidden`` / ``episode_start``: the actor state carried in from an
    earlier rollout (default: every env starts an episode at step 0). Every env is at a
    window boundary at step 0, as the schedules guarantee.
    """
    env = UAVBaseStationEnv(ENV_CFG, B, seed=seed)
    if done is not None:
        sd = env.state_dict()
        for t, b in done.nonzero().tolist():
            sd["t"][b] = ENV_CFG.max_steps - (t + 1)
        env.load_state_dict(sd)
    obs, state = env.observe()
    rs = RunningState.initial(obs, state, agent.initial_hidden(B))
    if hidden is not None:
        rs.hidden = hidden.clone()
    if episode_start is not None:
        rs.episode_start = episode_start.clone()
        # Envs that carry on are at a window boundary with a running skill.
        rs.window_step.fill_(agent.cfg.skill_interval)
        rs.team.fill_(0)
        rs.ind.fill_(0)
    dims = Dims(N_AGENTS, OBS_DIM, STATE_DIM, ACT_DIM, agent.cfg.hidden_dim)
    buf = RolloutBuffer(T, B, dims, torch.device("cpu"))
    Collector(agent.cfg, tracker=None).collect(agent, env, rs, buf, 0)
    return clone_batch(buf.batch())


def clone_batch(batch: Batch) -> Batch:
    return Batch(**{f.name: getattr(batch, f.name).clone() for f in dataclasses.fields(Batch)})
