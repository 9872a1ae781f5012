"""Shared by the benchmark scripts: a real agent, env and batch at a given config.

The batch comes from the real collector (:class:`hmasd.training.rollout.Collector`), so the
benchmarks time exactly what training runs: the same skill clock, observation sizes and
episode ends, not a synthetic imitation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from hmasd.agent.batch import Batch
from hmasd.agent.hmasd import HMASDAgent
from hmasd.config import Config, derived, load
from hmasd.env.uav_env import UAVBaseStationEnv
from hmasd.training.rollout import Collector, Dims, RolloutBuffer, RunningState


class Setup:
    """An agent, its env, running state and buffer, as one sync run builds them."""

    def __init__(self, cfg: Config, device: torch.device, seed: int = 0) -> None:
        torch.manual_seed(seed)
        t = cfg.train
        self.cfg, self.device = cfg, device
        self.env = UAVBaseStationEnv(cfg.env, t.num_envs, device=device, seed=seed)
        e = self.env
        self.agent = HMASDAgent(cfg.agent, e.n_agents, e.obs_dim, e.state_dim, e.action_dim, device)
        obs, state = e.reset()
        self.rs = RunningState.initial(obs, state, self.agent.initial_hidden(t.num_envs))
        dims = Dims(e.n_agents, e.obs_dim, e.state_dim, e.action_dim, cfg.agent.hidden_dim)
        self.buf = RolloutBuffer(derived(cfg).rollout_len, t.num_envs, dims, device)
        self.collector = Collector(cfg.agent, None)
        self.env_step = 0

    def collect(self) -> Batch:
        """One rollout of ``batch_size`` transitions into the reused buffer."""
        self.env_step = self.collector.collect(
            self.agent, self.env, self.rs, self.buf, self.env_step
        )
        return self.buf.batch()


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Config:
    """A preset or YAML with ``overrides``; checkpoints, evals and exports switched off."""
    return load(name, overrides or {})


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Any, device: torch.device) -> tuple[Any, float]:
    """``fn()`` and its wall seconds (device-synchronised)."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def matmul_gflops(device: torch.device, size: int = 1024, repeats: int = 20) -> float:
    """Sustained fp32 matmul rate (GFLOP/s): the ceiling for the update's dense layers."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - t0) / 1e9


def alternate(
    a: Callable[[], float], b: Callable[[], float], pairs: int, warmup: int = 2
) -> tuple[list[float], list[float]]:
    """Call ``a`` and ``b`` in turn, ``warmup`` untimed pairs and then ``pairs`` kept; each
    returns the seconds it measured. Alternating in one process makes host noise hit both
    sides alike, so their per-pair ratios are steadier than either side's times."""
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for _ in range(pairs):
        times_a.append(a())
        times_b.append(b())
    return times_a, times_b


def ratio_summary(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Median and interquartile range (q1, q3) of the per-pair ratios ``b / a``."""
    ratios = [y / x for x, y in zip(a, b, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), q1, q3
