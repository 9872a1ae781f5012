"""Batched multi-UAV aerial base-station environment in torch.

``B`` independent envs advance in one :meth:`UAVBaseStationEnv.step` call; envs, UAVs and
users are tensor dimensions (no Python loop over them). See :class:`UAVBaseStationEnv`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from hmasd.config import EnvConfig, check_env
from hmasd.env.radio import METRICS, Radio, RadioModel
from hmasd.errors import CheckpointError, ConfigError

HOTSPOT_FRACTION = 0.7
"""``hotspot`` layout: share of users in the hotspots (the rest uniform)."""

CLUSTER_CENTRE_STD = 0.08
"""``clustered`` layout: std of the cluster centres around the area centre, x area size."""


class StepResult(NamedTuple):
    """What :meth:`UAVBaseStationEnv.step` returns (``B`` = num_envs, ``n`` = n_agents)."""

    obs: Tensor
    """(B, n, obs_dim) observations after the auto-reset of done envs."""
    state: Tensor
    """(B, state_dim) global state after the auto-reset of done envs."""
    reward: Tensor
    """(B,) team reward of this step."""
    done: Tensor
    """(B,) bool: the episode hit ``max_steps`` (a time-limit truncation)."""
    terminal_obs: Tensor
    """(B, n, obs_dim) observation reached by this step, before any reset."""
    terminal_state: Tensor
    """(B, state_dim) state reached by this step, before any reset."""
    metrics: dict[str, Tensor]
    """Per-step metrics, each (B,) float32 (names in :data:`METRICS`)."""
    episode: dict[str, Tensor]
    """Episode means of the metrics plus ``return`` and ``length``, each (B,); valid where done."""


def _env_indices(env_index: int | Tensor | None, num_envs: int, device: torch.device) -> Tensor:
    """Normalise ``reset``'s ``env_index`` to a LongTensor of env indices on ``device``."""
    if isinstance(env_index, Tensor):
        idx = env_index.to(device)
        if idx.dtype == torch.bool:
            return idx.nonzero().squeeze(1)
        return idx.long().reshape(-1)
    if isinstance(env_index, int) and not isinstance(env_index, bool):
        if not -num_envs <= env_index < num_envs:
            raise IndexError(f"env_index {env_index} out of range for {num_envs} envs")
        return torch.tensor([env_index % num_envs], device=device)
    raise TypeError(f"env_index must be None, an int or a tensor, got {type(env_index).__name__}")


