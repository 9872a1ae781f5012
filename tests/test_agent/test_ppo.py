"""PPO maths against hand-computed values (gamma = lam = 0.5 keeps every number exact)."""

from __future__ import annotations

import math

import torch
from torch.testing import assert_close

from hmasd.agent.ppo import (
    ValueNorm,
    categorical_logp_entropy,
    decoupled_weight,
    gae,
    normal_entropy,
    normal_logp,
    normalize_advantages,
    policy_loss,
    ratio_stats_by_lag,
    term_policy_loss,
    value_loss,
    window_gae,
)

F, T_ = False, True


def col(*xs: float) -> torch.Tensor:
    """A (T, 1) column: T steps of one sequence."""
    return torch.tensor(xs, dtype=torch.float32).unsqueeze(1)


def bcol(*xs: bool) -> torch.Tensor:
    return torch.tensor(xs).unsqueeze(1)


def test_gae_bootstraps_truncation_and_cuts_the_trace_at_episode_ends() -> None:
    # Episode ends after step 1 (time limit): V(terminal state) = 4 bootstraps it.
    rewards, values = col(1, 2, 3), col(0.5, 1.0, 1.5)
    dones, last = bcol(F, T_, F), torch.tensor([2.0])
    adv = gae(rewards, values, dones, last, 0.5, 0.5, terminal_values=col(0, 4, 0))
    # t=2: 3 + .5*2 - 1.5 = 2.5;  t=1: 2 + .5*4 - 1 = 3 (trace cut);
    # t=0: (1 + .5*1 - .5) + .25*3 = 1.75
    assert_close(adv, col(1.75, 3.0, 2.5))
    # True termination (no terminal values): t=1 -> 2 - 1 = 1; t=0 -> 1 + .25*1 = 1.25.
    adv = gae(rewards, values, dones, last, 0.5, 0.5)
    assert_close(adv, col(1.25, 1.0, 2.5))


def test_gae_runs_in_time_order_per_agent() -> None:
    # (T, B, n) rewards with per-agent values; a shuffled time axis would change the result.
    rewards = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]])
    values = torch.zeros(2, 1, 2)
    adv = gae(rewards, values, torch.zeros(2, 1, dtype=torch.bool), torch.zeros(1, 2), 0.5, 1.0)
    assert_close(adv, torch.tensor([[[1.0, 1.0]], [[0.0, 2.0]]]))
    flipped = gae(
        rewards.flip(0), values, torch.zeros(2, 1, dtype=torch.bool), torch.zeros(1, 2), 0.5, 1.0
    )
    assert not torch.equal(flipped.flip(0), adv)


def test_window_gae_hand_computed() -> None:
    rewards = torch.tensor([1.0, 2, 3, 4, 5, 6])[:, None].expand(6, 2).contiguous()
    decision = torch.tensor([[T_, F], [F, T_], [T_, F], [F, F], [T_, F], [F, T_]])
    dones = torch.tensor([[F, F], [F, F], [F, F], [T_, F], [F, F], [F, F]])
    # V_h at decisions; 100 elsewhere must be ignored.
    values = torch.full((6, 2), 100.0)
    values[0, 0], values[2, 0], values[4, 0] = 1.0, 2.0, 3.0
    values[1, 1], values[5, 1] = 1.0, 2.0
    terminal = torch.zeros(6, 2)
    terminal[3, 0] = 20.0
    last = torch.tensor([10.0, 4.0])
    adv, win = window_gae(rewards, decision, dones, values, last, 0.5, 0.5, terminal)
    # Sequence 0: windows [0,1] R=3 -> next V=2; [2,3] R=7 ends the episode -> V_term=20,
    # trace cut; [4,5] R=11 reaches the sequence end -> V_last=10.
    #   A4 = 11 + .5*10 - 3 = 13;  A2 = 7 + .5*20 - 2 = 15;  A0 = 3 + .5*2 - 1 + .25*15 = 6.75
    # Sequence 1: step 0 belongs to an earlier window (no sample); [1..4] R=14 -> V=2;
    # [5] R=6 -> V_last=4.   A5 = 6 + 2 - 2 = 6;  A1 = 14 + 1 - 1 + .25*6 = 15.5
    assert_close(adv[:, 0], torch.tensor([6.75, 0, 15, 0, 13, 0]))
    assert_close(adv[:, 1], torch.tensor([0, 15.5, 0, 0, 0, 6]))
    assert_close(win[:, 0], torch.tensor([3.0, 0, 7, 0, 11, 0]))
    assert_close(win[:, 1], torch.tensor([0, 14.0, 0, 0, 0, 6]))
    # Trailing value heads (V_h(s), V_h(o_1..n)) share the window rewards.
    adv3, _ = window_gae(
        rewards,
        decision,
        dones,
        values[..., None].expand(6, 2, 3),
        last[:, None].expand(2, 3),
        0.5,
        0.5,
        terminal[..., None].expand(6, 2, 3),
    )
    assert_close(adv3, adv[..., None].expand(6, 2, 3))


