"""Baseline policies on the same env: ``random``, ``hover`` and ``kmeans``.

- ``random``: uniform actions in [-1, 1]^3 from the policy's own generator.
- ``hover``: zero velocity; the UAVs stay where the episode started.
- ``kmeans``: the classic placement heuristic. At each episode start, batched k-means
  (k = n_uavs, k-means++ init, Lloyd iterations, all envs at once in torch) of the user
  positions; UAVs are matched to centroids greedily (closest remaining pair first) and
  fly towards them at full speed, then hover. The target altitude puts the cluster's RMS
  user radius at Al-Hourani's coverage-optimal elevation angle for ``cfg.environment``
  (``h = r tan(theta*)``), clipped to the altitude bounds. With moving users the centroids
  are refreshed every ``KMEANS_REFRESH`` steps by a few warm-started Lloyd iterations
  (the UAV-centroid matching is kept).

:func:`run_baseline` runs whole episodes of a policy in parallel envs and summarises them,
on the same episodes as the evaluation of a trained agent at the same seed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from hmasd.config import Config, EnvConfig
from hmasd.env.channel import al_hourani_optimal_elevation_deg
from hmasd.env.episodes import eval_env, run_episodes, summarise
from hmasd.env.uav_env import UAVBaseStationEnv
from hmasd.errors import ConfigError

BASELINES = ("random", "hover", "kmeans")

KMEANS_ITERS = 25
"""Lloyd iterations of the episode-start k-means."""
KMEANS_REFRESH = 10
"""Steps between centroid refreshes when users move."""


def kmeans(
    points: Tensor,
    k: int,
    generator: torch.Generator,
    iters: int = KMEANS_ITERS,
    init: Tensor | None = None,
) -> Tensor:
    """Batched k-means of ``points`` (E, N, 2) into ``k`` centroids (E, k, 2).

    k-means++ seeding (a loop over k, vectorised over envs) unless ``init`` centroids are
    given; then ``iters`` Lloyd iterations. An empty cluster keeps its old centroid.
    """
    E, N, _ = points.shape
    dev = points.device
    if init is None:
        first = (torch.rand(E, generator=generator, device=dev) * N).long().clamp_max(N - 1)
        cents = [points[torch.arange(E, device=dev), first]]  # each (E, 2)
        d2 = ((points - cents[0][:, None]) ** 2).sum(-1)  # (E, N)
        for _ in range(1, k):
            weights = d2 + 1e-9  # all-identical points still give a valid distribution
            pick = torch.multinomial(weights, 1, generator=generator)[:, 0]
            c = points[torch.arange(E, device=dev), pick]
            cents.append(c)
            d2 = torch.minimum(d2, ((points - c[:, None]) ** 2).sum(-1))
        centroids = torch.stack(cents, 1)
    else:
        centroids = init.clone()
    for _ in range(iters):
        dist = ((points[:, :, None] - centroids[:, None]) ** 2).sum(-1)  # (E, N, k)
        onehot = torch.nn.functional.one_hot(dist.argmin(-1), k).float()  # (E, N, k)
        counts = onehot.sum(1)  # (E, k)
        sums = torch.bmm(onehot.transpose(1, 2), points)  # (E, k, 2)
        centroids = torch.where(
            counts[..., None] > 0, sums / counts.clamp_min(1.0)[..., None], centroids
        )
    return centroids


def greedy_match(uavs: Tensor, targets: Tensor) -> Tensor:
    """Target index per UAV (E, n): repeatedly pair the closest free UAV and target.

    A loop over the n pairs, vectorised over envs (``uavs``, ``targets``: (E, n, 2)).
    """
    E, n, _ = uavs.shape
    dist = ((uavs[:, :, None] - targets[:, None]) ** 2).sum(-1)  # (E, n_uav, n_target)
    match = torch.zeros(E, n, dtype=torch.long, device=uavs.device)
    rows = torch.arange(E, device=uavs.device)
    for _ in range(n):
        flat = dist.reshape(E, n * n).argmin(-1)
        i, j = flat // n, flat % n
        match[rows, i] = j
        dist[rows, i, :] = math.inf
        dist[rows, :, j] = math.inf
    return match


class BaselinePolicy:
    """A baseline policy for one batched env: ``policy(env) -> actions (B, n, 3)``."""

    def __init__(self, name: str, env: UAVBaseStationEnv, seed: int = 0) -> None:
        if name not in BASELINES:
            raise ConfigError(f"unknown baseline policy {name!r} (allowed: {', '.join(BASELINES)})")
        self.name = name
        self.env = env
        self.generator = torch.Generator(device=env.device)
        self.generator.manual_seed(seed)
        self._targets: Tensor | None = None  # (B, n, 3) kmeans target per UAV
        self._centroids: Tensor | None = None  # (B, n, 2), in the UAVs' order
        cfg = env.cfg
        self._tan = math.tan(math.radians(al_hourani_optimal_elevation_deg(cfg.environment)))

    def __call__(self, env: UAVBaseStationEnv) -> Tensor:
        B, n = env.num_envs, env.n_agents
        if self.name == "hover":
            return torch.zeros(B, n, 3, device=env.device)
        if self.name == "random":
            u = torch.rand(B, n, 3, generator=self.generator, device=env.device)
            return u * 2.0 - 1.0
        return self._kmeans_action(env)

    def _kmeans_action(self, env: UAVBaseStationEnv) -> Tensor:
        cfg = env.cfg
        start = env.t == 0  # (B,) envs at an episode start
        users = env.user_pos
        if self._targets is None:
            start = torch.ones_like(start)
        if bool(start.any()):
            idx = start.nonzero().squeeze(1)
            cents = kmeans(users[idx], env.n_agents, self.generator)
            match = greedy_match(env.uav_pos[idx, :, :2], cents)
            ordered = cents.gather(1, match[..., None].expand(-1, -1, 2))
            if self._targets is None:
                self._centroids = torch.zeros_like(env.uav_pos[..., :2])
                self._targets = torch.zeros_like(env.uav_pos)
            self._centroids[idx] = ordered
            self._targets[idx] = self._target_positions(users[idx], ordered)
        elif cfg.user_mobility == "random_waypoint" and bool((env.t % KMEANS_REFRESH == 0).all()):
            assert self._centroids is not None
            self._centroids = kmeans(
                users, env.n_agents, self.generator, iters=3, init=self._centroids
            )
            self._targets = self._target_positions(users, self._centroids)
        assert self._targets is not None
        step = cfg.max_speed_mps * cfg.dt_s
        return ((self._targets - env.uav_pos) / step).clamp(-1.0, 1.0)

    def _target_positions(self, users: Tensor, centroids: Tensor) -> Tensor:
        """(E, n, 3): centroid xy and the altitude covering its users' RMS radius."""
        cfg = self.env.cfg
        dist2 = ((users[:, :, None] - centroids[:, None]) ** 2).sum(-1)  # (E, N, n)
        onehot = torch.nn.functional.one_hot(dist2.argmin(-1), centroids.shape[1]).float()
        counts = onehot.sum(1).clamp_min(1.0)
        rms = ((dist2 * onehot).sum(1) / counts).sqrt()  # (E, n)
        alt = (rms * self._tan).clamp(cfg.min_altitude_m, cfg.max_altitude_m)
        return torch.cat([centroids, alt[..., None]], -1)


def run_baseline(
    cfg: EnvConfig | Config,
    policy: str,
    episodes: int,
    seed: int,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Run ``episodes`` full episodes of a baseline policy, all in parallel.

    ``cfg`` is the env config (a whole :class:`Config` is accepted: its ``env`` is used).
    The envs come from :func:`~hmasd.env.episodes.eval_env` (``seed``'s evaluation
    stream), so episode ``i`` matches episode ``i`` of ``hmasd eval`` at the same seed; the
    policy's own generator is seeded with ``seed + 1``. Returns the summary of
    :func:`~hmasd.env.episodes.summarise` plus ``policy``.
    """
    if isinstance(cfg, Config):
        cfg = cfg.env
    if policy not in BASELINES:
        raise ConfigError(f"unknown baseline policy {policy!r} (allowed: {', '.join(BASELINES)})")
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"episodes must be a positive int, got {episodes!r}")
    env = eval_env(cfg, episodes, seed, device)
    pol = BaselinePolicy(policy, env, seed=seed + 1)
    per_env = run_episodes(env, lambda: env.step(pol(env)))
    return {"policy": policy, **summarise(per_env)}
