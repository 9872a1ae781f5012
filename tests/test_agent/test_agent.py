"""HMASDAgent end to end on batches built by acting: one test per defect of the public script
plus acting, intrinsic reward, checkpoints and determinism."""

from __future__ import annotations

import copy
import dataclasses
import io

import pytest
import torch
from torch.testing import assert_close

from hmasd.agent import Batch, HMASDAgent, low_level_reward
from hmasd.errors import CheckpointError, TrainingError

from .helpers import ACT_DIM, N_AGENTS, OBS_DIM, STATE_DIM, clone_batch, make_agent, rollout

METRICS = {
    f"losses/{level}/{name}"
    for level in ("low", "high")
    for name in ("policy", "value", "entropy", "approx_kl", "clipfrac")
} | {
    "losses/disc/team",
    "losses/disc/ind",
    "disc/team_accuracy",
    "disc/ind_accuracy",
    "losses/grad_norm_low",
    "losses/grad_norm_high",
}


def mid_episode_done(T: int = 8, B: int = 4) -> torch.Tensor:
    done = torch.zeros(T, B, dtype=torch.bool)
    done[3, 1] = done[5, 2] = True
    return done


def flat_state(agent: HMASDAgent) -> dict[str, torch.Tensor]:
    return {f"{m}.{k}": v for m, sd in agent.state_dict()["modules"].items() for k, v in sd.items()}


