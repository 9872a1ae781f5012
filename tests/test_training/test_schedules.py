"""Sync is strictly on-policy (proved on every batch the agent trains on); async is stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hmasd.agent.batch import Batch
from hmasd.agent.hmasd import HMASDAgent
from hmasd.config import derived
from hmasd.errors import TrainingError
from hmasd.seeding import GROUP_STREAM, derive_seed
from hmasd.training.async_ import AsyncSchedule
from hmasd.training.checkpoint import final_path, load_checkpoint
from hmasd.training.evaluate import make_env
from hmasd.training.rollout import Collector, Dims
from hmasd.training.trainer import batch_lag, train

from .helpers import assert_same_state, clone_batch, recording_agent, tiny_config


def assert_whole_windows(b: Batch, k: int) -> None:
    """Every sequence of ``b`` holds whole skill windows: decisions exactly at t % k == 0
    (our envs start and end episodes together, and T, max_steps are multiples of k), the
    stored skills constant inside each window, and no high-level row off a decision."""
    T = b.obs.shape[0]
    assert T % k == 0
    expected = (torch.arange(T) % k == 0)[:, None].expand_as(b.decision)
    assert torch.equal(b.decision, expected)
    inside = ~b.decision[1:]
    assert bool((b.team_skill[1:] == b.team_skill[:-1])[inside].all())
    assert bool((b.ind_skill[1:] == b.ind_skill[:-1]).all(-1)[inside].all())
    assert bool((b.hl_logp[~b.decision] == 0).all())


def test_batch_lag_known_values() -> None:
    versions = torch.tensor([[3, 3], [2, 1]])
    stale, mean_lag, max_lag = batch_lag(versions, current=3)
    assert (stale, mean_lag, max_lag) == (0.5, 0.75, 2)
    assert batch_lag(torch.full((4, 2), 5), current=5) == (0.0, 0.0, 0)


def test_async_refresh_is_staggered() -> None:
    sched = AsyncSchedule.__new__(AsyncSchedule)
    sched.G = 4
    # One refresh per round, each round the next group: snapshots 0..3 versions old.
    assert [sched.refreshed_group(r) for r in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]


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
        # Every high-level decision in the batch came from v too: the rollout holds whole
        # windows, the first chosen at its step 0.
        assert_whole_windows(b, cfg.agent.skill_interval)
        assert bool((b.hl_version[b.decision] == v).all())
        assert bool((b.hl_version[~b.decision] == -1).all())
    assert summary["mean_stale_fraction"] == 0.0 and summary["max_lag"] == 0
    rows = json.loads((run_dir / "train_summary.json").read_text())
    assert rows["updates"] == d.num_updates


def test_async_trains_on_stale_samples_sync_does_not(tmp_path: Path) -> None:
    cfg = tiny_config()
    agent_cls = recording_agent()
    summary = train(cfg, "async", 0, tmp_path / "a", agent_cls=agent_cls)
    d = derived(cfg)
    lags = []
    for v, b in agent_cls.seen:
        assert b.num_steps == cfg.train.batch_size
        # Turns last a whole rollout, as in sync: the same GAE horizon and whole windows.
        assert b.obs.shape[:2] == (d.rollout_len, cfg.train.num_envs)
        assert_whole_windows(b, cfg.agent.skill_interval)
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


def test_async_with_one_group_is_sync_bit_for_bit(tmp_path: Path) -> None:
    """The invariant that makes the comparison clean: async with one group (no lag) gives
    the same weights, optimiser states and evaluations as sync, bit for bit on CPU; so
    the two modes differ in staleness and in nothing else."""
    cfg = tiny_config(train={"async_groups": 1})
    sync = train(cfg, "sync", 3, tmp_path / "s")
    asyn = train(cfg, "async", 3, tmp_path / "a")
    a = load_checkpoint(final_path(tmp_path / "s", "sync"))
    b = load_checkpoint(final_path(tmp_path / "a", "async"))
    assert_same_state(a["agent"], b["agent"])
    assert asyn["max_lag"] == 0 and asyn["mean_stale_fraction"] == 0.0
    assert sync["final_eval"] == asyn["final_eval"]
    # The control: with two groups the same seed trains on stale data and ends elsewhere.
    train(tiny_config(), "async", 3, tmp_path / "a2")
    c = load_checkpoint(final_path(tmp_path / "a2", "async"))
    with pytest.raises(AssertionError):
        assert_same_state(a["agent"]["modules"], c["agent"]["modules"])


class RecordingCollector(Collector):
    """Keeps a copy of every rollout it collects."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rollouts: list[Batch] = []

    def collect(self, policies, env, rs, buf, env_step):  # type: ignore[no-untyped-def]
        env_step = super().collect(policies, env, rs, buf, env_step)
        self.rollouts.append(clone_batch(buf.batch()))
        return env_step


def test_async_trains_on_everything_it_collects_once_each_group_on_its_snapshot() -> None:
    """What the updates consume is disjoint and covers everything the groups collected,
    in order; each group's rows carry the version of the snapshot that acted there."""
    cfg = tiny_config(train={"async_groups": 2})
    d = derived(cfg)
    dev = torch.device("cpu")
    env = make_env(cfg.env, cfg.train.num_envs, dev, derive_seed(0, GROUP_STREAM))
    torch.manual_seed(0)
    agent = HMASDAgent(cfg.agent, env.n_agents, env.obs_dim, env.state_dim, env.action_dim, dev)
    dims = Dims(env.n_agents, env.obs_dim, env.state_dim, env.action_dim, cfg.agent.hidden_dim)
    col = RecordingCollector(cfg.agent, None)
    sched = AsyncSchedule(agent, env, col, 2, d.rollout_len, dims, dev)
    consumed, step = [], 0
    for _ in range(4):
        snapshot_versions_before = None
        batch, step = sched.next_batch(step)
        snapshot_versions_before = sched.snapshot_versions()
        # Group g's rows (envs 0-1, 2-3) were stamped with group g's snapshot version.
        for g, rows in enumerate(sched.rows):
            assert bool((batch.version[:, rows] == snapshot_versions_before[g]).all())
        consumed.append(clone_batch(batch))
        agent.update(batch)
    assert step == sum(r.num_steps for r in col.rollouts) == 4 * cfg.train.batch_size
    lags = [int(agent.policy_version) - 1 - int(b.version.min()) for b in consumed]
    assert max(lags) >= 1  # a group trained on data of an older snapshot

    def sequences(batches: list[Batch]) -> list[bytes]:
        return [
            b.obs[:, i].numpy().tobytes() + b.action[:, i].numpy().tobytes()
            for b in batches
            for i in range(b.obs.shape[1])
        ]

    got, want = sequences(consumed), sequences(col.rollouts)
    assert len(set(got)) == len(got)  # disjoint: no sequence trained twice
    assert got == want  # covering, in order


def test_impossible_window_schedules_are_config_errors() -> None:
    from hmasd.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'train.batch_size' / 'train.num_envs'.*skill_interval"):
        tiny_config(agent={"skill_interval": 3})
    with pytest.raises(ConfigError, match=r"'env.max_steps' \(18\).*'agent.skill_interval' \(4\)"):
        tiny_config(env={"max_steps": 18})


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
    cfg = tiny_config(train={"total_env_steps": 64})
    finals = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(cfg, "sync", seed, tmp_path / name)
        finals[name] = load_checkpoint(final_path(tmp_path / name, "sync"))["agent"]
    assert_same_state(finals["a"], finals["b"])
    with pytest.raises(AssertionError):
        assert_same_state(finals["a"], finals["c"])
