"""Pure PPO maths shared by both HMASD levels.

GAE over real time order (low level), the masked GAE over skill windows (high level), the
clipped surrogate, the clipped Huber value loss, closed-form log-probs and entropies, and a
running value normaliser. Every function is unit-tested against hand-computed values in
``tests/test_agent/test_ppo.py``.

Time convention (the :class:`~hmasd.agent.batch.Batch` one): ``dones[t]`` is True when the
episode ended *after* step ``t``; the GAE trace is cut there so it never leaks into the
next episode. What the return after the last step is depends on the episode end:

- a true terminal: 0 (``terminal_values=None``). Our env's episodes end at a time limit,
  but its observations and state carry the step fraction ``t / max_steps``, so the limit is
  part of the state and the task is finite-horizon: the end IS terminal, and the agent
  calls these functions with ``terminal_values=None``. (Bootstrapping a time-aware state
  at the limit trains V toward an infinite-horizon return the
  episode never pays: with the high level's per-window discount, about 10x an episode's
  return. Pardo et al., "Time Limits in Reinforcement Learning", ICML 2018.)
- a time-limit truncation of a time-unaware task: ``terminal_values``, V of the state the
  episode ended in (partial-episode bootstrapping; kept for envs without a time feature).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _expand_like(mask: Tensor, like: Tensor) -> Tensor:
    """Append singleton dims to ``mask`` (T, B) until it broadcasts against ``like``."""
    while mask.dim() < like.dim():
        mask = mask.unsqueeze(-1)
    return mask


def gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
    terminal_values: Tensor | None = None,
) -> Tensor:
    """Generalised advantage estimation, backwards over real time order.

    Shapes: ``rewards`` and ``values`` ``(T, B, ...)``; ``dones`` ``(T, B)`` bool (episode
    ended after step t); ``last_value`` ``(B, ...)``: V(s_T), the state after the last step,
    used unless ``dones[T-1]``; ``terminal_values`` ``(T, B, ...)`` or None: V of the state an
    episode ended in, read only where ``dones`` (time-limit truncation). None means true
    termination (bootstrap 0). Returns advantages ``(T, B, ...)``; returns are
    ``advantages + values``.
    """
    T = rewards.shape[0]
    done = _expand_like(dones, rewards)
    adv = torch.empty_like(rewards)
    next_value = last_value
    next_adv = torch.zeros_like(last_value)
    zero = torch.zeros_like(last_value)
    for t in range(T - 1, -1, -1):
        end = terminal_values[t] if terminal_values is not None else zero
        nv = torch.where(done[t], end, next_value)
        na = torch.where(done[t], zero, next_adv)
        a = rewards[t] + gamma * nv - values[t] + gamma * lam * na
        adv[t] = a
        next_value, next_adv = values[t], a
    return adv


def window_gae(
    env_reward: Tensor,
    decision: Tensor,
    dones: Tensor,
    values: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
    terminal_values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """GAE for the skill coordinator, whose samples are skill windows on the env time axis.

    A window starts at a ``decision`` step; its reward r^h is the sum of ``env_reward`` from
    there to the step before the next decision, the step an episode ends at, or the last
    step of the sequence. The coordinator acts once per window, so ``gamma`` and ``lam``
    apply once per window (per decision): ``gamma`` is the discount of one whole window
    (HMASD passes ``gamma_step ** k``, see :class:`~hmasd.agent.hmasd.HMASDAgent`). A
    window that reaches the sequence end is bootstrapped with ``last_value``; one that ends
    with its episode with ``terminal_values`` (None: 0, a true terminal) and the trace is
    cut there.

    Shapes: ``env_reward``, ``decision``, ``dones`` ``(T, B)``; ``values`` ``(T, B, ...)``
    (V_h at each decision, ignored elsewhere); ``last_value`` ``(B, ...)``;
    ``terminal_values`` like ``values``. Steps before the first decision of a sequence
    belong to a window that began in an earlier batch: they carry no sample. Returns
    ``(advantages (T, B, ...), window_rewards (T, B))``, both zero where no decision.
    """
    T = env_reward.shape[0]
    dec_v = _expand_like(decision, values)
    done_v = _expand_like(dones, values)
    adv = torch.zeros_like(values)
    win = torch.zeros_like(env_reward)
    acc = torch.zeros_like(env_reward[0])
    next_value = last_value
    zero = torch.zeros_like(last_value)
    next_adv = zero
    for t in range(T - 1, -1, -1):
        # The window holding step t ends at t if the episode ended after t.
        end = terminal_values[t] if terminal_values is not None else zero
        acc = torch.where(dones[t], torch.zeros_like(acc), acc) + env_reward[t]
        next_value = torch.where(done_v[t], end, next_value)
        next_adv = torch.where(done_v[t], zero, next_adv)
        acc_v = _expand_like(acc, values[t])
        a = acc_v + gamma * next_value - values[t] + gamma * lam * next_adv
        adv[t] = torch.where(dec_v[t], a, zero)
        win[t] = torch.where(decision[t], acc, torch.zeros_like(acc))
        # A decision closes the window before it (in time): it becomes "the next" one.
        next_value = torch.where(dec_v[t], values[t], next_value)
        next_adv = torch.where(dec_v[t], a, next_adv)
        acc = torch.where(decision[t], torch.zeros_like(acc), acc)
    return adv, win


def clipped_surrogate(logp: Tensor, old_logp: Tensor, adv: Tensor, clip: float) -> Tensor:
    """Elementwise PPO clipped surrogate (to minimise): ``max(-A rho, -A clip(rho))``."""
    ratio = (logp - old_logp).exp()
    return torch.max(-adv * ratio, -adv * ratio.clamp(1.0 - clip, 1.0 + clip))


def _ratio_stats(logp: Tensor, old_logp: Tensor, clip: float) -> tuple[Tensor, Tensor]:
    """``approx_kl`` (the low-variance estimator E[(r - 1) - log r]) and the clip fraction."""
    with torch.no_grad():
        log_ratio = logp - old_logp
        ratio = log_ratio.exp()
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clipfrac = ((ratio - 1.0).abs() > clip).to(ratio.dtype).mean()
    return approx_kl, clipfrac


def _weighted(surrogate: Tensor, weight: Tensor | None) -> Tensor:
    return surrogate if weight is None else weight * surrogate


def policy_loss(
    logp: Tensor, old_logp: Tensor, adv: Tensor, clip: float, weight: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Clipped surrogate (to minimise), the mean over elements. Returns ``(loss, approx_kl,
    clipfrac)``, the last two means over elements.

    ``weight`` (like ``logp``, or None): per-sample importance weights of the decoupled
    objective (:func:`decoupled_weight`); ``old_logp`` is then the proximal policy's.
    """
    kl, cf = _ratio_stats(logp, old_logp, clip)
    return _weighted(clipped_surrogate(logp, old_logp, adv, clip), weight).mean(), kl, cf


