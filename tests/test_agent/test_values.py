"""Collected values are stored in raw units (each row de-normalised by its own policy)."""

from __future__ import annotations

import torch

from hmasd.tracking.exports import SIGNAL_COLUMNS

from .helpers import make_agent, rollout


def test_collected_values_are_the_critics_in_raw_units() -> None:
    agent = make_agent()
    agent.norms["low"].update(torch.tensor([40.0, 80.0]))
    agent.norms["high"].update(torch.tensor([-5.0, 15.0]))
    b = rollout(agent, T=8, B=3)
    with torch.no_grad():
        raw = agent.norms["low"].denormalize(agent.critic(b.state, b.team_skill))
        v_s, v_o = agent.coordinator.values(agent.coordinator.encode(b.state[0], b.obs[0]))
        hl = agent.norms["high"].denormalize(torch.cat([v_s[:, None], v_o], -1))
    torch.testing.assert_close(b.value, raw, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(b.hl_value_state[0], hl[:, 0], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(b.hl_value_obs[0], hl[:, 1:], rtol=1e-5, atol=1e-4)


def test_reward_shares_and_majority_known_values() -> None:
    from hmasd.agent.hmasd import majority_share, reward_shares
    from hmasd.config import AgentConfig

    cfg = AgentConfig(lambda_e=2.0, lambda_D=0.5, lambda_d=1.0)
    env = torch.tensor([[1.0, -3.0]])  # |2 r| mean 4
    team = torch.tensor([[-2.0, -2.0]])  # |0.5 log q_D| mean 1
    ind = torch.tensor([[[-1.0, -5.0], [-3.0, -3.0]]])  # |1.0 log q_d| mean 3
    t, i = reward_shares(cfg, env, team, ind)
    assert abs(t.item() - 1 / 8) < 1e-7 and abs(i.item() - 3 / 8) < 1e-7
    assert majority_share(torch.tensor([[0, 2], [2, 2]]), 3).item() == 0.75


def test_update_reports_signal_and_staleness_measures() -> None:
    agent = make_agent()
    metrics = agent.update(rollout(agent, T=8, B=3))
    for name in SIGNAL_COLUMNS:  # every measure the sync_metrics export carries
        assert 0.0 <= metrics[f"skills/{name}"] <= 1.0, name
    # A fresh batch: every sample has lag 0 and the learner is the behaviour policy.
    assert metrics["staleness/clipfrac_lag0"] == 0.0
    assert metrics["staleness/approx_kl_lag0"] == 0.0
    assert "staleness/clipfrac_lag1" not in metrics
