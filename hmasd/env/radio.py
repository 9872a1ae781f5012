"""The radio model of the UAV base-station env: path loss, attachment, SINR, per-UAV user
caps, the cooperative network's backhaul hops, and from them the per-step metrics and the
team reward (the formulas: :class:`~hmasd.env.uav_env.UAVBaseStationEnv`'s docstring).

:class:`RadioModel` holds the constants and preallocated work buffers of one batched env;
calling it on the UAV and user positions gives a :class:`Radio`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from hmasd.config import EnvConfig
from hmasd.env import channel

METRICS = (
    "throughput_mbps",
    "connected_users",
    "coverage",
    "mean_sinr_db",
    "fairness",
    "connectivity_ratio",
    "mean_hops",
)
"""Per-step metric names (``out.metrics``); ``out.episode`` holds their episode means."""

BS_HEIGHT_M = 25.0
"""Height of the ground base station (``cooperative_network``), metres."""

REFERENCE_SINR_DB = 30.0
"""Throughput normaliser: every UAV delivering its whole bandwidth at this SINR."""


class Radio(NamedTuple):
    """What :class:`RadioModel` computes for the current positions (views of
    work buffers: valid until the next radio computation)."""

    metrics: Tensor
    """(len(METRICS), B) per-step metrics."""
    reward: Tensor
    """(B,) team reward."""
    dx: Tensor
    """(B, n, K) user x minus UAV x, metres."""
    dy: Tensor
    """(B, n, K) user y minus UAV y, metres."""
    served: Tensor
    """(B, n, K) float 0/1: UAV j serves user k (after the per-UAV cap and the backhaul)."""
    sinr_db: Tensor
    """(B, K) SINR of every user's best link, dB."""


