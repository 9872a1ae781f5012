"""Helpers shared by the training tests: tiny real configs, a recording agent, state equality."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch

from hmasd import config as C
from hmasd.agent.batch import Batch

# 3 updates of 32 transitions (4 envs x 8 steps, k = 4); async: 2 groups of 2 envs, 8-step
# turns (16 transitions per segment).
TINY = {
    "env": {"max_steps": 16, "n_users": 12},
    "agent": {"ppo_epochs": 1, "hidden_dim": 32, "skill_interval": 4},
    "train": {
        "num_envs": 4,
        "batch_size": 32,
        "total_env_steps": 96,
        "async_groups": 2,
        "checkpoint_interval": 32,
        "eval_interval": 64,
        "eval_episodes": 2,
        "device": "cpu",
    },
    "tracking": {"export_interval": 32, "progress_figure": False},
}


def tiny_config(**overrides: dict[str, Any]) -> C.Config:
    return C.load("smoke", C.merge(TINY, overrides))


def clone_batch(batch: Batch) -> Batch:
    return Batch(**{f.name: getattr(batch, f.name).clone() for f in fields(Batch)})


def recording_agent() -> type:
    """A subclass of the real agent that keeps (version, copy) of every batch it trains on.

    Each call gives a fresh class, so runs do not share records; the records live on the
    class because the trainer builds the instance.
    """
    from hmasd.agent import HMASDAgent

    class RecordingAgent(HMASDAgent):
        seen: list[tuple[int, Batch]] = []

        def update(self, batch: Batch) -> dict[str, float]:
            type(self).seen.append((int(self.policy_version), clone_batch(batch)))
            return super().update(batch)

    RecordingAgent.seen = []
    return RecordingAgent


def assert_same_state(a: object, b: object, where: str = "agent") -> None:
    """Exact equality of nested state dicts (tensors compared bit for bit)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where