def term_policy_loss(
    logp: Tensor, old_logp: Tensor, adv: Tensor, clip: float, weight: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """A sum of PPO terms, one per column (Eq. 6 of the paper for the skill coordinator).

    ``logp``, ``old_logp``, ``adv``: ``(D, J)``, column ``j`` being term ``j`` (Z, then
    z_1..z_n) with its own ratio and its own advantage. Each term is the mean clipped
    surrogate over the D rows; the loss is their sum over columns. ``approx_kl`` and
    ``clipfrac`` are means over all elements. With every ratio 1 the loss is
    ``-sum_j mean_d adv[d, j]``. ``weight``: as in :func:`policy_loss`.
    """
    kl, cf = _ratio_stats(logp, old_logp, clip)
    surrogate = _weighted(clipped_surrogate(logp, old_logp, adv, clip), weight)
    return surrogate.mean(0).sum(), kl, cf


IS_TRUNCATION = 1.0
"""Upper bound of the decoupled objective's importance weight pi_prox / pi_behav (V-trace's
rho-bar = 1, Espeholt et al. 2018): a sample the behaviour policy drew much less often
than the proximal policy would cannot dominate the batch."""


def decoupled_weight(
    prox_logp: Tensor, behav_logp: Tensor, truncation: float = IS_TRUNCATION
) -> Tensor:
    """Importance weight of the decoupled PPO objective (Hilton, Cobbe and Schulman 2021,
    "Batch size-invariance for policy optimization"): ``min(pi_prox / pi_behav, c)``.

    The decoupled objective centres the clip on the *proximal* policy (the learner at the
    start of the update) instead of the behaviour policy that collected the sample:

        L = E_behav[ w * min(r A, clip(r, 1 - eps, 1 + eps) A) ],  r = pi / pi_prox,

    so stale samples are clipped around where the learner is, and the behaviour policy
    enters only through ``w``. Where behaviour and proximal policies are the same (every
    sample of a sync batch) ``w`` is exactly 1 and the objective is plain PPO, bit for bit.
    No gradient flows through ``w``.
    """
    return (prox_logp - behav_logp).detach().exp().clamp(max=truncation)


def ratio_stats_by_lag(
    logp: Tensor, behav_logp: Tensor, lag: Tensor, clip: float, levels: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Clip fraction and approx KL of ``pi / pi_behav`` for the samples of each policy lag.

    ``logp``, ``behav_logp``, ``lag``: the same shape (lag in versions, >= 0); lags at or
    above ``levels - 1`` are pooled into the last level. Returns ``(clipfrac, approx_kl,
    count)``, each ``(levels,)``; NaN where a level has no sample. Sums by lag run as a
    one-hot matmul, deterministic on every device.
    """
    with torch.no_grad():
        log_ratio = (logp - behav_logp).flatten()
        ratio = log_ratio.exp()
        onehot = F.one_hot(lag.flatten().clamp(0, levels - 1), levels).to(ratio.dtype)
        values = torch.stack(
            [torch.ones_like(ratio), ((ratio - 1.0).abs() > clip).to(ratio.dtype),
             (ratio - 1.0) - log_ratio], dim=1
        )  # fmt: skip
        sums = onehot.t() @ values  # (levels, 3)
        count = sums[:, 0]
        per = sums[:, 1:] / count[:, None]
        nan = torch.full_like(per, math.nan)
        per = torch.where(count[:, None] > 0, per, nan)
    return per[:, 0], per[:, 1], count


def value_loss_elements(
    values: Tensor, old_values: Tensor, returns: Tensor, clip: float, delta: float
) -> Tensor:
    """Clipped value loss with a Huber penalty (MAPPO), elementwise: the larger of the
    unclipped and the clipped (to ``old +- clip``) losses."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    unclipped_loss = F.huber_loss(values, returns, reduction="none", delta=delta)
    clipped_loss = F.huber_loss(clipped, returns, reduction="none", delta=delta)
    return torch.max(unclipped_loss, clipped_loss)


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, clip: float, delta: float
) -> Tensor:
    """:func:`value_loss_elements` averaged over all elements."""
    return value_loss_elements(values, old_values, returns, clip, delta).mean()


def normal_logp(x: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """Log-density of a diagonal Gaussian, summed over the last dim: (..., A) -> (...)."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - _LOG_SQRT_2PI).sum(-1)


def normal_entropy(log_std: Tensor) -> Tensor:
    """Entropy of a diagonal Gaussian with log-stds ``log_std`` (A,): a scalar."""
    return (log_std + 0.5 + _LOG_SQRT_2PI).sum()


def categorical_logp_entropy(logits: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """Log-prob of ``index`` (...) and entropy under ``logits`` (..., K): both (...)."""
    logp_all = F.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, index.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def normalize_advantages(adv: Tensor, dim: int | None = None) -> Tensor:
    """Zero mean, unit std over all elements (``dim`` None) or along ``dim`` (each slice on
    its own: one PPO term per column). Unchanged where there is only one element."""
    n = adv.numel() if dim is None else adv.shape[dim]
    if n < 2:
        return adv
    if dim is None:
        return (adv - adv.mean()) / (adv.std() + 1e-8)
    return (adv - adv.mean(dim, keepdim=True)) / (adv.std(dim, keepdim=True) + 1e-8)


class ValueNorm(nn.Module):
    """Running mean and std of value targets; critics learn in the normalised space.

    Debiased exponential moving averages as MAPPO's ``ValueNorm`` (no PopArt rescaling of
    the output layer). The statistics are buffers, so they are part of ``state_dict`` and a
    resumed run continues them exactly. Disabled, every method is the identity.
    """

    def __init__(self, enabled: bool = True, beta: float = 0.99999, eps: float = 1e-5) -> None:
        super().__init__()
        self.enabled = enabled
        self.beta = beta
        self.eps = eps
        self.register_buffer("running_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("running_mean_sq", torch.zeros((), dtype=torch.float64))
        self.register_buffer("debias", torch.zeros((), dtype=torch.float64))

    def stats(self) -> tuple[Tensor, Tensor]:
        """Debiased (mean, std) as float32 scalars; std is at least 0.1."""
        d = self.debias.clamp(min=self.eps)
        mean = self.running_mean / d
        var = (self.running_mean_sq / d - mean * mean).clamp(min=1e-2)
        return mean.float(), var.sqrt().float()

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Fold the batch of targets ``x`` (any shape) into the running statistics.

        Non-finite targets are not folded in, so the statistics survive the update that
        produced them (that update then stops on its non-finite losses).
        """
        if not self.enabled or x.numel() == 0:
            return
        x = x.detach().double()
        if not bool(torch.isfinite(x).all()):
            return
        w = 1.0 - self.beta
        self.running_mean.mul_(self.beta).add_(x.mean() * w)
        self.running_mean_sq.mul_(self.beta).add_((x * x).mean() * w)
        self.debias.mul_(self.beta).add_(w)

    def affine(self) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` with ``denormalize(x) == x * std + mean``: the statistics, or
        (0, 1) when disabled."""
        if not self.enabled:
            one = torch.ones((), device=self.running_mean.device)
            return one * 0.0, one
        return self.stats()

    def normalize(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        mean, std = self.stats()
        return (x - mean) / std

    def denormalize(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        mean, std = self.stats()
        return x * std + mean
