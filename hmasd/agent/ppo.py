"""Pure PPO maths shared by both HMASD levels: GAE, the masked high-level GAE, losses and a
running value normaliser. Every function is unit-tested against hand-computed values."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    dones: Tensor,
    gamma: float,
    lam: float,
) -> Tensor:
    """Generalised advantage estimation over real time order.

    Shapes: ``rewards``, ``values``, ``next_values`` are ``(T, B, ...)``; ``dones`` is ``(T, B)``.
    ``next_values[t]`` is V(s_{t+1}); at a time-limit end (``dones[t]``) it is the value of the
    terminal state, so truncation is bootstrapped, while the trace (lambda) is cut there.
    """
    T = rewards.shape[0]
    cont = (~dones).to(rewards.dtype)
    while cont.dim() < rewards.dim():
        cont = cont.unsqueeze(-1)
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in range(T - 1, -1, -1):
        delta = rewards[t] + gamma * next_values[t] - values[t]
        last = delta + gamma * lam * cont[t] * last
        adv[t] = last
    return adv


def window_gae(
    env_reward: Tensor,
    decision: Tensor,
    done: Tensor,
    value: Tensor,
    terminal_value: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
) -> tuple[Tensor, Tensor]:
    """GAE for the skill coordinator, whose steps are skill windows on the env time axis.

    Shapes ``(T, B)`` except ``last_value`` ``(B,)``. A window starts at a ``decision`` and
    its reward r^h is the sum of ``env_reward`` up to the step before the next decision, the
    episode end or the sequence end. One discount ``gamma`` applies per window (the
    coordinator acts once per window). At an episode end the window is bootstrapped with
    ``terminal_value`` (time limit) and the trace is cut; at the sequence end with
    ``last_value``. Steps of a window that began before the sequence (no decision in it)
    carry no high-level sample. Returns ``(advantages, window_rewards)``, both ``(T, B)``,
    zero where there is no decision.
    """
    T = env_reward.shape[0]
    adv = torch.zeros_like(env_reward)
    win_r = torch.zeros_like(env_reward)
    acc = torch.zeros_like(last_value)
    next_v = last_value.clone()
    next_adv = torch.zeros_like(last_value)
    for t in range(T - 1, -1, -1):
        d = done[t]
        acc = torch.where(d, torch.zeros_like(acc), acc) + env_reward[t]
        next_v = torch.where(d, terminal_value[t], next_v)
        next_adv = torch.where(d, torch.zeros_like(next_adv), next_adv)
        dec = decision[t]
        a = acc + gamma * next_v - value[t] + gamma * lam * next_adv
        adv[t] = torch.where(dec, a, torch.zeros_like(a))
        win_r[t] = torch.where(dec, acc, torch.zeros_like(acc))
        next_v = torch.where(dec, value[t], next_v)
        next_adv = torch.where(dec, a, next_adv)
        acc = torch.where(dec, torch.zeros_like(acc), acc)
    return adv, win_r


def policy_loss(
    logp: Tensor, old_logp: Tensor, adv: Tensor, clip: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Clipped surrogate. Returns ``(loss, approx_kl, clipfrac)`` (means over elements)."""
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    surr = torch.max(-adv * ratio, -adv * ratio.clamp(1.0 - clip, 1.0 + clip))
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clipfrac = ((ratio - 1.0).abs() > clip).float().mean()
    return surr.mean(), approx_kl, clipfrac


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, clip: float, delta: float
) -> Tensor:
    """Clipped value loss with a Huber penalty (MAPPO): max of clipped and unclipped losses."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    unclipped_loss = F.huber_loss(values, returns, reduction="none", delta=delta)
    clipped_loss = F.huber_loss(clipped, returns, reduction="none", delta=delta)
    return torch.max(unclipped_loss, clipped_loss).mean()


class ValueNorm(nn.Module):
    """Running mean / variance of value targets; critics learn in the normalised space.

    Debiased exponential moving averages (as MAPPO's ValueNorm), kept in buffers so they are
    part of ``state_dict`` and resume exactly.
    """

    def __init__(self, enabled: bool = True, beta: float = 0.99999, eps: float = 1e-5) -> None:
        super().__init__()
        self.enabled = enabled
        self.beta = beta
        self.eps = eps
        self.register_buffer("mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean_sq", torch.zeros((), dtype=torch.float64))
        self.register_buffer("debias", torch.zeros((), dtype=torch.float64))

    def _stats(self) -> tuple[Tensor, Tensor]:
        d = self.debias.clamp(min=self.eps)
        mean = self.mean / d
        var = (self.mean_sq / d - mean**2).clamp(min=1e-2)
        return mean.float(), var.sqrt().float()

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        if not self.enabled or x.numel() == 0:
            return
        x = x.detach().double()
        self.mean.mul_(self.beta).add_(x.mean() * (1 - self.beta))
        self.mean_sq.mul_(self.beta).add_((x**2).mean() * (1 - self.beta))
        self.debias.mul_(self.beta).add_(1 - self.beta)

    def normalize(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        mean, std = self._stats()
        return (x - mean) / std

    def denormalize(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        mean, std = self._stats()
        return x * std + mean
