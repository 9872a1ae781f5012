"""The networks on their own: scoring stored skills, autoregressive conditioning, replay."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from hmasd.agent.networks import LowCritic, SkillActor, SkillCoordinator

from .helpers import N_AGENTS, OBS_DIM, STATE_DIM

H = 16


def coordinator(seed: int = 0) -> SkillCoordinator:
    torch.manual_seed(seed)
    return SkillCoordinator(STATE_DIM, OBS_DIM, N_AGENTS, 3, 4, H, layers=1, heads=2)


def inputs(B: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, STATE_DIM, generator=g), torch.randn(B, N_AGENTS, OBS_DIM, generator=g)


@torch.no_grad()
def test_score_scores_the_stored_skills_and_matches_sampling() -> None:
    net = coordinator()
    state, obs = inputs()
    team, ind, logp, v_s, v_o = net.sample(state, obs)
    assert team.shape == (6,) and ind.shape == (6, N_AGENTS) and logp.shape == (6, N_AGENTS + 1)
    assert int(team.max()) < 3 and int(ind.max()) < 4
    # Scoring is a pure function of the stored skills: twice the same, equal to sampling,
    # one log-prob and one entropy per decoder position (Z, then z_1..z_n).
    first = net.score(state, obs, team, ind)
    second = net.score(state, obs, team, ind)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert first[1].shape == (6, N_AGENTS + 1)
    assert torch.equal(first[0], logp)
    assert torch.equal(first[2], v_s) and torch.equal(first[3], v_o)
    # Changing one stored skill z_1 changes that row's z_1 log-prob (and may change the
    # later positions that condition on it), never Z's, and no other row.
    ind2 = ind.clone()
    ind2[0, 0] = (ind2[0, 0] + 1) % 4
    changed = net.score(state, obs, team, ind2)[0]
    assert changed[0, 1] != logp[0, 1] and changed[0, 0] == logp[0, 0]
    assert torch.equal(changed[1:], logp[1:])
    # The columns factor a proper joint distribution over (Z, z_1..z_n): summed log-probs
    # exponentiate to probabilities that sum to 1.
    grids = torch.cartesian_prod(*[torch.arange(3)] + [torch.arange(4)] * N_AGENTS)
    G = grids.shape[0]
    lp = net.score(state[:1].expand(G, -1), obs[:1].expand(G, -1, -1), grids[:, 0], grids[:, 1:])[0]
    assert_close(lp.sum(-1).exp().sum(), torch.tensor(1.0))


@torch.no_grad()
def test_decoder_is_autoregressive_and_causal() -> None:
    net = coordinator()
    net.team_head[-1].weight.normal_()  # larger heads so conditioning shows clearly
    net.ind_head[-1].weight.normal_()
    state, obs = inputs()
    enc = net.encode(state, obs)
    team = torch.zeros(6, dtype=torch.long)
    ind = torch.zeros(6, N_AGENTS, dtype=torch.long)
    t0, i0 = net.logits(enc, team, ind)
    # z_1 depends on Z; Z depends on no choice.
    t1, i1 = net.logits(enc, team + 1, ind)
    assert torch.equal(t0, t1)
    assert not torch.allclose(i0[:, 0], i1[:, 0])
    # Changing z_1 changes z_2.. but not Z or z_1; changing the last z changes nothing.
    ind_a = ind.clone()
    ind_a[:, 0] = 2
    t2, i2 = net.logits(enc, team, ind_a)
    assert torch.equal(t0, t2) and torch.equal(i0[:, 0], i2[:, 0])
    assert not torch.allclose(i0[:, 1], i2[:, 1])
    ind_b = ind.clone()
    ind_b[:, -1] = 3
    t3, i3 = net.logits(enc, team, ind_b)
    assert torch.equal(t0, t3) and torch.equal(i0, i3)


@torch.no_grad()
def test_deterministic_sampling_takes_the_argmax() -> None:
    net = coordinator()
    state, obs = inputs()
    team, ind, *_ = net.sample(state, obs, deterministic=True)
    enc = net.encode(state, obs)
    t_logits, i_logits = net.logits(enc, team, ind)
    assert torch.equal(team, t_logits.argmax(-1))
    assert torch.equal(ind, i_logits.argmax(-1))


@torch.no_grad()
def test_actor_replay_reproduces_stepwise_acting_with_resets() -> None:
    torch.manual_seed(0)
    actor = SkillActor(OBS_DIM, 4, 3, H, recurrent=True, log_std=-0.5)
    T, N = 7, 5
    g = torch.Generator().manual_seed(2)
    obs = torch.randn(T, N, OBS_DIM, generator=g)
    x = actor.inputs(obs, torch.randint(0, 4, (T, N), generator=g))
    h0 = torch.randn(N, H, generator=g)
    reset = torch.zeros(T, N, dtype=torch.bool)
    reset[0, 1] = reset[3, 2] = reset[3, 4] = reset[5, 0] = True
    h, means = h0, []
    for t in range(T):
        mean, h = actor.step(x[t], h, reset[t])
        means.append(mean)
    replayed = actor.replay(x, h0, reset, cuts=[3, 5])
    # Same maths, different matmul shapes: equal up to float rounding.
    assert_close(replayed, torch.stack(means), rtol=1e-5, atol=1e-7)
    # Ignoring the resets, or starting from zeros, gives different means.
    assert not torch.allclose(actor.replay(x, h0, torch.zeros_like(reset), []), replayed)
    assert not torch.allclose(actor.replay(x, torch.zeros_like(h0), reset, [3, 5]), replayed)


def test_low_critic_has_one_value_per_agent() -> None:
    critic = LowCritic(STATE_DIM, 3, N_AGENTS, H)
    v = critic(torch.randn(2, 4, STATE_DIM), torch.zeros(2, 4, dtype=torch.long))
    assert v.shape == (2, 4, N_AGENTS)