def test_every_parameter_is_optimised_and_changes_after_one_update() -> None:
    agent = make_agent()
    named = {f"{m}.{k}": p for m, mod in agent.modules().items() for k, p in mod.named_parameters()}
    # Nothing is built lazily: every parameter exists now and belongs to an optimiser.
    in_optim = {
        id(p) for opt in agent.optimizers.values() for g in opt.param_groups for p in g["params"]
    }
    assert {id(p) for p in named.values()} == in_optim
    before = {k: p.detach().clone() for k, p in named.items()}
    metrics = agent.update(rollout(agent, done=mid_episode_done()))
    after = {f"{m}.{k}": p for m, mod in agent.modules().items() for k, p in mod.named_parameters()}
    assert after.keys() == before.keys()
    no_grad = [k for k, p in named.items() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    unchanged = [k for k, p in after.items() if torch.equal(p, before[k])]
    assert no_grad == [] and unchanged == []
    assert metrics.keys() >= METRICS
    assert all(isinstance(v, float) for v in metrics.values())
    assert agent.policy_version == 1


def test_runs_every_ppo_epoch_over_every_minibatch() -> None:
    """Per epoch: one coordinator step on every decision, num_minibatches discoverer
    steps, one discriminator step (optimizer_steps counts the discoverer's)."""
    agent = make_agent(ppo_epochs=3, num_minibatches=2)
    agent.update(rollout(agent))
    assert agent.optimizer_steps == 6
    expected = {"actor": 6, "critic": 6, "coordinator": 3, "disc": 3}
    for name, opt in agent.optimizers.items():
        steps = {int(s["step"]) for s in opt.state.values()}
        assert steps == {expected[name]}, name
    agent.update(rollout(agent, seed=1))
    assert agent.optimizer_steps == 12 and agent.policy_version == 2


@pytest.mark.parametrize("actor", ["gru", "mlp"])
def test_old_log_probs_are_the_stored_ones_for_the_trained_samples(actor: str) -> None:
    """Before the first optimiser step every ratio is 1, at both levels, on a shuffled
    minibatch of sequences: the old log-probs are Batch.logp / hl_logp of exactly the
    samples being trained, the stored skills are scored, and the GRU replay (from
    Batch.hidden0, reset at episode starts, including mid-batch ones) reproduces acting."""
    torch.manual_seed(3)
    agent = make_agent(actor=actor, num_minibatches=2)
    B = 4
    hidden = torch.randn(B, N_AGENTS, agent.cfg.hidden_dim) * 0.5  # carried from before
    start = torch.tensor([False, True, False, False])
    batch = rollout(agent, B=B, done=mid_episode_done(B=B), hidden=hidden, episode_start=start)
    assert batch.episode_start[1:].any() and not batch.episode_start[0].all()
    agent.update(batch)
    ones = torch.ones_like(agent.first_ratios["low"])
    assert_close(agent.first_ratios["low"], ones, rtol=0, atol=1e-5)
    assert agent.first_ratios["high"].numel() > 0
    assert_close(
        agent.first_ratios["high"], torch.ones_like(agent.first_ratios["high"]), rtol=0, atol=1e-5
    )


def _first_low_ratio_deviation(batch_edit: str) -> float:
    torch.manual_seed(3)
    agent = make_agent()
    B = 4
    hidden = torch.randn(B, N_AGENTS, agent.cfg.hidden_dim)
    start = torch.tensor([False, False, False, False])
    batch = rollout(agent, B=B, done=mid_episode_done(B=B), hidden=hidden, episode_start=start)
    if batch_edit == "zero_hidden0":
        batch.hidden0.zero_()
    elif batch_edit == "no_resets":
        batch.episode_start.zero_()
    agent.update(batch)
    return float((agent.first_ratios["low"] - 1).abs().max())


def test_recurrent_replay_depends_on_stored_hidden_and_resets() -> None:
    # The control for the test above: replaying from zeros (the public script) or ignoring
    # episode starts does not reproduce the rollout's log-probs.
    assert _first_low_ratio_deviation("none") < 1e-5
    assert _first_low_ratio_deviation("zero_hidden0") > 1e-3
    assert _first_low_ratio_deviation("no_resets") > 1e-3


def test_stored_skills_are_scored_not_resampled() -> None:
    agent = make_agent(ppo_epochs=1)
    batch = rollout(agent)
    torch.manual_seed(0)
    agent_a = make_agent(ppo_epochs=1)
    agent_a.update(clone_batch(batch))
    # Different RNG state before the update: a re-sampling update would now differ.
    torch.manual_seed(123)
    agent_b = make_agent(ppo_epochs=1)
    torch.manual_seed(999)
    agent_b.update(clone_batch(batch))
    assert torch.equal(agent_a.first_ratios["high"], agent_b.first_ratios["high"])
    assert_close(
        agent_a.first_ratios["high"],
        torch.ones_like(agent_a.first_ratios["high"]),
        rtol=0,
        atol=1e-5,
    )
    # Changing a stored skill (Z at a decision) changes what the update scores.
    edited = clone_batch(batch)
    t, b = edited.decision.nonzero()[0].tolist()
    edited.team_skill[t, b] = (edited.team_skill[t, b] + 1) % agent.cfg.n_team_skills
    agent_c = make_agent(ppo_epochs=1)
    agent_c.update(edited)
    assert not torch.allclose(agent_c.first_ratios["high"], agent_a.first_ratios["high"])


def test_acted_actions_are_clamped_and_log_probs_are_of_the_raw_sample() -> None:
    agent = make_agent(init_log_std=1.0)
    B = 64
    obs, state = torch.randn(B, N_AGENTS, OBS_DIM), torch.randn(B, STATE_DIM)
    team = torch.zeros(B, dtype=torch.long)
    ind = torch.zeros(B, N_AGENTS, dtype=torch.long)
    start = torch.ones(B, dtype=torch.bool)
    out = agent.act(obs, state, team, ind, agent.initial_hidden(B), start)
    assert out.action.shape == (B, N_AGENTS, ACT_DIM)
    assert float(out.action.abs().max()) <= 1.0 < float(out.raw_action.abs().max())
    assert torch.equal(out.action, out.raw_action.clamp(-1, 1))
    det = agent.act(obs, state, team, ind, agent.initial_hidden(B), start, deterministic=True)
    mean = det.raw_action
    ref = torch.distributions.Normal(mean, agent.actor.log_std.exp()).log_prob(out.raw_action)
    assert_close(out.logp, ref.sum(-1))
    assert out.value.shape == (B, N_AGENTS) and out.hidden.shape == (B, N_AGENTS, 16)


def test_intrinsic_reward_and_low_level_reward_formula() -> None:
    agent = make_agent()
    B = 5
    ns, no = torch.randn(B, STATE_DIM), torch.randn(B, N_AGENTS, OBS_DIM)
    team, ind = torch.randint(0, 3, (B,)), torch.randint(0, 3, (B, N_AGENTS))
    tq, iq = agent.intrinsic(ns, no, team, ind)
    assert tq.shape == (B,) and iq.shape == (B, N_AGENTS)
    assert bool((tq <= 0).all() and (iq <= 0).all())
    # log q over all skills normalises to 1.
    all_t = torch.stack([agent.intrinsic(ns, no, torch.full((B,), z), ind)[0] for z in range(3)])
    assert_close(all_t.exp().sum(0), torch.ones(B))
    cfg = dataclasses.replace(agent.cfg, lambda_e=2.0, lambda_D=0.5, lambda_d=0.25)
    env_r, team_q, ind_q = torch.tensor([1.0]), torch.tensor([-2.0]), torch.tensor([[-4.0, 0.0]])
    r = low_level_reward(cfg, env_r, team_q, ind_q)
    assert_close(r, torch.tensor([[2.0 - 1.0 - 1.0, 2.0 - 1.0]]))


def test_discriminators_learn_separable_skills() -> None:
    agent = make_agent(lr=3e-3, ppo_epochs=4)
    first = last = None
    for i in range(12):
        batch = rollout(agent, T=8, B=8, seed=i)
        # Make the skills readable: s' carries onehot(Z), o_i' carries onehot(z_i), + noise.
        batch.next_state[..., :3] += 3 * torch.nn.functional.one_hot(batch.team_skill, 3)
        batch.next_obs[..., :3] += 3 * torch.nn.functional.one_hot(batch.ind_skill, 3)
        m = agent.update(batch)
        first = first or m
        last = m
    assert last is not None and first is not None
    assert last["disc/team_accuracy"] > 0.9 and last["disc/ind_accuracy"] > 0.9
    assert last["losses/disc/team"] < first["losses/disc/team"]
    # The intrinsic reward reads the trained discriminators: log q close to 0 (chance: -1.1).
    tq, iq = agent.intrinsic(
        batch.next_state[0], batch.next_obs[0], batch.team_skill[0], batch.ind_skill[0]
    )
    assert float(tq.mean()) > -0.3 and float(iq.mean()) > -0.3


@pytest.mark.parametrize(
    ("field", "loss"), [("reward", "losses/low/policy"), ("env_reward", "losses/high/policy")]
)
def test_non_finite_loss_stops_before_any_step(field: str, loss: str) -> None:
    agent = make_agent()
    agent.update(rollout(agent))
    batch = rollout(agent, seed=1)
    getattr(batch, field)[2, 1] = float("nan")
    before = agent.state_dict()
    with pytest.raises(TrainingError, match=f"^loss turned NaN at update 2: {loss}$"):
        agent.update(batch)
    after = agent.state_dict()
    assert agent.policy_version == 1
    for m, sd in before["modules"].items():
        for k, v in sd.items():
            assert torch.equal(v, after["modules"][m][k]), f"{m}.{k}"


def test_same_seed_same_parameters_after_an_update() -> None:
    def run() -> dict[str, torch.Tensor]:
        torch.manual_seed(7)
        agent = make_agent(seed=7, num_minibatches=2)
        agent.update(rollout(agent, done=mid_episode_done()))
        return flat_state(agent)

    a, b = run(), run()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_state_dict_round_trip_resumes_exactly() -> None:
    agent = make_agent()
    agent.update(rollout(agent))
    buf = io.BytesIO()
    torch.save(agent.state_dict(), buf)
    saved = agent.state_dict()
    buf.seek(0)
    other = make_agent(seed=99)
    other.load_state_dict(torch.load(buf, weights_only=False))
    assert other.policy_version == agent.policy_version == 1
    assert other.optimizer_steps == agent.optimizer_steps
    fa, fb = flat_state(agent), flat_state(other)
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    # The next update (weights, Adam moments, value normalisers) is identical too.
    batch = rollout(agent, seed=5)
    torch.manual_seed(1)
    ma = agent.update(clone_batch(batch))
    torch.manual_seed(1)
    mb = other.update(clone_batch(batch))
    assert ma == mb
    fa, fb = flat_state(agent), flat_state(other)
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    # A state dict is a copy: training on does not change one taken earlier.
    assert not torch.equal(saved["modules"]["actor"]["log_std"], agent.actor.log_std.detach())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"n_team_skills": 4}, r"agent tensor 'coordinator\.\S+' has shape"),
        ({"actor": "mlp"}, r"agent checkpoint has tensor 'actor\.gru\.\S+' that this config lacks"),
        ({"hidden_dim": 8}, r"agent tensor 'coordinator\.\S+' has shape"),
    ],
)
def test_mismatched_state_dict_names_the_tensor(override: dict, message: str) -> None:
    saved = make_agent().state_dict()
    other = make_agent(**override)
    before = flat_state(other)
    with pytest.raises(CheckpointError, match=message):
        other.load_state_dict(saved)
    after = flat_state(other)
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing half-loaded
    with pytest.raises(CheckpointError, match="lacks 'modules'"):
        other.load_state_dict({"optimizers": {}})