class RadioModel:
    """Constants and work buffers of the radio model for ``num_envs`` envs of ``cfg``."""

    def __init__(self, cfg: EnvConfig, num_envs: int, device: torch.device) -> None:
        self.cfg = cfg
        self.num_envs, self.n_agents, self.n_users = num_envs, cfg.n_uavs, cfg.n_users
        self.device = device
        n, K, A = cfg.n_uavs, cfg.n_users, float(cfg.area_size_m)
        self._cooperative = cfg.scenario == "cooperative_network"
        # Linear powers in mW.
        self._tx_mw = 10.0 ** (cfg.tx_power_dbm / 10.0)
        self._noise_mw = 10.0 ** (cfg.noise_dbm / 10.0)
        self._thr_lin = 10.0 ** (cfg.sinr_threshold_db / 10.0)
        self._bw_mbps = cfg.bandwidth_hz / 1e6
        self._tp_ref = n * self._bw_mbps * math.log2(1.0 + 10.0 ** (REFERENCE_SINR_DB / 10.0))
        self._topk = min(cfg.max_users_per_uav, K)
        self._bs = torch.tensor([A / 2, A / 2, BS_HEIGHT_M], device=device)
        self._range2 = cfg.backhaul_range_m**2
        # Work buffers (dx, dy, and three (B, n, K) temporaries); mask buffers.
        f32 = torch.float32
        self._work = torch.zeros(5, num_envs, n, K, device=device, dtype=f32)
        self.served = torch.zeros(num_envs, n, K, device=device, dtype=f32)
        """(B, n, K) float 0/1: who served whom at the last call (a work buffer)."""
        self._ok = torch.zeros(num_envs, K, device=device, dtype=f32)

    def rx_power_mw(self, d2h: Tensor, h: Tensor) -> Tensor:
        """Received power (B, n, K) in mW from squared horizontal distances and heights.

        ``d2h`` (B, n, K) is overwritten; the result lives in a work buffer, valid until
        the next step. Same numbers as ``tx_power - channel.path_loss_db(...)`` (tested),
        rearranged so the hot path folds constants (no log for free space, one exp for the
        LoS/NLoS mixture) and writes into preallocated buffers: fresh 1 MB temporaries
        per op cost page faults that dominated the step on CPU.
        """
        cfg = self.cfg
        k_db = math.log(10.0) / 10.0
        g0 = (channel.SPEED_OF_LIGHT / (4.0 * math.pi * cfg.carrier_hz)) ** 2
        if cfg.channel_model == "free_space":
            return torch.reciprocal(d2h.add_(h * h), out=d2h).mul_(self._tx_mw * g0)
        if cfg.channel_model == "al_hourani":
            a, b, eta_los, eta_nlos = channel.al_hourani_params(cfg.environment)
            r = torch.sqrt(d2h, out=self._work[2])
            # atan2 on a stride-0 (expanded) argument is not vectorised: copy first.
            x = self._work[3].copy_(h.expand_as(d2h))
            torch.atan2(x, r, out=x)  # elevation, radians
            # 1/(1 + a exp(-b(deg - a))) == sigmoid(b deg - b a - ln a)
            x.mul_(b * 180.0 / math.pi).sub_(b * a + math.log(a))
            torch.sigmoid(x, out=x)
            # tx g0 10^(-(eta_NLoS + P (eta_LoS - eta_NLoS)) / 10) / d^2
            x.mul_(-k_db * (eta_los - eta_nlos)).add_(math.log(self._tx_mw * g0) - k_db * eta_nlos)
            torch.exp(x, out=x)
            return x.div_(d2h.add_(h * h))
        # 3gpp_36777: the reference formulas (allocating; not the default model).
        r = d2h.sqrt()
        pl = channel.tr36777_uma_av_path_loss_db(r, h.expand_as(r), cfg.carrier_hz)
        return torch.exp((cfg.tx_power_dbm - pl) * k_db)

    def __call__(self, uav_pos: Tensor, users_xy: Tensor) -> Radio:
        """Radio outcome of the current positions: metrics, reward, and the user offsets,
        serving matrix and SINRs the observations are built from (:class:`Radio`).

        Masks are float 0/1 tensors written with ``out=``: on CPU, bool intermediates and
        ``torch.where`` over (B, n, K) cost several times more than float arithmetic.
        """
        cfg, K = self.cfg, self.n_users
        uav = uav_pos
        w = self._work
        dx = torch.sub(users_xy[:, 0:1], uav[..., 0:1], out=w[0])  # (B, n, K)
        dy = torch.sub(users_xy[:, 1:2], uav[..., 1:2], out=w[1])
        d2h = torch.mul(dx, dx, out=w[4])
        d2h.addcmul_(dy, dy)
        p = self.rx_power_mw(d2h, uav[..., 2:3])  # (B, n, K)

        best = p.amax(1)  # (B, K): each user attaches to its strongest UAV
        interference = (p.sum(1) - best).clamp_min_(0.0)
        sinr = best / (interference + self._noise_mw)  # (B, K)
        ok = torch.ge(sinr, self._thr_lin, out=self._ok)  # (B, K) float
        # served[b, j, k] = 1: user k attached to UAV j with SINR above threshold, then
        # cut to the UAV's max_users_per_uav strongest links.
        served = torch.eq(p, best[:, None], out=self.served)  # (B, n, K) float
        served.mul_(ok[:, None])
        self.cap_users(served, sinr)
        n_served = served.sum(-1)  # (B, n)
        share = self._bw_mbps / n_served.clamp_min(1.0)  # (B, n) Mbps per served user
        se = torch.log2(sinr + 1.0)  # (B, K) spectral efficiency if served

        if self._cooperative:
            hops, linked = self.hops(uav)
            access = (served * se[:, None]).sum(-1) * share  # (B, n)
            cap = linked * (cfg.backhaul_rate_mbps / hops)
            tp_uav = torch.minimum(access, cap)
            # Capped UAVs scale their users' rates down; unlinked UAVs serve nobody.
            share = share * (tp_uav / access.clamp_min(1e-12))
            served.mul_(linked[:, :, None])
            n_linked = linked.sum(-1)
            conn_ratio = n_linked / self.n_agents
            mean_hops = (linked * hops).sum(-1) / n_linked.clamp_min(1.0)
        else:
            conn_ratio = torch.ones_like(sinr[:, 0])
            mean_hops = conn_ratio
        # Each served user's rate: (bandwidth share of its UAV) x log2(1 + SINR).
        # (a batched (1 x n) @ (n x K) matmul is ~3x slower than this on CPU)
        user_share = (served * share[:, :, None]).sum(1)  # (B, K); 0 where not served
        rate = user_share * se  # (B, K) Mbps
        is_served = served.sum(1)  # (B, K) 0/1
        throughput = rate.sum(-1)
        connected = is_served.sum(-1)
        coverage = connected / K
        sum_r2 = (rate * rate).sum(-1)
        # Jain's index over all users; 0 when nobody is served.
        fairness = throughput * throughput / (K * sum_r2).clamp_min(1e-30)
        sinr_db = 10.0 * torch.log10(sinr.clamp_min(1e-30))  # (B, K)
        served_db = (sinr_db * is_served).sum(-1) / connected.clamp_min(1.0)
        mean_sinr_db = torch.where(connected > 0, served_db, sinr_db.mean(-1))

        metrics = torch.stack(
            [throughput, connected, coverage, mean_sinr_db, fairness, conn_ratio, mean_hops]
        )
        reward = (
            cfg.w_coverage * coverage
            + cfg.w_sinr * ((mean_sinr_db + 10.0) / 40.0).clamp(0.0, 1.0)
            + cfg.w_throughput * (throughput / self._tp_ref).clamp_max(1.0)
        )
        if self._cooperative:
            reward = (
                reward + cfg.w_connectivity * conn_ratio - cfg.w_hops * (mean_hops / cfg.max_hops)
            )
        return Radio(metrics, reward, dx, dy, served, sinr_db)

    def cap_users(self, served: Tensor, sinr: Tensor) -> None:
        """Keep (in place) each UAV's ``max_users_per_uav`` highest-SINR candidates.

        ``served`` (B, n, K) float 0/1 candidates, ``sinr`` (B, K). Only UAVs with more
        candidates than the cap need a top-k; on CPU (where the host sync is free) it runs
        on just those rows, since CPU top-k costs ~0.4 us per row.
        """
        M, K = self._topk, self.n_users
        if M >= K:
            return
        B, n = self.num_envs, self.n_agents
        flat = served.view(B * n, K)
        over = flat.sum(-1) > M  # (B*n,)
        if self.device.type == "cpu":
            rows = over.nonzero().squeeze(1)
            if rows.numel() == 0:
                return
            cand = flat[rows]  # (R, K)
            score = cand * (sinr[rows // n] + 1.0) - 1.0  # SINR where candidate, else -1
            keep = torch.zeros_like(cand)
            keep.scatter_(1, score.topk(M, dim=1, sorted=False).indices, 1.0)
            flat[rows] = keep.mul_(cand)
            return
        score = flat * (sinr.repeat_interleave(n, 0) + 1.0) - 1.0
        keep = torch.zeros_like(flat)
        keep.scatter_(1, score.topk(M, dim=1, sorted=False).indices, 1.0)
        drop = over[:, None] * (1.0 - keep)  # 1 where an over-cap UAV drops the user
        flat.mul_(1.0 - drop)

    def hops(self, uav_pos: Tensor) -> tuple[Tensor, Tensor]:
        """Hop counts (B, n) float (``max_hops + 1`` if unreachable) and linked (B, n) 0/1.

        Vectorised BFS from the base station over links of at most ``backhaul_range_m``.
        """
        uav, H = uav_pos, self.cfg.max_hops
        to_bs = ((uav - self._bs) ** 2).sum(-1)  # (B, n)
        diff = uav[:, :, None] - uav[:, None]
        adj = ((diff * diff).sum(-1) <= self._range2).float()  # (B, n, n)
        hops = torch.where(to_bs <= self._range2, 1.0, float(H + 1))  # (B, n)
        for k in range(2, H + 1):
            frontier = (hops == k - 1).float()  # (B, n)
            reach = torch.bmm(adj, frontier[..., None])[..., 0] > 0
            hops = torch.where(reach & (hops > k), float(k), hops)
        return hops, (hops <= H).float()