def test_policy_loss_clips_and_reports() -> None:
    logp = torch.tensor([0.0, math.log(2.0)])
    loss, kl, clipfrac = policy_loss(logp, torch.zeros(2), torch.ones(2), 0.2)
    # ratios 1 and 2: -min(1, 1) and -min(2, 1.2) -> mean -1.1
    assert_close(loss, torch.tensor(-1.1))
    assert_close(kl, torch.tensor((1.0 - math.log(2.0)) / 2))
    assert_close(clipfrac, torch.tensor(0.5))
    # A negative advantage is not clipped on the pessimistic side: -(-1 * 2) = 2.
    loss, _, _ = policy_loss(logp[1:], torch.zeros(1), -torch.ones(1), 0.2)
    assert_close(loss, torch.tensor(2.0))


def test_value_loss_takes_the_larger_of_clipped_and_unclipped_huber() -> None:
    v, old, ret = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([3.0])
    # unclipped error 1 -> 0.5; clipped prediction 0.2, error 2.8 -> 0.5 * 2.8^2 = 3.92
    assert_close(value_loss(v, old, ret, 0.2, 10.0), torch.tensor(3.92))
    # Huber delta 1: 2.8 - 0.5 = 2.3
    assert_close(value_loss(v, old, ret, 0.2, 1.0), torch.tensor(2.3))


def test_closed_form_distributions_match_torch() -> None:
    g = torch.Generator().manual_seed(0)
    x, mean = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    log_std = torch.tensor([-0.5, 0.0, 0.3])
    ref = torch.distributions.Normal(mean, log_std.exp())
    assert_close(normal_logp(x, mean, log_std), ref.log_prob(x).sum(-1))
    assert_close(normal_entropy(log_std), ref.entropy()[0].sum())
    logits, idx = torch.randn(5, 4, generator=g), torch.tensor([0, 1, 2, 3, 0])
    cat = torch.distributions.Categorical(logits=logits)
    lp, h = categorical_logp_entropy(logits, idx)
    assert_close(lp, cat.log_prob(idx))
    assert_close(h, cat.entropy())


def test_value_norm_statistics_and_round_trip() -> None:
    norm = ValueNorm()
    norm.update(torch.tensor([1.0, 3.0]))
    mean, std = norm.stats()
    assert_close(mean, torch.tensor(2.0))
    assert_close(std, torch.tensor(1.0), atol=1e-4, rtol=0)
    assert_close(norm.normalize(torch.tensor(3.0)), torch.tensor(1.0), atol=1e-4, rtol=0)
    x = torch.tensor([-5.0, 0.5, 7.0])
    assert_close(norm.denormalize(norm.normalize(x)), x)
    # Non-finite targets leave the statistics alone; disabled it is the identity.
    before = {k: v.clone() for k, v in norm.state_dict().items()}
    norm.update(torch.tensor([float("nan")]))
    assert all(torch.equal(before[k], v) for k, v in norm.state_dict().items())
    off = ValueNorm(enabled=False)
    off.update(x)
    assert torch.equal(off.normalize(x), x)
    # Stats live in the state dict (a resumed run continues them).
    again = ValueNorm()
    again.load_state_dict(norm.state_dict())
    assert_close(again.stats()[0], mean)


def test_term_policy_loss_is_a_sum_of_per_column_ppo_terms() -> None:
    # Eq. 6: column j (Z, then z_1..z_n) has its own ratio and advantage; each term is the
    # mean over decisions; the loss is their sum. Hand values, clip 0.2:
    old = torch.zeros(2, 3)
    logp = torch.log(torch.tensor([[1.0, 1.5, 0.5], [1.1, 1.0, 2.0]]))
    adv = torch.tensor([[1.0, 2.0, -1.0], [-2.0, 0.5, 3.0]])
    loss, kl, cf = term_policy_loss(logp, old, adv, 0.2)
    # col 0: max(-1*1, -1*1) = -1; max(2*1.1, 2*1.1) = 2.2 -> mean 0.6
    # col 1: ratio 1.5 clipped to 1.2 for A = 2: max(-3, -2.4) = -2.4; ratio 1: -0.5
    #        -> mean -1.45
    # col 2: ratio .5, A = -1: max(.5, .8) = .8; ratio 2, A = 3: max(-6, -3.6) = -3.6
    #        -> mean -1.4
    assert_close(loss, torch.tensor(0.6 - 1.45 - 1.4))
    assert_close(cf, torch.tensor(3 / 6))
    assert float(kl) > 0
    # The same numbers as one joint PPO term would NOT give this (the old coordinator).
    joint, _, _ = policy_loss(logp.sum(-1), old.sum(-1), adv[:, 0], 0.2)
    assert not torch.isclose(joint, loss)