def hand_built_batch(agent: HMASDAgent) -> Batch:
    """One sequence (B = 1) of T = 2k steps: two whole windows, env rewards 1..2k, no episode
    end, and V_h heads set by hand at the two decisions (state head 1.0 then 2.0, agent
    heads 0.5 * (i + 1) then 0). Everything else is taken from acting, so log-probs match."""
    k = agent.cfg.skill_interval
    batch = rollout(agent, T=2 * k, B=1)
    n = agent.n_agents
    batch.env_reward.copy_(torch.arange(1, 2 * k + 1, dtype=torch.float32)[:, None])
    batch.done.zero_()
    batch.hl_value_state.zero_()
    batch.hl_value_obs.zero_()
    batch.hl_value_state[0, 0], batch.hl_value_state[k, 0] = 1.0, 2.0
    batch.hl_value_obs[0, 0] = 0.5 * torch.arange(1, n + 1, dtype=torch.float32)
    return batch


def test_coordinator_loss_follows_eq6_on_a_hand_built_batch() -> None:
    """Eq. 6: n+1 PPO terms. Term 0 is Z with the GAE of V_h(s^); term i is z_i with the
    GAE of V_h(o^_i); every term sees the same window rewards (sums of k env rewards), a
    window discounts by gamma^k, and the terms add up."""
    agent = make_agent(value_norm=False, gamma=0.5, gae_lambda=0.5)
    k, n = agent.cfg.skill_interval, agent.n_agents
    batch = hand_built_batch(agent)
    p = agent._prepare(batch)
    # Window rewards: 1+..+k and (k+1)+..+2k.
    r1, r2 = k * (k + 1) / 2, k * (3 * k + 1) / 2
    assert_close(p.hl_reward, torch.tensor([r1, r2]))
    g = 0.5**k
    boot = agent._high_values(batch.last_state, batch.last_obs)[0]  # (n+1,) after the batch
    v_first = torch.cat([torch.tensor([1.0]), 0.5 * torch.arange(1, n + 1)])
    v_second = torch.cat([torch.tensor([2.0]), torch.zeros(n)])
    d2 = r2 + g * boot - v_second
    d1 = r1 + g * v_second - v_first
    expected = torch.stack([d1 + g * 0.5 * d2, d2])  # (2 decisions, n+1 heads)
    assert p.hl_adv.shape == (2, n + 1)
    assert_close(p.hl_adv, expected)
    # The loss is the sum over the n+1 columns of each one's PPO term, plus their value
    # losses, minus lambda_h times the summed entropies.
    loss, metrics, ratio = agent._high_loss(p)
    logp, ent, v_s, v_o = agent.coordinator.score(p.state, p.obs, p.team, p.ind)
    assert_close(ratio, torch.ones(2, n + 1), rtol=0, atol=1e-6)
    adv = (expected - expected.mean(0)) / (expected.std(0) + 1e-8)
    policy = sum((-adv[:, j]).mean() for j in range(n + 1))
    assert_close(metrics["losses/high/policy"], policy)
    old_v = torch.stack([v_first, v_second])
    ret = expected + old_v
    values = torch.cat([v_s[:, None], v_o], -1)
    clipped = old_v + (values - old_v).clamp(-0.2, 0.2)  # PPO value clipping (Eq. 5)

    def huber(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.huber_loss(x, y, reduction="none", delta=10.0)

    vl = sum(
        torch.max(huber(values[:, j], ret[:, j]), huber(clipped[:, j], ret[:, j])).mean()
        for j in range(n + 1)
    )
    assert_close(metrics["losses/high/value"], vl)
    assert_close(metrics["losses/high/entropy"], ent.mean(0).sum())
    assert_close(loss, policy + vl - agent.cfg.lambda_h * ent.mean(0).sum())


def test_each_individual_skill_term_is_weighted_by_its_own_head() -> None:
    """Changing only V_h(o^_1) changes the advantage of z_1's term and no other column:
    the agent heads reach the policy (the old joint-ratio loss ignored them)."""
    agent = make_agent(value_norm=False)
    batch = hand_built_batch(agent)
    base = agent._prepare(batch).hl_adv
    batch.hl_value_obs[0, 0, 0] += 3.0
    moved = agent._prepare(batch).hl_adv
    diff = (moved - base).abs().sum(0)
    assert float(diff[1]) > 0
    assert float(diff[0]) == 0 and float(diff[2:].sum()) == 0


def test_acting_only_agent_loads_a_full_checkpoint_and_acts_the_same() -> None:
    # Evaluation builds the agent without optimisers (their construction imports
    # torch._dynamo, seconds per process): it must load and check the same checkpoints
    # and act identically, and refuse to update or be saved.
    trained = make_agent(seed=0)
    trained.update(rollout(trained, seed=1))
    state = trained.state_dict()
    acting = HMASDAgent(
        trained.cfg, N_AGENTS, OBS_DIM, STATE_DIM, ACT_DIM, "cpu", trainable=False
    )
    assert acting.optimizers == {}
    acting.load_state_dict(state)
    torch.manual_seed(5)
    obs, state_t = torch.randn(3, N_AGENTS, OBS_DIM), torch.randn(3, STATE_DIM)
    a = trained.choose_skills(state_t, obs, deterministic=True)
    b = acting.choose_skills(state_t, obs, deterministic=True)
    assert torch.equal(a.team, b.team) and torch.equal(a.logp, b.logp)
    bad = copy.deepcopy(state)
    bad["optimizers"]["actor"]["param_groups"][0]["params"].append(999)
    with pytest.raises(CheckpointError, match="optimiser 'actor'"):
        acting.load_state_dict(bad)
    with pytest.raises(TrainingError, match="trainable=False"):
        acting.update(rollout(trained, seed=2))
    with pytest.raises(TrainingError, match="trainable=False"):
        acting.state_dict()
