"""Async snapshots acting as one stacked forward pass act as each snapshot would alone."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from hmasd.agent.hmasd import HMASDAgent
from hmasd.agent.ppo import normal_logp
from hmasd.config import load
from hmasd.training.policy_groups import PolicyGroups

N_AGENTS, OBS, STATE, ACT = 3, 7, 11, 2
G, M = 3, 4  # groups, envs per group
TOL = {"rtol": 1e-5, "atol": 1e-6}


def make_agents(count: int = G) -> list[HMASDAgent]:
    """Agents with different weights (different seeds), GRU actor, 2 decoder layers."""
    cfg = load("default", {"agent": {"transformer_layers": 2}}).agent
    agents = []
    for seed in range(count):
        torch.manual_seed(seed)
        agent = HMASDAgent(cfg, N_AGENTS, OBS, STATE, ACT)
        with torch.no_grad():  # the heads start near zero: make every output depend on weights
            for p in agent.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        agents.append(agent)
    return agents


def blocks(count: int = G) -> list[slice]:
    return [slice(g * M, (g + 1) * M) for g in range(count)]


def inputs(seed: int = 7) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    B = G * M
    return {
        "state": torch.randn(B, STATE, generator=gen),
        "obs": torch.randn(B, N_AGENTS, OBS, generator=gen),
        "team": torch.randint(0, 3, (B,), generator=gen),
        "ind": torch.randint(0, 3, (B, N_AGENTS), generator=gen),
        "hidden": torch.randn(B, N_AGENTS, 64, generator=gen),
        "start": torch.arange(B) % 3 == 0,
        "next_state": torch.randn(B, STATE, generator=gen),
        "next_obs": torch.randn(B, N_AGENTS, OBS, generator=gen),
    }


def test_one_member_acts_with_the_agent_itself() -> None:
    # So async with one group runs sync's code path (bit for bit: test_schedules.py).
    agent = make_agents(1)[0]
    assert PolicyGroups.single(agent).acting is agent
    assert PolicyGroups([agent], [slice(0, 8)]).acting is agent


def test_stacked_acting_matches_each_snapshot_acting_alone() -> None:
    agents = make_agents()
    groups = PolicyGroups(agents, blocks())
    x = inputs()
    stacked = groups.acting

    sk = stacked.choose_skills(x["state"], x["obs"], deterministic=True)
    act = stacked.act(
        x["obs"], x["state"], x["team"], x["ind"], x["hidden"], x["start"], deterministic=True
    )
    tq, iq = stacked.intrinsic(x["next_state"], x["next_obs"], x["team"], x["ind"])
    for agent, r in groups.members:
        own = agent.choose_skills(x["state"][r], x["obs"][r], deterministic=True)
        assert torch.equal(sk.team[r], own.team) and torch.equal(sk.ind[r], own.ind)
        for name in ("logp", "value_state", "value_obs"):
            assert_close(getattr(sk, name)[r], getattr(own, name), **TOL)
        own_act = agent.act(
            x["obs"][r],
            x["state"][r],
            x["team"][r],
            x["ind"][r],
            x["hidden"][r],
            x["start"][r],
            deterministic=True,
        )
        for name in ("action", "raw_action", "logp", "value", "hidden"):
            assert_close(getattr(act, name)[r], getattr(own_act, name), **TOL)
        own_tq, own_iq = agent.intrinsic(
            x["next_state"][r], x["next_obs"][r], x["team"][r], x["ind"][r]
        )
        assert_close(tq[r], own_tq, **TOL)
        assert_close(iq[r], own_iq, **TOL)
    # The snapshots differ, so the check above compared different numbers per block.
    first = agents[0].choose_skills(x["state"], x["obs"], deterministic=True)
    assert not torch.allclose(first.value_state, sk.value_state)


def test_stacked_samples_carry_their_snapshots_log_probs() -> None:
    """Sampled skills and actions: the log-probs returned are those of the snapshot of
    each block (scored by it alone), and sampling is not greedy."""
    agents = make_agents()
    groups = PolicyGroups(agents, blocks())
    x = inputs()
    torch.manual_seed(3)
    sk = groups.acting.choose_skills(x["state"], x["obs"])
    act = groups.acting.act(x["obs"], x["state"], sk.team, sk.ind, x["hidden"], x["start"])
    greedy = groups.acting.act(
        x["obs"], x["state"], sk.team, sk.ind, x["hidden"], x["start"], deterministic=True
    )
    assert not torch.allclose(act.raw_action, greedy.raw_action)
    for agent, r in groups.members:
        logp, _, _, _ = agent.coordinator.score(x["state"][r], x["obs"][r], sk.team[r], sk.ind[r])
        assert_close(sk.logp[r], logp, **TOL)
        mean = agent.act(
            x["obs"][r],
            x["state"][r],
            sk.team[r],
            sk.ind[r],
            x["hidden"][r],
            x["start"][r],
            deterministic=True,
        ).raw_action
        assert_close(act.logp[r], normal_logp(act.raw_action[r], mean, agent.actor.log_std), **TOL)


def test_refresh_brings_a_snapshots_new_weights_to_its_block_only() -> None:
    agents = make_agents()
    groups = PolicyGroups(agents, blocks())
    x = inputs()
    before = groups.acting.choose_skills(x["state"], x["obs"], deterministic=True)
    agents[1].load_state_dict(make_agents(4)[3].state_dict())  # snapshot 1 gets new weights
    stale = groups.acting.choose_skills(x["state"], x["obs"], deterministic=True)
    assert torch.equal(stale.value_state, before.value_state)  # not seen before refresh
    groups.refresh(1)
    after = groups.acting.choose_skills(x["state"], x["obs"], deterministic=True)
    r0, r1, r2 = blocks()
    assert torch.equal(after.value_state[r0], before.value_state[r0])
    assert torch.equal(after.value_state[r2], before.value_state[r2])
    own = agents[1].choose_skills(x["state"][r1], x["obs"][r1], deterministic=True)
    assert_close(after.value_state[r1], own.value_state, **TOL)
    assert not torch.allclose(after.value_state[r1], before.value_state[r1])


def test_stacking_draws_no_random_numbers_and_holds_no_parameters() -> None:
    agents = make_agents()
    rng = torch.get_rng_state()
    groups = PolicyGroups(agents, blocks())
    assert torch.equal(torch.get_rng_state(), rng)  # the run's random stream is untouched
    assert groups.acting.parameters() == []  # weights are copies, never trained
    assert not groups.acting.trainable


@pytest.mark.parametrize(
    "rows",
    [
        [slice(0, 4), slice(4, 9), slice(9, 12)],  # unequal
        [slice(4, 8), slice(0, 4), slice(8, 12)],  # out of order
    ],
)
def test_stacked_groups_need_equal_consecutive_blocks(rows: list[slice]) -> None:
    with pytest.raises(ValueError, match="equal, consecutive blocks"):
        PolicyGroups(make_agents(), rows)