def test_term_policy_loss_at_ratio_one_is_minus_the_summed_mean_advantages() -> None:
    # HMASD_METHOD check 7: first epoch, all n+1 ratios 1 -> -(mean A_Z + sum_i mean A_zi).
    adv = torch.tensor([[1.0, -2.0, 4.0], [3.0, 0.0, -1.0], [2.0, 5.0, 0.5]])
    logp = torch.randn(3, 3)
    loss, kl, cf = term_policy_loss(logp, logp.clone(), adv, 0.2)
    assert_close(loss, -(adv.mean(0).sum()))
    assert float(kl) == 0.0 and float(cf) == 0.0


def test_advantages_normalise_per_column() -> None:
    adv = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    out = normalize_advantages(adv, dim=0)
    assert_close(out[:, 0], out[:, 1])
    assert_close(out.mean(0), torch.zeros(2), atol=1e-6, rtol=0)
    assert_close(out.std(0), torch.ones(2), atol=1e-4, rtol=0)
    assert_close(normalize_advantages(adv), (adv - adv.mean()) / (adv.std() + 1e-8))


def test_decoupled_weight_is_the_truncated_prox_over_behaviour_ratio() -> None:
    prox = torch.log(torch.tensor([0.5, 0.2, 0.4]))
    behav = torch.log(torch.tensor([0.25, 0.4, 0.4]))
    w = decoupled_weight(prox, behav)
    # 0.5/0.25 = 2 is truncated to 1; 0.2/0.4 = 0.5; equal policies give exactly 1.
    assert_close(w, torch.tensor([1.0, 0.5, 1.0]))
    assert w[2].item() == 1.0
    assert_close(decoupled_weight(prox, behav, truncation=3.0)[0], torch.tensor(2.0))


def test_weighted_policy_loss_hand_computed_and_unit_weight_is_exact() -> None:
    logp = torch.log(torch.tensor([1.5, 0.5]))  # ratios 1.5 and 0.5 against old = 0
    old = torch.zeros(2)
    adv = torch.tensor([1.0, -2.0])
    w = torch.tensor([0.5, 1.0])
    loss, _, _ = policy_loss(logp, old, adv, 0.2, w)
    # Clipped terms: max(-1 * 1.5, -1 * 1.2) = -1.2; max(2 * 0.5, 2 * 0.8) = 1.6.
    assert_close(loss, torch.tensor((0.5 * -1.2 + 1.0 * 1.6) / 2))
    plain = policy_loss(logp, old, adv, 0.2)[0]
    assert torch.equal(policy_loss(logp, old, adv, 0.2, torch.ones(2))[0], plain)
    cols = torch.log(torch.tensor([[1.5, 0.5]]))
    t_plain = term_policy_loss(cols, torch.zeros(1, 2), adv[None], 0.2)[0]
    t_one = term_policy_loss(cols, torch.zeros(1, 2), adv[None], 0.2, torch.ones(1, 2))[0]
    assert torch.equal(t_plain, t_one)


def test_ratio_stats_by_lag_known_values() -> None:
    behav = torch.zeros(4)
    logp = torch.log(torch.tensor([1.0, 1.5, 1.1, 0.5]))
    lag = torch.tensor([0, 1, 1, 9])  # lag 9 pools into the last of 3 levels
    cf, kl, n = ratio_stats_by_lag(logp, behav, lag, 0.2, 3)
    assert n.tolist() == [1.0, 2.0, 1.0]
    assert_close(cf, torch.tensor([0.0, 0.5, 1.0]))
    k = lambda r: (r - 1) - math.log(r)  # noqa: E731
    assert_close(kl, torch.tensor([0.0, (k(1.5) + k(1.1)) / 2, k(0.5)]))
    cf, kl, n = ratio_stats_by_lag(logp[:1], behav[:1], lag[:1], 0.2, 3)
    assert cf[0].item() == 0.0 and math.isnan(cf[1].item()) and math.isnan(kl[2].item())


def test_value_norm_affine_is_denormalize() -> None:
    norm = ValueNorm()
    norm.update(torch.tensor([3.0, 9.0]))
    m, s = norm.affine()
    x = torch.tensor([0.5, -1.0])
    assert torch.equal(x * s + m, norm.denormalize(x))
    off = ValueNorm(enabled=False)
    m, s = off.affine()
    assert torch.equal(x * s + m, x)
