"""The study's design choices, checked on real runs: staggered episode phases, shared seeds
across modes, values in raw units, and the decoupled objective reducing to PPO in sync."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import torch

from hmasd.agent.hmasd import HMASDAgent
from hmasd.seeding import GROUP_STREAM, derive_seed, seed_everything
from hmasd.training.checkpoint import final_path, load_checkpoint
from hmasd.training.evaluate import make_env
from hmasd.training.policy_groups import PolicyGroups
from hmasd.training.rollout import phase_offsets
from hmasd.training.trainer import Run, train

from .helpers import assert_same_state, recording_agent, tiny_config
from .test_schedules import assert_whole_windows


def test_phase_offsets_known_values() -> None:
    # 10 windows of k = 10 per 100-step episode: rows cycle through the window starts.
    assert phase_offsets(12, 100, 10).tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 0, 10]
    assert phase_offsets(4, 16, 4).tolist() == [0, 4, 8, 12]


def test_start_at_sets_the_clock_and_the_first_episode_is_partial() -> None:
    cfg = tiny_config()
    env = make_env(cfg.env, 4, torch.device("cpu"), 0)
    obs, state = env.start_at(torch.tensor([0, 4, 8, 12]))
    frac = torch.tensor([0, 4, 8, 12]) / cfg.env.max_steps
    assert torch.allclose(state[:, -1], frac) and torch.allclose(obs[:, 0, -1], frac)
    lengths = {}
    for _ in range(cfg.env.max_steps):
        out = env.step(torch.zeros(4, env.n_agents, 3))
        for b in out.done.nonzero().flatten().tolist():
            lengths.setdefault(b, int(out.episode["length"][b]))
    # Each env's first episode lasts what its clock left; the next ones are whole.
    assert lengths == {0: 16, 1: 12, 2: 8, 3: 4}
    assert env.t0.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="start_at"):
        env.start_at(torch.tensor([0, 4, 8, 16]))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_batch_holds_every_window_of_the_episode(mode: str, tmp_path: Path) -> None:
    """Staggered phases: each batch covers every window index of the episode, windows
    stay whole, and only whole episodes reach the tracker's training curve."""
    cfg = tiny_config()
    k, max_steps = cfg.agent.skill_interval, cfg.env.max_steps
    agent_cls = recording_agent()
    train(cfg, mode, 0, tmp_path, agent_cls=agent_cls)
    assert agent_cls.seen
    for _, b in agent_cls.seen:
        assert_whole_windows(b, k)
        step = torch.round(b.state[..., -1] * max_steps).long()  # the env's episode clock
        windows = set((step[b.decision] // k).tolist())
        assert windows == set(range(max_steps // k))
    # Exports written before the first whole episode ends hold only a header.
    frames = [pd.read_csv(p) for p in (tmp_path / "paper_data").glob("episode_rewards_*")]
    eps = pd.concat([f for f in frames if len(f)])
    assert len(eps) and set(eps["episode_length"]) == {max_steps}


def _run(cfg, mode: str, seed: int, path: Path) -> Run:
    seed_everything(seed, True)
    return Run(cfg, mode, seed, path, torch.device("cpu"), None, 0)


def test_sync_and_async_of_one_seed_share_weights_and_env_streams(tmp_path: Path) -> None:
    """What licenses a paired comparison over seeds: the same seed gives both modes the
    same initial weights and the same env stream (layouts, users, start positions)."""
    cfg = tiny_config()
    s, a = _run(cfg, "sync", 5, tmp_path / "s"), _run(cfg, "async", 5, tmp_path / "a")
    assert_same_state(s.agent.state_dict()["modules"], a.agent.state_dict()["modules"])
    assert_same_state(s.schedule.env.state_dict(), a.schedule.env.state_dict(), "env")
    assert torch.equal(s.schedule.rs.obs, a.schedule.rs.obs)
    other = _run(cfg, "sync", 6, tmp_path / "o")
    assert not torch.equal(other.schedule.rs.obs, s.schedule.rs.obs)


def test_values_are_stored_in_raw_units_per_acting_policy() -> None:
    """Each row's value is de-normalised by the statistics of the policy acting there: a
    stale snapshot's values are not read with the learner's later statistics."""
    cfg = tiny_config()
    env = make_env(cfg.env, 4, torch.device("cpu"), derive_seed(0, GROUP_STREAM))
    agent = HMASDAgent(cfg.agent, env.n_agents, env.obs_dim, env.state_dim, env.action_dim)
    old = copy.deepcopy(agent)
    agent.norms["low"].update(torch.tensor([10.0, 30.0]))
    groups = PolicyGroups([old, agent], [slice(0, 2), slice(2, 4)])
    mean, std = groups.value_affine(4, "low")
    m_new, s_new = agent.norms["low"].stats()
    assert mean.tolist() == [0.0, 0.0, float(m_new), float(m_new)]
    m_old, s_old = old.norms["low"].affine()
    assert torch.equal(std, torch.stack([s_old, s_old, s_new, s_new]))


def test_decoupled_is_plain_ppo_bit_for_bit_in_sync(tmp_path: Path) -> None:
    cfg = tiny_config()
    train(cfg, "sync", 2, tmp_path / "plain")
    train(tiny_config(train={"async_correction": "decoupled"}), "sync", 2, tmp_path / "dec")
    a = load_checkpoint(final_path(tmp_path / "plain", "sync"))
    b = load_checkpoint(final_path(tmp_path / "dec", "sync"))
    assert_same_state(a["agent"], b["agent"])


def test_decoupled_changes_async_updates(tmp_path: Path) -> None:
    train(tiny_config(), "async", 2, tmp_path / "plain")
    train(tiny_config(train={"async_correction": "decoupled"}), "async", 2, tmp_path / "dec")
    a = load_checkpoint(final_path(tmp_path / "plain", "async"))
    b = load_checkpoint(final_path(tmp_path / "dec", "async"))
    with pytest.raises(AssertionError):
        assert_same_state(a["agent"]["modules"], b["agent"]["modules"])
