"""Sync is strictly on-policy (proved on every batch the agent trains on); async is stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hmasd.agent.batch import Batch
from hmasd.config import derived
from hmasd.errors import TrainingError
from hmasd.training import train
from hmasd.training.async_ import AsyncSchedule, slice_sequences
from hmasd.training.trainer import batch_lag

from .helpers import assert_same_state, recording_agent, tiny_config


def test_batch_lag_known_values() -> None:
    versions = torch.tensor([[3, 3], [2, 1]])
    stale, mean_lag, max_lag = batch_lag(versions, current=3)
    assert (stale, mean_lag, max_lag) == (0.5, 0.75, 2)
    assert batch_lag(torch.full((4, 2), 5), current=5) == (0.0, 0.0, 0)


def test_async_refresh_is_staggered() -> None:
    sched = AsyncSchedule.__new__(AsyncSchedule)
    sched.G = 4
    refreshed = [t for t in range(16) if sched.refreshes(t)]
    # One refresh per round (4 turns), each round a different group.
    assert refreshed == [0, 5, 10, 15]
    assert sorted(t % 4 for t in refreshed) == [0, 1, 2, 3]


def test_sync_every_batch_is_one_version(run_dir: Path) -> None:
    cfg = tiny_config()
    agent_cls = recording_agent()
    summary = train(cfg, "sync", 0, run_dir, agent_cls=agent_cls)
    d = derived(cfg)
    assert [v for v, _ in agent_cls.seen] == list(range(d.num_updates))
    for v, b in agent_cls.seen:
        assert b.obs.shape[:2] == (d.rollout_len, cfg.train.num_envs)
        assert b.num_steps == cfg.train.batch_size
        assert bool((b.version == v).all())
        # Every high-level decision in the batch came from v too; the window restarts at
        # step 0 of each rollout, so the batch holds no decision of an older version.
        assert bool(b.decision[0].all())
        assert bool((b.hl_version[b.decision] == v).all())
        assert bool((b.hl_version[~b.decision] == -1).all())
        assert bool((b.hl_logp[~b.decision] == 0).all())
        # The stored skills are the ones acted on: constant within each window.
        assert bool((b.team_skill[1:] == b.team_skill[:-1])[~b.decision[1:]].all())
    assert summary["mean_stale_fraction"] == 0.0 and summary["max_lag"] == 0
    rows = json.loads((run_dir / "train_summary.json").read_text())
    assert rows["updates"] == d.num_updates


def test_async_trains_on_stale_samples_sync_does_not(tmp_path: Path) -> None:
    cfg = tiny_config()
    agent_cls = recording_agent()
    summary = train(cfg, "async", 0, tmp_path / "a", agent_cls=agent_cls)
    lags = []
    for v, b in agent_cls.seen:
        assert b.num_steps == cfg.train.batch_size
        assert b.obs.shape[0] == cfg.train.async_chunk_steps
        assert bool((b.version <= v).all()) and bool((b.version >= 0).all())
        # One segment = one snapshot: a sequence has one version throughout.
        assert bool((b.version == b.version[0]).all())
        hl = b.hl_version[b.decision]
        assert bool((hl >= 0).all()) and bool((hl <= v).all())
        lags.append(v - b.version)
    assert max(int(lag.max()) for lag in lags) >= 1
    assert summary["mean_stale_fraction"] > 0 and summary["max_lag"] >= 1
    stale = torch.cat([(lag > 0).flatten() for lag in lags]).float().mean().item()
    assert summary["mean_stale_fraction"] == pytest.approx(stale)


def test_async_split_segments_lose_nothing(tmp_path: Path) -> None:
    # batch 12 = one 8-transition segment plus one env sequence (4 steps) of the next.
    cfg = tiny_config(train={"batch_size": 12, "total_env_steps": 36})
    agent_cls = recording_agent()
    summary = train(cfg, "async", 1, tmp_path / "a", agent_cls=agent_cls)
    shapes = [tuple(b.obs.shape[:2]) for _, b in agent_cls.seen]
    assert shapes == [(4, 3)] * 3
    assert [tuple(b.hidden0.shape[:1]) for _, b in agent_cls.seen] == [(3,)] * 3
    assert summary["env_steps"] == 40  # 5 segments collected, 36 consumed, 4 left in the FIFO
    whole = agent_cls.seen[0][1]
    part = slice_sequences(whole, 1, 3)
    assert torch.equal(part.obs, whole.obs[:, 1:3])
    assert torch.equal(part.last_state, whole.last_state[1:3])


def test_nan_loss_stops_with_one_line(run_dir: Path) -> None:
    base = recording_agent()

    class NaNAgent(base):  # type: ignore[misc, valid-type]
        def update(self, batch: Batch) -> dict[str, float]:
            if self.policy_version == 1:
                batch.reward.fill_(float("nan"))
                batch.env_reward.fill_(float("nan"))
            return super().update(batch)

    with pytest.raises(TrainingError) as exc:
        train(tiny_config(), "sync", 0, run_dir, agent_cls=NaNAgent)
    msg = str(exc.value)
    assert "\n" not in msg and "nan" in msg.lower()
    assert "2" in msg  # names the update
    assert not (run_dir / "train_summary.json").exists()


def test_same_seed_same_weights_other_seed_differs(tmp_path: Path) -> None:
    from hmasd.training.checkpoint import final_path, load_checkpoint

    cfg = tiny_config(train={"total_env_steps": 64})
    finals = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(cfg, "sync", seed, tmp_path / name)
        finals[name] = load_checkpoint(final_path(tmp_path / name, "sync"))["agent"]
    assert_same_state(finals["a"], finals["b"])
    with pytest.raises(AssertionError):
        assert_same_state(finals["a"], finals["c"])