class UAVBaseStationEnv:
    """``num_envs`` independent multi-UAV base-station envs stepped together.

    Dynamics: each UAV's action is a 3-D velocity in [-1, 1]^3 (clipped), scaled by
    ``max_speed_mps``; positions are clipped to the ``area_size_m`` square and to
    [``min_altitude_m``, ``max_altitude_m``]. Users stand on the ground (height 0) and are
    static or follow random waypoints drawn from their own layout component (so a clustered
    layout stays clustered). Layouts (:meth:`_sample_layout`): ``clustered`` is a city
    around the base station (cluster centres near the area centre), ``hotspot`` scattered
    hotspots over a uniform background, ``uniform``. UAVs take off near the centre (square
    of half-width ``start_spread_m``, lowest altitude) or start at random
    (``uav_start``). An episode lasts ``max_steps`` steps; done envs reset automatically
    inside :meth:`step`.

    Radio, per step: mean path loss of ``channel_model`` (:mod:`hmasd.env.channel`) gives
    the received power of every UAV at every user; each user attaches to its strongest UAV,
    and every other UAV's received power is interference (all UAVs share the band):
    ``SINR = P_best / (sum_other P + noise)``. A user is a candidate when SINR >=
    ``sinr_threshold_db``; each UAV serves its ``max_users_per_uav`` strongest candidates,
    sharing its bandwidth equally: ``rate = bandwidth / n_served(uav) * log2(1 + SINR)``.

    ``cooperative_network``: a ground base station stands at the area centre,
    ``BS_HEIGHT_M`` high (:mod:`hmasd.env.radio` computes everything in this paragraph and
    the next). UAV-UAV and UAV-BS links exist up to ``backhaul_range_m`` (3-D); a UAV's
    hop count is its shortest path to the BS (BFS up to ``max_hops``). A UAV with no path
    serves nobody. Backhaul model: every link carries ``backhaul_rate_mbps`` and relays
    are half-duplex on one band, so an h-hop path delivers at most ``backhaul_rate_mbps / h``
    (relays' shared load is ignored); a UAV's throughput is ``min(access, that cap)``, and
    its users' rates are scaled down by the same factor.

    Metrics (each (B,), per step; ``out.episode`` holds their episode means):
    ``throughput_mbps`` (sum of served rates), ``connected_users`` (served users, counting
    only UAVs with a backhaul path), ``coverage`` (connected_users / n_users),
    ``mean_sinr_db`` (mean dB SINR of the connected users; if none, the mean over all users
    of their best-link SINR, which is then below the threshold), ``fairness`` (Jain's index
    over all users' rates, 0 when nobody is served), ``connectivity_ratio`` (share of UAVs
    with a path; 1 for ``base_station``) and ``mean_hops`` (mean hops of connected UAVs, 0 if
    none; 1 for ``base_station``).

    Team reward (per step, O(1))::

        r = w_coverage * coverage
          + w_sinr * clip((mean_sinr_db + 10) / 40, 0, 1)
          + w_throughput * min(throughput_mbps / T_ref, 1)
          [cooperative_network only:]
          + w_connectivity * connectivity_ratio - w_hops * mean_hops / max_hops

    with ``T_ref = n_uavs * bandwidth_mbps * log2(1 + 10^(REFERENCE_SINR_DB / 10))`` (every
    UAV using its whole band at 30 dB). With default weights r is in [0, 1.7]
    (``base_station``) or [-0.1, 2.2] (``cooperative_network``).

    Observations (all in [-1, 1]), agent ``i``, ``obs_dim`` = 6 + 3 (n - 1) + U + 1:
    own position scaled to [-1, 1] per axis; own velocity over the last step as a share
    of the maximum speed per axis (the applied action; 0 at an episode start and where a
    wall stopped the UAV), which makes how a UAV moves, not only where it is, part of
    what it and the discriminator q_d(z_i | o_i') see; other UAVs' positions relative to own
    (dx/area, dy/area, dz/altitude span), in UAV order skipping ``i``; the users (U, by
    ``user_obs``); the step fraction t / max_steps. Users:

    - ``nearest`` (agent-centric): the ``nearest_users`` closest users as (dx, dy, served by
      me, served by anyone), then the UAV's own served count and SINR (U = 4 M + 2);
    - ``egocentric`` (agent-centric): user and unserved-user density maps centred on the
      UAV, then the own served count and SINR (U = 2 G^2 + 2); see :meth:`_agent_view`;
    - ``density_map`` (shared): the area's user density map, ``density_map_size``^2 cells
      of ``log1p(count) / log1p(n_users)``, the same for every agent (U = G^2);
    - ``relative`` (shared): every user's (dx/area, dy/area), in user order (U = 2 n_users).

    Global state, ``state_dim`` = 6 n + U' + 1: all UAV positions scaled to [-1, 1] and their
    velocities, users
    (``relative``: positions scaled to [-1, 1], U' = 2 n_users; otherwise the density map,
    U' = G^2, plus every UAV's served count and SINR for the agent-centric views), step
    fraction. The step fraction makes the time limit part of the state: an episode end is
    a true terminal of this finite-horizon task (see :mod:`hmasd.agent.ppo`).

    Randomness comes only from the env's own ``torch.Generator`` (on ``device``), seeded by
    ``seed``, so policy sampling never shifts layouts; :meth:`state_dict` captures it for an
    exact resume.
    """

    action_dim = 3

    def __init__(
        self,
        cfg: EnvConfig,
        num_envs: int,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        check_env(cfg)
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ConfigError(f"num_envs must be a positive int, got {num_envs!r}")
        self.cfg = cfg
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.seed = int(seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)

        n, K = cfg.n_uavs, cfg.n_users
        self.n_agents = n
        self.n_users = K
        self._user_obs = cfg.user_obs
        self._agent_centric = cfg.user_obs in ("nearest", "egocentric")
        self._moving = cfg.user_mobility == "random_waypoint"
        G = cfg.density_map_size
        self._nearest = min(cfg.nearest_users, K)
        obs_users = {
            "relative": 2 * K,
            "density_map": G * G,
            "nearest": 4 * self._nearest + 2,
            "egocentric": 2 * G * G + 2,
        }[cfg.user_obs]
        state_users = {"relative": 2 * K, "density_map": G * G}.get(cfg.user_obs, G * G + 2 * n)
        self.obs_dim = 6 + 3 * (n - 1) + obs_users + 1
        self.state_dim = 6 * n + state_users + 1

        dev, f32 = self.device, torch.float32
        A = float(cfg.area_size_m)
        self._lo = torch.tensor([0.0, 0.0, cfg.min_altitude_m], device=dev)
        self._hi = torch.tensor([A, A, cfg.max_altitude_m], device=dev)
        span = torch.tensor([A, A, max(cfg.max_altitude_m - cfg.min_altitude_m, 1e-6)], device=dev)
        self._span = span  # position -> [-1, 1] as (p - lo) / span * 2 - 1 (exact bounds)
        self._speed = cfg.max_speed_mps * cfg.dt_s

        B = num_envs
        self.uav_pos = torch.zeros(B, n, 3, device=dev, dtype=f32)
        self.uav_vel = torch.zeros(B, n, 3, device=dev, dtype=f32)  # share of max speed
        self.user_pos = torch.zeros(B, K, 2, device=dev, dtype=f32)
        self.user_target = torch.zeros(B, K, 2, device=dev, dtype=f32)
        self.user_anchor = torch.zeros(B, K, 2, device=dev, dtype=f32)
        self.user_spread = torch.zeros(B, K, device=dev, dtype=f32)  # < 0: uniform
        self.t = torch.zeros(B, dtype=torch.long, device=dev)
        # Step at which each env's current episode began: 0, except for the first episode
        # of an env started mid-episode by start_at (training's staggered phases).
        self.t0 = torch.zeros(B, dtype=torch.long, device=dev)
        self.ep_return = torch.zeros(B, device=dev, dtype=f32)
        self.ep_metrics = torch.zeros(len(METRICS), B, device=dev, dtype=f32)
        self._density = torch.zeros(B, G * G, device=dev, dtype=f32)
        self._uxy = torch.zeros(B, 2, K, device=dev, dtype=f32)  # users, (x, y)-major copy
        self.radio = RadioModel(cfg, B, dev)
        # Host-side upper bound on max(t): lets step skip the done check (a device sync
        # on CUDA) until some env can actually have reached max_steps.
        self._max_t = 0
        self.reset()

    # ------------------------------------------------------------------------------
    # Sampling (all through self.generator)

    def _rand(self, *shape: int) -> Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _randn(self, *shape: int) -> Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def _sample_layout(self, E: int) -> tuple[Tensor, Tensor]:
        """Anchors (E, K, 2) and spreads (E, K) of the users' layout components.

        ``uniform``: spread -1 (uniform over the area). ``clustered``: a city around the
        base station: ``n_clusters`` centres drawn around the area centre (Gaussian, std
        ``CLUSTER_CENTRE_STD * area``, clipped to the middle 80%), each user in a random
        cluster with std ``cluster_std_m``. ``hotspot``: ``n_clusters`` hotspots uniform in
        the middle 80% of the area holding ``HOTSPOT_FRACTION`` of the users (std
        ``cluster_std_m / 2``), the rest uniform.
        """
        cfg, K, A = self.cfg, self.n_users, self.cfg.area_size_m
        spread = torch.full((E, K), -1.0, device=self.device)
        anchor = torch.full((E, K, 2), A / 2, device=self.device)
        if cfg.user_layout == "uniform":
            return anchor, spread
        C = cfg.n_clusters
        if cfg.user_layout == "clustered":
            centres = A / 2 + (CLUSTER_CENTRE_STD * A) * self._randn(E, C, 2)
            centres = centres.clamp_(0.1 * A, 0.9 * A)
        else:
            centres = (0.1 + 0.8 * self._rand(E, C, 2)) * A
        member = (self._rand(E, K) * C).long().clamp_max(C - 1)
        anchor = centres.gather(1, member[..., None].expand(E, K, 2))
        if cfg.user_layout == "clustered":
            spread.fill_(cfg.cluster_std_m)
        else:
            hot = self._rand(E, K) < HOTSPOT_FRACTION
            spread = torch.where(hot, 0.5 * cfg.cluster_std_m, -1.0)
        return anchor, spread

    def _sample_points(self, anchor: Tensor, spread: Tensor) -> Tensor:
        """One point per user from its layout component, clipped to the area. (E, K, 2)."""
        A = self.cfg.area_size_m
        uni = self._rand(*anchor.shape) * A
        gauss = anchor + self._randn(*anchor.shape) * spread[..., None]
        return torch.where(spread[..., None] < 0, uni, gauss).clamp_(0.0, A)

    def _sample_uavs(self, E: int) -> Tensor:
        """UAV start positions (E, n, 3).

        ``center``: uniform in the square of half-width ``start_spread_m`` around the area
        centre, at the lowest altitude (they take off near the base station).
        ``random``: uniform over the area and the altitude band.
        """
        cfg, A = self.cfg, self.cfg.area_size_m
        if cfg.uav_start == "random":
            return self._lo + self._rand(E, self.n_agents, 3) * (self._hi - self._lo)
        s = cfg.start_spread_m
        xy = (A / 2 - s + 2 * s * self._rand(E, self.n_agents, 2)).clamp_(0.0, A)
        z = torch.full((E, self.n_agents, 1), cfg.min_altitude_m, device=self.device)
        return torch.cat([xy, z], -1)

    def _density_map(self, users: Tensor) -> Tensor:
        """Users per cell of a G x G grid over the area, scaled to [0, 1]. (E, G*G)."""
        G, A = self.cfg.density_map_size, self.cfg.area_size_m
        E = users.shape[0]
        cell = (users * (G / A)).long().clamp_(0, G - 1)
        flat = cell[..., 1] * G + cell[..., 0]
        flat = flat + torch.arange(E, device=self.device)[:, None] * (G * G)
        counts = torch.bincount(flat.reshape(-1), minlength=E * G * G).reshape(E, G * G)
        return torch.log1p(counts.float()) / math.log1p(self.n_users)

    # ------------------------------------------------------------------------------
    # Reset

    def reset(self, env_index: int | Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Start new episodes in all envs (``None``) or only those in ``env_index``.

        ``env_index``: an int, a LongTensor of indices or a (B,) bool mask. Other envs are
        left exactly as they were. Returns ``(obs (B, n, obs_dim), state (B, state_dim))``
        for all envs.
        """
        if env_index is None:
            self._reset_all()
        else:
            self._reset_idx(_env_indices(env_index, self.num_envs, self.device))
        return self._observe()

    def observe(self) -> tuple[Tensor, Tensor]:
        """``(obs (B, n, obs_dim), state (B, state_dim))`` of the current positions, without
        stepping or resetting anything."""
        return self._observe()

    def start_at(self, steps: Tensor) -> tuple[Tensor, Tensor]:
        """Set each env's episode clock to ``steps`` (B,) long, in ``[0, max_steps)``: env
        ``b``'s current episode then ends after ``max_steps - steps[b]`` more steps, and its
        observations carry the step fraction of that clock. Training staggers its envs
        this way so that one rollout holds every phase of the episode
        (:func:`hmasd.training.rollout.phase_offsets`); evaluation never does. Returns
        ``(obs, state)`` under the new clocks.
        """
        steps = torch.as_tensor(steps, dtype=torch.long, device=self.device)
        if steps.shape != self.t.shape or bool(((steps < 0) | (steps >= self.cfg.max_steps)).any()):
            raise ValueError(
                f"start_at needs ({self.num_envs},) steps in [0, {self.cfg.max_steps}), got "
                f"{tuple(steps.shape)}"
            )
        self.t.copy_(steps)
        self.t0.copy_(steps)
        self._max_t = int(self.t.max())
        return self._observe()

    def _reset_all(self) -> None:
        B = self.num_envs
        anchor, spread = self._sample_layout(B)
        self.user_anchor.copy_(anchor)
        self.user_spread.copy_(spread)
        self.user_pos.copy_(self._sample_points(anchor, spread))
        self.user_target.copy_(self._sample_points(anchor, spread))
        self.uav_pos.copy_(self._sample_uavs(B))
        self.uav_vel.zero_()
        self.t.zero_()
        self.t0.zero_()
        self.ep_return.zero_()
        self.ep_metrics.zero_()
        self._density.copy_(self._density_map(self.user_pos))
        self._uxy.copy_(self.user_pos.transpose(1, 2))
        self._max_t = 0

    def _reset_idx(self, idx: Tensor) -> None:
        E = int(idx.numel())
        if E == 0:
            return
        anchor, spread = self._sample_layout(E)
        self.user_anchor[idx] = anchor
        self.user_spread[idx] = spread
        users = self._sample_points(anchor, spread)
        self.user_pos[idx] = users
        self.user_target[idx] = self._sample_points(anchor, spread)
        self.uav_pos[idx] = self._sample_uavs(E)
        self.uav_vel[idx] = 0.0
        self.t[idx] = 0
        self.t0[idx] = 0
        self.ep_return[idx] = 0.0
        self.ep_metrics[:, idx] = 0.0
        self._density[idx] = self._density_map(users)
        self._uxy[idx] = users.transpose(1, 2)

    def set_positions(
        self, uav_pos: Tensor | None = None, user_pos: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Place UAVs (B, n, 3) and/or users (B, K, 2) by hand (scripted scenarios, tests).

        Positions are clipped to the area and altitude bounds; moving users keep their
        waypoints. Returns the new ``(obs, state)``.
        """
        if uav_pos is not None:
            self.uav_pos.copy_(torch.maximum(torch.minimum(uav_pos, self._hi), self._lo))
        if user_pos is not None:
            self.user_pos.copy_(user_pos.clamp(0.0, self.cfg.area_size_m))
            self._uxy.copy_(self.user_pos.transpose(1, 2))
            self._density.copy_(self._density_map(self.user_pos))
        return self._observe()

    # ------------------------------------------------------------------------------
    # Observation

    def _observe(self, radio: Radio | None = None) -> tuple[Tensor, Tensor]:
        """Observations (B, n, obs_dim) and state (B, state_dim) of the current positions.

        ``radio``: the radio outcome of the current positions when the caller has it
        (:meth:`step`); the agent-centric views compute it otherwise (resets).
        """
        B, n, K = self.num_envs, self.n_agents, self.n_users
        # Division (not a folded scale) keeps the bounds exact: x <= hi => (x-lo)/span <= 1.
        pos = (self.uav_pos - self._lo).div_(self._span).mul_(2.0).sub_(1.0)  # (B, n, 3)
        # Pairwise offsets without the diagonal: dropping element 0 of the flattened
        # (n, n) matrix leaves rows of n + 1 whose last entry is the next diagonal one.
        pair = (pos[:, None] - pos[:, :, None]).reshape(B, n * n, 3)
        rel = pair[:, 1:].reshape(B, n - 1, n + 1, 3)[:, :, :n].reshape(B, n, n - 1, 3) * 0.5
        frac = (self.t.float() / self.cfg.max_steps)[:, None]  # (B, 1)
        if self._user_obs == "relative":
            if radio is None:
                dx = self.user_pos[:, None, :, 0] - self.uav_pos[..., 0:1]
                dy = self.user_pos[:, None, :, 1] - self.uav_pos[..., 1:2]
            else:
                dx, dy = radio.dx, radio.dy
            users_obs = torch.stack([dx, dy], -1).reshape(B, n, 2 * K) / self.cfg.area_size_m
            users_state = (self.user_pos / self.cfg.area_size_m * 2.0 - 1.0).reshape(B, 2 * K)
        elif self._user_obs == "density_map":
            users_state = self._density
            users_obs = self._density[:, None].expand(B, n, self._density.shape[1])
        else:
            if radio is None:
                radio = self.radio(self.uav_pos, self._uxy)
            users_obs, own = self._agent_view(radio)
            users_state = torch.cat([self._density, own.reshape(B, 2 * n)], -1)
        vel = self.uav_vel
        obs = torch.cat(
            [pos, vel, rel.reshape(B, n, -1), users_obs, frac[:, None].expand(B, n, 1)], -1
        )
        state = torch.cat([pos.reshape(B, -1), vel.reshape(B, -1), users_state, frac], -1)
        return obs, state

    def _agent_view(self, radio: Radio) -> tuple[Tensor, Tensor]:
        """Agent-centric user features (B, n, U) and own link stats (B, n, 2).

        Own stats: served users / ``max_users_per_uav`` and the mean SINR of the served
        users scaled as in the reward (``(dB + 10) / 40`` clipped to [0, 1]; 0 if none).
        ``nearest``: the M closest users by horizontal distance, nearest first, each as
        (dx, dy) / (area / 2) clipped to [-1, 1], served by this UAV (0/1), served by any
        UAV (0/1). ``egocentric``: two G x G maps of ``log1p(count) / log1p(n_users)``
        over the square of side ``area_size_m`` centred on the UAV: all users, and users
        nobody serves (where the UAV is needed).
        """
        cfg, K = self.cfg, self.n_users
        B, n = self.num_envs, self.n_agents
        served = radio.served  # (B, n, K)
        n_served = served.sum(-1)  # (B, n)
        sinr_sum = (served * radio.sinr_db[:, None]).sum(-1)
        mean_sinr = sinr_sum / n_served.clamp_min(1.0)
        sinr_feat = ((mean_sinr + 10.0) / 40.0).clamp(0.0, 1.0) * (n_served > 0)
        own = torch.stack([n_served / cfg.max_users_per_uav, sinr_feat], -1)  # (B, n, 2)
        is_served = served.sum(1).clamp_max(1.0)  # (B, K)
        A = cfg.area_size_m
        if self._user_obs == "nearest":
            M = self._nearest
            d2 = radio.dx * radio.dx + radio.dy * radio.dy  # (B, n, K)
            idx = d2.topk(M, dim=-1, largest=False, sorted=True).indices  # (B, n, M)
            feats = torch.stack(
                [
                    (radio.dx.gather(-1, idx) * (2.0 / A)).clamp_(-1.0, 1.0),
                    (radio.dy.gather(-1, idx) * (2.0 / A)).clamp_(-1.0, 1.0),
                    served.gather(-1, idx),
                    is_served[:, None].expand(B, n, K).gather(-1, idx),
                ],
                -1,
            ).reshape(B, n, 4 * M)
            return torch.cat([feats, own], -1), own
        G = cfg.density_map_size
        ix = (radio.dx * (G / A)).add_(G / 2).floor_()
        iy = (radio.dy * (G / A)).add_(G / 2).floor_()
        inside = (ix >= 0) & (ix < G) & (iy >= 0) & (iy < G)
        # Users outside the window go to an extra bucket that is dropped.
        cell = torch.where(inside, iy * G + ix, float(G * G)).long().view(B * n, K)
        weights = torch.stack([torch.ones_like(is_served), 1.0 - is_served], 1)  # (B, 2, K)
        weights = weights[:, None].expand(B, n, 2, K).reshape(B * n, 2, K)
        counts = torch.zeros(B * n, 2, G * G + 1, device=self.device)
        counts.scatter_add_(2, cell[:, None].expand(B * n, 2, K), weights)
        maps = torch.log1p(counts[..., : G * G]) / math.log1p(K)
        return torch.cat([maps.reshape(B, n, 2 * G * G), own], -1), own

    # ------------------------------------------------------------------------------
    # Step

    def _move_users(self) -> None:
        step = self.cfg.user_speed_mps * self.cfg.dt_s
        delta = self.user_target - self.user_pos
        dist = delta.norm(dim=-1, keepdim=True)  # (B, K, 1)
        arrived = dist <= step
        self.user_pos.add_(delta * (step / dist.clamp_min(1e-6)))
        self.user_pos.copy_(torch.where(arrived, self.user_target, self.user_pos))
        fresh = self._sample_points(self.user_anchor, self.user_spread)
        self.user_target.copy_(torch.where(arrived, fresh, self.user_target))
        self._density.copy_(self._density_map(self.user_pos))
        self._uxy.copy_(self.user_pos.transpose(1, 2))

    def step(self, actions: Tensor) -> StepResult:
        """Advance every env one step. ``actions`` (B, n, 3), clipped to [-1, 1] here."""
        if actions.shape != self.uav_pos.shape:
            raise ValueError(
                f"actions must have shape {tuple(self.uav_pos.shape)}, got {tuple(actions.shape)}"
            )
        before = self.uav_pos.clone()
        self.uav_pos.add_(actions.clamp(-1.0, 1.0), alpha=self._speed)
        torch.maximum(self.uav_pos, self._lo, out=self.uav_pos)
        torch.minimum(self.uav_pos, self._hi, out=self.uav_pos)
        # The velocity actually flown (a wall stops the UAV), as a share of max speed.
        torch.sub(self.uav_pos, before, out=self.uav_vel).div_(self._speed).clamp_(-1.0, 1.0)
        if self._moving:
            self._move_users()
        self.t += 1
        self._max_t += 1

        radio = self.radio(self.uav_pos, self._uxy)
        metrics, reward = radio.metrics, radio.reward
        self.ep_metrics += metrics
        self.ep_return += reward
        obs, state = self._observe(radio)

        steps = self.t - self.t0
        length = steps.float()
        episode = {name: self.ep_metrics[i] / length for i, name in enumerate(METRICS)}
        episode["return"] = self.ep_return.clone()
        episode["length"] = steps
        metric_dict = {name: metrics[i] for i, name in enumerate(METRICS)}

        if self._max_t >= self.cfg.max_steps:
            done = self.t >= self.cfg.max_steps
            self._reset_idx(done.nonzero().squeeze(1))
            self._max_t = int(self.t.max())
            next_obs, next_state = self._observe()
        else:
            done = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
            next_obs, next_state = obs, state
        return StepResult(next_obs, next_state, reward, done, obs, state, metric_dict, episode)

    # ------------------------------------------------------------------------------
    # Checkpointing

    _STATE_KEYS = (
        "uav_pos", "uav_vel", "user_pos", "user_target", "user_anchor", "user_spread", "t", "t0",
        "ep_return", "ep_metrics", "_density",
    )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs: positions, users, counters, RNG state."""
        d: dict[str, Any] = {k.lstrip("_"): getattr(self, k).clone() for k in self._STATE_KEYS}
        d["generator"] = self.generator.get_state()
        d["num_envs"] = self.num_envs
        d["n_uavs"] = self.n_agents
        d["n_users"] = self.n_users
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; CheckpointError if it is for another shape."""
        for key in ("num_envs", "n_uavs", "n_users"):
            mine = getattr(self, "n_agents" if key == "n_uavs" else key)
            if d.get(key) != mine:
                raise CheckpointError(
                    f"env state is for {key} = {d.get(key)!r}, this env has {mine}"
                )
        for key in self._STATE_KEYS:
            value = d.get(key.lstrip("_"))
            target = getattr(self, key)
            if not isinstance(value, Tensor) or value.shape != target.shape:
                raise CheckpointError(f"env state: '{key.lstrip('_')}' missing or wrong shape")
            target.copy_(value)
        self.generator.set_state(d["generator"])
        self._uxy.copy_(self.user_pos.transpose(1, 2))
        self._max_t = int(self.t.max())
