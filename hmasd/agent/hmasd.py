"""HMASD agent: acting at both levels, the intrinsic reward, and one PPO update of everything.

Read top to bottom, :meth:`HMASDAgent.update` is the algorithm (Yang et al., NeurIPS 2023):

1. advantages of both levels over real time order (:meth:`HMASDAgent._prepare`): GAE of the
   low-level reward (Eq. 4) with V_l(s, Z), and the GAE over skill windows with the n+1
   heads V_h(s^), V_h(o^_i); value normalisers take in the new targets;
2. ``ppo_epochs`` epochs, each one step of the skill coordinator (Eq. 6: n+1 PPO terms
   scoring the STORED skills by teacher forcing) on every decision, ``num_minibatches``
   steps of the skill discoverer (Eq. 7; actor replayed from the stored GRU state, and
   critic) over whole sequences, and one step of both discriminators (Eq. 8,
   cross-entropy on the next state / observations);
3. ``policy_version += 1``.

The PPO "old" log-probs and values are the ones stored in the :class:`Batch` for exactly the
samples being trained, so before the first optimiser step every ratio is 1
(:attr:`HMASDAgent.first_ratios` keeps them for tests).

Where the paper is silent (HMASD_METHOD "left open") or where we differ, and why:

- High-level discount (open 1): a window of k env steps discounts by gamma^k, so both
  levels value env reward on one time scale; GAE's lambda applies per window (per
  decision). Windows are never cut by a rollout or turn boundary (the config requires
  rollout length and max_steps to be multiples of k), so r^h always sums k rewards.
- Episode ends (open 1, 8): terminal at both levels, not bootstrapped: observations and
  state carry the step fraction, so the time limit is part of the state.
- Eq. 6 vs Eq. 7 sums: the coordinator loss sums its n+1 terms (as Eq. 6 writes); the
  low-level loss averages over agents (Eq. 7's sum times 1/n), which only rescales the
  gradient that Adam normalises anyway. Advantages are normalised per PPO term.
- lr and epochs apply to both levels and the discriminators (open 5, 7); minibatches
  only to the skill discoverer. Each epoch follows Algorithm 1's order: one coordinator
  step on every decision of the batch (Table 1's single minibatch: a batch holds only
  num_envs x rollout_len / k decisions), then ``num_minibatches`` discoverer steps over
  shuffled whole sequences, then one discriminator step on the whole batch.

Cost: at the defaults (about 1000 transitions x 5 agents, hidden 64, 15 epochs) one update
is about 30 GFLOP (GRU actor ~1.2, coordinator ~0.6, discriminators ~0.35 GFLOP per epoch),
compute-bound on two CPU cores (``benchmarks/update_time.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmasd.agent.batch import Batch
from hmasd.agent.grouped import param_rows
from hmasd.agent.gru import reset_cuts
from hmasd.agent.networks import (
    IndividualDiscriminator,
    LowCritic,
    SkillActor,
    SkillCoordinator,
    TeamDiscriminator,
)
from hmasd.agent.ppo import (
    ValueNorm,
    decoupled_weight,
    gae,
    normal_entropy,
    normal_logp,
    normalize_advantages,
    policy_loss,
    ratio_stats_by_lag,
    term_policy_loss,
    value_loss,
    value_loss_elements,
    window_gae,
)
from hmasd.config import LAG_LEVELS, AgentConfig
from hmasd.errors import CheckpointError, TrainingError

# Losses checked for finiteness before each optimiser step, in the order they are named.
CHECKED = (
    "losses/low/policy",
    "losses/low/value",
    "losses/low/entropy",
    "losses/high/policy",
    "losses/high/value",
    "losses/high/entropy",
    "losses/disc/team",
    "losses/disc/ind",
    "losses/grad_norm_low",
    "losses/grad_norm_high",
    "losses/grad_norm_disc",
)
HIGH_METRICS = tuple(
    f"losses/high/{k}" for k in ("policy", "value", "entropy", "approx_kl", "clipfrac")
)
CORRECTIONS = ("none", "decoupled")
"""How an update treats samples of an older policy version (``train.async_correction``):
plain PPO around the behaviour policy, or the decoupled objective (:func:`decoupled_weight`)."""


def reward_shares(
    cfg: AgentConfig, env_reward: Tensor, team_logq: Tensor, ind_logq: Tensor
) -> tuple[Tensor, Tensor]:
    """Shares of the low-level reward's magnitude (Eq. 4) held by the team and by the
    individual discriminator terms: ``E|lambda_D log q_D| / S`` and ``E|lambda_d log q_d| / S``
    with ``S = E|lambda_e r| + E|lambda_D log q_D| + E|lambda_d log q_d|``, means per
    agent-step. env_reward, team_logq (T, B); ind_logq (T, B, n). Near 0, the skills
    carry no reward signal and HMASD reduces to flat MAPPO with noise inputs."""
    env_c, team_c, ind_c = (
        t.abs().mean() for t in reward_terms(cfg, env_reward, team_logq, ind_logq)
    )
    total = (env_c + team_c + ind_c).clamp(min=1e-12)
    return team_c / total, ind_c / total


def majority_share(skills: Tensor, n_skills: int) -> Tensor:
    """Share of the most frequent skill among ``skills`` (any shape, long): the accuracy of
    a discriminator that always names it, the bar above plain chance 1/n."""
    counts = F.one_hot(skills.flatten(), n_skills).sum(0)
    return counts.max().float() / max(skills.numel(), 1)


class RewardTerms(NamedTuple):
    """The three weighted terms of the skill-discoverer reward (Eq. 4): the exports'
    ``env_component``, ``team_disc_component`` and ``ind_disc_component``."""

    env: Tensor
    """(B,) lambda_e r."""
    team: Tensor
    """(B,) lambda_D log q_D(Z | s')."""
    ind: Tensor
    """(B, n) lambda_d log q_d(z_i | o_i', Z)."""

    def total(self) -> Tensor:
        """(B, n) r_i = lambda_e r + lambda_D log q_D(Z | s') + lambda_d log q_d(z_i | o_i', Z)."""
        return (self.env + self.team).unsqueeze(-1) + self.ind


def reward_terms(
    cfg: AgentConfig, env_reward: Tensor, team_logq: Tensor, ind_logq: Tensor
) -> RewardTerms:
    """The weighted terms of Eq. 4, the one place its weights are applied: env_reward (B,),
    team_logq (B,), ind_logq (B, n)."""
    return RewardTerms(cfg.lambda_e * env_reward, cfg.lambda_D * team_logq, cfg.lambda_d * ind_logq)


def low_level_reward(
    cfg: AgentConfig, env_reward: Tensor, team_logq: Tensor, ind_logq: Tensor
) -> Tensor:
    """Skill-discoverer reward (Eq. 4), (B, n): :meth:`RewardTerms.total` of
    :func:`reward_terms`."""
    return reward_terms(cfg, env_reward, team_logq, ind_logq).total()


@dataclass
class SkillOut:
    """What :meth:`HMASDAgent.choose_skills` returns (B envs, n agents)."""

    team: Tensor
    """(B,) long team skill Z."""
    ind: Tensor
    """(B, n) long individual skills z_i."""
    logp: Tensor
    """(B, n+1) log-prob of each choice: log p(Z), then log p(z_i | Z, z_<i)."""
    value_state: Tensor
    """(B,) V_h(s^) (normalised space when value_norm)."""
    value_obs: Tensor
    """(B, n) V_h(o^_i) (normalised space when value_norm)."""


@dataclass
class ActOut:
    """What :meth:`HMASDAgent.act` returns (B envs, n agents, A action dims)."""

    action: Tensor
    """(B, n, A) action clamped to [-1, 1]: what the env receives."""
    raw_action: Tensor
    """(B, n, A) raw Gaussian sample: what log-probs refer to (store this)."""
    logp: Tensor
    """(B, n) log pi_l(raw | o, z)."""
    value: Tensor
    """(B, n) V_l(s, Z) (normalised space when value_norm)."""
    hidden: Tensor
    """(B, n, H) actor hidden after this step."""


@dataclass
class _Prepared:
    """Everything an update needs that does not change across its epochs."""

    # low level, (T, B, ...)
    actor_in: Tensor
    reset: Tensor
    cuts: list[int]
    critic_in: Tensor
    adv: Tensor
    ret: Tensor
    old_value: Tensor
    """(T, B, n) stored values in the learner's normalised space (the value clip's centre)."""
    prox_logp: Tensor
    """(T, B, n) log-probs of the stored actions under the learner at the update's start
    (the proximal policy; the stored behaviour log-probs where the sample is not stale)."""
    lag_clipfrac: Tensor
    lag_kl: Tensor
    lag_count: Tensor
    """(LAG_LEVELS,) clip fraction / approx KL of pi_prox / pi_behav per lag, sample counts."""
    # high level, one row per decision (D, ...)
    seq: Tensor
    state: Tensor
    obs: Tensor
    team: Tensor
    ind: Tensor
    hl_logp: Tensor
    hl_prox_logp: Tensor
    hl_value: Tensor
    hl_adv: Tensor
    hl_ret: Tensor
    hl_reward: Tensor
    # discriminators, (T, B, ...)
    ind_disc_in: Tensor


def _clone(obj: Any) -> Any:
    """Deep copy of nested dicts/lists of tensors (state dicts must not alias live weights)."""
    if isinstance(obj, Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_clone(v) for v in obj)
    return copy.copy(obj)


class HMASDAgent:
    """Skill coordinator, skill discoverer (actor + critic), discriminators, optimisers.

    Args:
        cfg: agent hyperparameters.
        n_agents, obs_dim, state_dim, action_dim: env sizes (obs (B, n, obs_dim), state
            (B, state_dim), actions (B, n, action_dim)).
        device: where every tensor and network lives.
        trainable: build the optimisers. ``False`` builds an agent that only acts
            (evaluation): constructing a torch optimiser imports ``torch._dynamo``, seconds
            of start-up that an evaluation job does not need. Such an
            agent loads (and checks) a full checkpoint but cannot update or be saved.
        correction: ``none`` (PPO around the behaviour policy) or ``decoupled`` (PPO
            around the proximal policy, :func:`~hmasd.agent.ppo.decoupled_weight`).
    """

    def __init__(
        self,
        cfg: AgentConfig,
        n_agents: int,
        obs_dim: int,
        state_dim: int,
        action_dim: int,
        device: torch.device | str = "cpu",
        trainable: bool = True,
        correction: str = "none",
    ) -> None:
        if correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
        self.cfg = cfg
        self.trainable = trainable
        self.correction = correction
        self.device = torch.device(device)
        self.n_agents, self.obs_dim = n_agents, obs_dim
        self.state_dim, self.action_dim = state_dim, action_dim
        H = cfg.hidden_dim
        self.coordinator = SkillCoordinator(
            state_dim,
            obs_dim,
            n_agents,
            cfg.n_team_skills,
            cfg.n_ind_skills,
            H,
            cfg.transformer_layers,
            cfg.transformer_heads,
        )
        self.actor = SkillActor(
            obs_dim, cfg.n_ind_skills, action_dim, H, cfg.actor == "gru", cfg.init_log_std
        )
        self.critic = LowCritic(state_dim, cfg.n_team_skills, n_agents, H)
        self.team_disc = TeamDiscriminator(state_dim, cfg.n_team_skills, H)
        self.ind_disc = IndividualDiscriminator(obs_dim, cfg.n_team_skills, cfg.n_ind_skills, H)
        self.norms = nn.ModuleDict(
            {"low": ValueNorm(cfg.value_norm), "high": ValueNorm(cfg.value_norm)}
        )
        for m in self.modules().values():
            m.to(self.device)
        # Optimisers are built after every network exists, so they hold every parameter.
        # Actor and critic have their own (as in MAPPO), so one's gradient norm cannot
        # shrink the other's step under the shared clip.
        groups = {
            "actor": list(self.actor.parameters()),
            "critic": list(self.critic.parameters()),
            "coordinator": list(self.coordinator.parameters()),
            "disc": list(self.team_disc.parameters()) + list(self.ind_disc.parameters()),
        }
        self.param_groups = groups
        fused = self.device.type in ("cpu", "cuda")
        self.optimizers = {
            name: torch.optim.Adam(params, lr=cfg.lr, eps=cfg.adam_eps, fused=fused)
            for name, params in groups.items()
            if trainable
        }
        # One skill window (k env steps) discounts by gamma^k: see _prepare.
        self.high_gamma = cfg.gamma**cfg.skill_interval
        self.policy_version = 0
        self.optimizer_steps = 0
        self.first_ratios: dict[str, Tensor] = {}
        """Ratios new/old of the first minibatch of the last update, before its first
        optimiser step (``low`` (T, m, n), ``high`` (D, n+1)): 1 when old log-probs are right."""

    # ------------------------------------------------------------------ modules
    def modules(self) -> dict[str, nn.Module]:
        """Every module whose state is saved, by name."""
        return {
            "coordinator": self.coordinator,
            "actor": self.actor,
            "critic": self.critic,
            "team_disc": self.team_disc,
            "ind_disc": self.ind_disc,
            "norms": self.norms,
        }

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules().values() for p in m.parameters()]

    # ------------------------------------------------------------------ acting
    def initial_hidden(self, num_envs: int) -> Tensor:
        """Actor hidden state at an episode start: zeros (B, n, H)."""
        return torch.zeros(num_envs, self.n_agents, self.cfg.hidden_dim, device=self.device)

    @torch.no_grad()
    def choose_skills(self, state: Tensor, obs: Tensor, deterministic: bool = False) -> SkillOut:
        """Skill coordinator: state (B, S), obs (B, n, O) -> Z, z_1..z_n and V_h."""
        team, ind, logp, v_s, v_o = self.coordinator.sample(state, obs, deterministic)
        return SkillOut(team, ind, logp, v_s, v_o)

    @torch.no_grad()
    def act(
        self,
        obs: Tensor,
        state: Tensor,
        team: Tensor,
        ind: Tensor,
        hidden: Tensor,
        episode_start: Tensor,
        deterministic: bool = False,
    ) -> ActOut:
        """Skill discoverer, one env step.

        obs (B, n, O), state (B, S), team (B,), ind (B, n), hidden (B, n, H), episode_start
        (B,) bool (the hidden state is zeroed there before acting). ``deterministic`` acts
        with the Gaussian mean.
        """
        B, n = obs.shape[:2]
        x = self.actor.inputs(obs, ind).reshape(B * n, -1)
        reset = episode_start.repeat_interleave(n)
        mean, h = self.actor.step(x, hidden.reshape(B * n, -1), reset)
        log_std = self.actor.log_std
        if log_std.dim() > 1:  # G snapshots stacked (async acting): a log-std row per row
            log_std = param_rows(log_std, mean.shape[0], 1)
        raw = mean if deterministic else mean + torch.randn_like(mean) * log_std.exp()
        logp = normal_logp(raw, mean, log_std)
        return ActOut(
            action=raw.clamp(-1.0, 1.0).reshape(B, n, -1),
            raw_action=raw.reshape(B, n, -1),
            logp=logp.reshape(B, n),
            value=self.critic(state, team),
            hidden=h.reshape(B, n, -1),
        )

    @torch.no_grad()
    def intrinsic(
        self, next_state: Tensor, next_obs: Tensor, team: Tensor, ind: Tensor
    ) -> tuple[Tensor, Tensor]:
        """log q_D(Z | s') (B,) and log q_d(z_i | o_i', Z) (B, n) of the running skills.

        next_state (B, S), next_obs (B, n, O): before any auto-reset; team (B,), ind (B, n).
        """
        tq = F.log_softmax(self.team_disc(next_state), -1).gather(-1, team.unsqueeze(-1))
        iq = F.log_softmax(self.ind_disc(next_obs, team), -1).gather(-1, ind.unsqueeze(-1))
        return tq.squeeze(-1), iq.squeeze(-1)

    # ------------------------------------------------------------------ update
    @torch.no_grad()
    def _high_values(self, state: Tensor, obs: Tensor) -> Tensor:
        """Denormalised [V_h(s^), V_h(o^_1..n)] (R, n+1) of R states (current weights)."""
        v_s, v_o = self.coordinator.values(self.coordinator.encode(state, obs))
        return self.norms["high"].denormalize(torch.cat([v_s.unsqueeze(-1), v_o], dim=-1))

    @torch.no_grad()
    def _prepare(self, b: Batch) -> _Prepared:
        """Advantages and targets of both levels, and inputs that stay fixed across epochs.

        Episode ends are terminal (bootstrap 0): the state carries the step fraction, so
        the time limit is part of this finite-horizon task (:mod:`hmasd.agent.ppo`).
        """
        cfg = self.cfg
        low, high = self.norms["low"], self.norms["high"]

        # Low level. Stored values are the "old" ones, in raw units (each de-normalised by
        # the statistics of the policy that computed it); V_l(s_{t+1}) is the next row's
        # stored value, and after the last step V_l(s_T, Z_T) with the current critic.
        values = b.value
        old_value = low.normalize(values)
        last = low.denormalize(self.critic(b.last_state, b.last_team_skill))
        adv = gae(b.reward, values, b.done, last, cfg.gamma, cfg.gae_lambda)
        ret = adv + values
        low.update(ret)

        # High level (Eq. 6): one sample per decision and n+1 PPO terms. Column 0 is Z with
        # its advantage from V_h(s^); column i is z_i with its own from V_h(o^_i); every
        # column sees the same window rewards r^h (the sum of the k env rewards). A window
        # lasts k env steps, so one window discounts by gamma^k: both levels then value the
        # env reward on the same time scale (the paper gives only gamma = 0.99).
        dec = b.decision
        hv = torch.cat([b.hl_value_state.unsqueeze(-1), b.hl_value_obs], -1)
        hl_old_value = high.normalize(hv)
        hl_last = self._high_values(b.last_state, b.last_obs)
        hl_adv, win_r = window_gae(
            b.env_reward, dec, b.done, hv, hl_last, self.high_gamma, cfg.gae_lambda
        )
        rows, seq = dec.nonzero(as_tuple=True)
        hl_ret = (hl_adv + hv)[rows, seq]
        high.update(hl_ret)

        reset = b.episode_start
        cuts = reset_cuts(reset)
        actor_in = self.actor.inputs(b.obs, b.ind_skill)
        state, obs = b.state[rows, seq], b.obs[rows, seq]
        team, ind = b.team_skill[rows, seq], b.ind_skill[rows, seq]
        hl_logp = b.hl_logp[rows, seq]

        # The proximal policy (the learner as the update starts): it scores the stored
        # actions and skills of stale samples; fresh ones keep their behaviour log-probs,
        # so a sync batch needs no extra pass and its numbers stay those of plain PPO.
        current = self.policy_version
        lag = current - b.version
        prox, hl_prox = b.logp, hl_logp
        if bool((lag > 0).any()):
            mean = self.actor.replay(
                actor_in.flatten(1, 2),
                b.hidden0.flatten(0, 1),
                reset.repeat_interleave(self.n_agents, dim=1),
                cuts,
            )
            replayed = normal_logp(b.action, mean.view_as(b.action), self.actor.log_std)
            prox = torch.where((lag > 0)[..., None], replayed, b.logp)
            scored = self.coordinator.score(state, obs, team, ind)[0]
            hl_stale = (b.hl_version[rows, seq] != current)[:, None]
            hl_prox = torch.where(hl_stale, scored, hl_logp)
        lag_cf, lag_kl, lag_n = ratio_stats_by_lag(
            prox, b.logp, lag[..., None].expand_as(prox), cfg.clip_coef, LAG_LEVELS
        )
        return _Prepared(
            actor_in=actor_in,
            reset=reset,
            cuts=cuts,
            critic_in=self.critic.inputs(b.state, b.team_skill),
            adv=adv,
            ret=low.normalize(ret),
            old_value=old_value,
            prox_logp=prox,
            lag_clipfrac=lag_cf,
            lag_kl=lag_kl,
            lag_count=lag_n,
            seq=seq,
            state=state,
            obs=obs,
            team=team,
            ind=ind,
            hl_logp=hl_logp,
            hl_prox_logp=hl_prox,
            hl_value=hl_old_value[rows, seq],
            hl_adv=hl_adv[rows, seq],
            hl_ret=high.normalize(hl_ret),
            hl_reward=win_r[rows, seq],
            ind_disc_in=self.ind_disc.inputs(b.next_obs, b.team_skill),
        )

    def _low_loss(
        self, b: Batch, p: _Prepared, ix: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """Skill discoverer PPO loss on the sequences ``ix`` (None: all)."""
        cfg = self.cfg

        def sel(x: Tensor) -> Tensor:
            return x if ix is None else x[:, ix]

        x = sel(p.actor_in)
        T, m, n = x.shape[:3]
        h0 = b.hidden0 if ix is None else b.hidden0[ix]
        reset = sel(p.reset).repeat_interleave(n, dim=1)
        mean = self.actor.replay(x.reshape(T, m * n, -1), h0.reshape(m * n, -1), reset, p.cuts)
        log_std = self.actor.log_std
        logp = normal_logp(sel(b.action), mean.reshape(T, m, n, -1), log_std)
        old, weight = self._centre(sel(b.logp), sel(p.prox_logp))
        entropy = normal_entropy(log_std)
        adv = normalize_advantages(sel(p.adv))
        pl, kl, cf = policy_loss(logp, old, adv, cfg.clip_coef, weight)
        values = self.critic.net(sel(p.critic_in))
        vl = value_loss(values, sel(p.old_value), sel(p.ret), cfg.clip_coef, cfg.huber_delta)
        loss = pl + vl - cfg.lambda_l * entropy
        metrics = {
            "losses/low/policy": pl,
            "losses/low/value": vl,
            "losses/low/entropy": entropy,
            "losses/low/approx_kl": kl,
            "losses/low/clipfrac": cf,
        }
        return loss, metrics, (logp - old).detach().exp()

    def _high_loss(self, p: _Prepared) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """Skill coordinator loss, Eq. 6, on every decision of the batch:

            L_h = sum_{j=0..n} [ PPO_j(ratio_j, A_j) + lambda_c * V_j loss ]
                  - lambda_h * sum_j E[H_j]

        with j = 0 the team skill Z (advantage from V_h(s^)) and j = i the individual skill
        z_i given Z, z_<i (advantage from V_h(o^_i)). Each term's advantages are
        normalised on their own (column-wise); value losses are clipped Huber losses in
        the normalised space (lambda_c = 1, Table 1).
        """
        cfg = self.cfg
        logp, entropy, v_s, v_o = self.coordinator.score(p.state, p.obs, p.team, p.ind)
        old, weight = self._centre(p.hl_logp, p.hl_prox_logp)
        adv = normalize_advantages(p.hl_adv, dim=0)
        pl, kl, cf = term_policy_loss(logp, old, adv, cfg.clip_coef, weight)
        values = torch.cat([v_s.unsqueeze(-1), v_o], -1)
        vl = value_loss_elements(values, p.hl_value, p.hl_ret, cfg.clip_coef, cfg.huber_delta)
        vl = vl.mean(0).sum()
        ent = entropy.mean(0).sum()
        loss = pl + vl - cfg.lambda_h * ent
        metrics = {
            "losses/high/policy": pl,
            "losses/high/value": vl,
            "losses/high/entropy": ent,
            "losses/high/approx_kl": kl,
            "losses/high/clipfrac": cf,
        }
        return loss, metrics, (logp - old).detach().exp()

    def _centre(self, behav: Tensor, prox: Tensor) -> tuple[Tensor, Tensor | None]:
        """The log-probs the PPO ratio and clip are centred on, and the importance weight:
        the behaviour policy and none (plain PPO), or the proximal policy and
        min(pi_prox / pi_behav, 1) (``decoupled``)."""
        if self.correction == "decoupled":
            return prox, decoupled_weight(prox, behav)
        return behav, None

    def _disc_loss(self, b: Batch, p: _Prepared) -> tuple[Tensor, dict[str, Tensor]]:
        """Cross-entropy of q_D(Z | s') and q_d(z_i | o_i', Z) on the whole batch."""
        team, ind = b.team_skill, b.ind_skill
        t_logits = self.team_disc(b.next_state)
        i_logits = self.ind_disc.net(p.ind_disc_in)
        lt = F.cross_entropy(t_logits.flatten(0, -2), team.flatten())
        li = F.cross_entropy(i_logits.flatten(0, -2), ind.flatten())
        with torch.no_grad():
            acc_t = (t_logits.argmax(-1) == team).float().mean()
            acc_i = (i_logits.argmax(-1) == ind).float().mean()
        metrics = {
            "losses/disc/team": lt,
            "losses/disc/ind": li,
            "disc/team_accuracy": acc_t,
            "disc/ind_accuracy": acc_i,
        }
        return lt + li, metrics

    def _clip(self, name: str) -> Tensor:
        # foreach: one fused norm over the group (per-tensor norms cost a kernel each).
        return nn.utils.clip_grad_norm_(
            self.param_groups[name], self.cfg.max_grad_norm, foreach=True
        )

    def update(self, batch: Batch) -> dict[str, float]:
        """One PPO update of every network on ``batch``, then ``policy_version += 1``.

        Returns the mean of each loss / metric over all optimiser steps. Raises
        :class:`TrainingError` naming the loss and the update, before that optimiser step,
        when a loss (or gradient norm) is not finite.
        """
        self._need_optimizers("update")
        b = batch if batch.obs.device == self.device else batch.to(self.device)
        norms_before = _clone(self.norms.state_dict())
        try:
            return self._update(b)
        except TrainingError:
            # Targets of this batch must not linger in the normalisers of a failed update.
            self.norms.load_state_dict(norms_before)
            raise

    def _update(self, b: Batch) -> dict[str, float]:
        cfg = self.cfg
        p = self._prepare(b)
        update_no = self.policy_version + 1
        self._check_targets(p, update_no)
        B = b.obs.shape[1]
        n_mb = min(cfg.num_minibatches, B)
        has_high = p.seq.numel() > 0
        acc: dict[str, list[Tensor]] = {}
        steps = 0
        self.first_ratios = {}
        for _epoch in range(cfg.ppo_epochs):
            # Algorithm 1's order. The skill coordinator (Eq. 6) first: one step on every
            # decision of the batch (Table 1: one minibatch; a batch holds few decisions).
            if has_high:
                high, metrics, ratio_high = self._high_loss(p)
                self.first_ratios.setdefault("high", ratio_high)
                self._step(("coordinator",), high, metrics, "high", update_no, acc)
            # The skill discoverer (Eq. 7): num_minibatches steps over whole sequences.
            if n_mb == 1:
                parts: list[Tensor | None] = [None]
            else:
                perm = torch.randperm(B).to(self.device)
                parts = list(perm.chunk(n_mb))
            for ix in parts:
                low, metrics, ratio_low = self._low_loss(b, p, ix)
                self.first_ratios.setdefault("low", ratio_low)
                self._step(("actor", "critic"), low, metrics, "low", update_no, acc)
                steps += 1
            # The discriminators (Eq. 8): one step on the whole batch. In the first epoch
            # they are still the ones that scored this rollout: their accuracy then is
            # the rollout's (skills/*), the later epochs' is training accuracy.
            disc, metrics = self._disc_loss(b, p)
            if _epoch == 0:
                acc["skills/team_disc_accuracy"] = [metrics["disc/team_accuracy"].detach()]
                acc["skills/ind_disc_accuracy"] = [metrics["disc/ind_accuracy"].detach()]
            self._step(("disc",), disc, metrics, "disc", update_no, acc)
        self.optimizer_steps += steps
        self.policy_version += 1
        team_share, ind_share = reward_shares(cfg, b.env_reward, b.team_disc_logq, b.ind_disc_logq)
        acc["skills/intrinsic_share_team"] = [team_share]
        acc["skills/intrinsic_share_ind"] = [ind_share]
        acc["skills/team_skill_majority"] = [majority_share(b.team_skill, cfg.n_team_skills)]
        acc["skills/ind_skill_majority"] = [majority_share(b.ind_skill, cfg.n_ind_skills)]
        # Staleness at the update's start, per lag level present in the batch.
        for level, count in enumerate(p.lag_count.tolist()):
            if count > 0:
                acc[f"staleness/clipfrac_lag{level}"] = [p.lag_clipfrac[level]]
                acc[f"staleness/approx_kl_lag{level}"] = [p.lag_kl[level]]
        # One host read for every metric of the update: each is its mean over its steps.
        names = list(acc)
        means = torch.stack([torch.stack(acc[k]).mean() for k in names]).tolist()
        out = dict(zip(names, means, strict=True))
        for name in HIGH_METRICS:
            # A batch without decisions trains no coordinator step; report zeros so every
            # update logs the same names.
            out.setdefault(name, 0.0)
        out.setdefault("losses/grad_norm_high", 0.0)
        out["charts/high_level_samples"] = float(p.seq.numel())
        out["charts/high_level_window_reward"] = float(p.hl_reward.mean()) if has_high else 0.0
        return out

    def _step(
        self,
        groups: tuple[str, ...],
        loss: Tensor,
        metrics: dict[str, Tensor],
        level: str,
        update_no: int,
        acc: dict[str, list[Tensor]],
    ) -> None:
        """One optimiser step of the parameter ``groups`` on ``loss``: gradients, clip,
        finiteness check (before anything changes), Adam; ``metrics`` (plus the clipped
        gradient norm ``losses/grad_norm_{level}``) go to ``acc``."""
        for g in groups:
            self.optimizers[g].zero_grad(set_to_none=True)
        loss.backward()
        norms = [self._clip(g) for g in groups]
        metrics[f"losses/grad_norm_{level}"] = (
            norms[0] if len(norms) == 1 else torch.sqrt(sum(n * n for n in norms))
        )
        self._check_finite(metrics, update_no)
        for g in groups:
            self.optimizers[g].step()
        for k, v in metrics.items():
            acc.setdefault(k, []).append(v.detach())

    def _check_targets(self, p: _Prepared, update_no: int) -> None:
        """Non-finite advantages or targets (a NaN reward) would make every loss of this
        update NaN: stop before the first optimiser step, naming the loss they feed."""
        feeds = {
            "losses/low/policy": p.adv,
            "losses/low/value": p.ret,
            "losses/high/policy": p.hl_adv,
            "losses/high/value": p.hl_ret,
        }
        ok = torch.stack([torch.isfinite(v).all() for v in feeds.values()]).tolist()
        for name, fine in zip(feeds, ok, strict=True):
            if not fine:
                raise TrainingError(f"loss turned NaN at update {update_no}: {name}")

    @staticmethod
    def _check_finite(metrics: dict[str, Tensor], update_no: int) -> None:
        """One host sync per optimiser step; the error names the first bad loss."""
        names = [k for k in CHECKED if k in metrics]
        finite = torch.isfinite(torch.stack([metrics[k].detach() for k in names]))
        if bool(finite.all()):
            return
        bad = names[int((~finite).nonzero()[0])]
        raise TrainingError(f"loss turned NaN at update {update_no}: {bad}")

    # ------------------------------------------------------------------ state
    def _need_optimizers(self, what: str) -> None:
        if not self.trainable:
            raise TrainingError(f"cannot {what} an agent built with trainable=False (acting only)")

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser states, value normalisers and counters (copies, not views)."""
        self._need_optimizers("save")
        return _clone(
            {
                "modules": {k: m.state_dict() for k, m in self.modules().items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "policy_version": self.policy_version,
                "optimizer_steps": self.optimizer_steps,
            }
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`. Everything is checked before anything is loaded: a
        missing, unexpected or differently shaped tensor raises :class:`CheckpointError`
        naming it (a checkpoint from another config or env size)."""
        if not isinstance(state, dict):
            raise CheckpointError(f"agent state must be a dict, got {type(state).__name__}")
        for key in ("modules", "optimizers", "policy_version"):
            if key not in state:
                raise CheckpointError(f"agent state lacks '{key}'")
        modules, optims = state["modules"], state["optimizers"]
        for name, module in self.modules().items():
            if name not in modules:
                raise CheckpointError(f"agent state lacks the '{name}' weights")
            own, theirs = module.state_dict(), modules[name]
            for key, tensor in own.items():
                if key not in theirs:
                    raise CheckpointError(
                        f"agent checkpoint lacks tensor '{name}.{key}' that this config builds"
                    )
                if tuple(theirs[key].shape) != tuple(tensor.shape):
                    raise CheckpointError(
                        f"agent tensor '{name}.{key}' has shape {tuple(theirs[key].shape)} in "
                        f"the checkpoint but {tuple(tensor.shape)} under this config"
                    )
            extra = sorted(set(theirs) - set(own))
            if extra:
                raise CheckpointError(
                    f"agent checkpoint has tensor '{name}.{extra[0]}' that this config lacks"
                )
        for name, params in self.param_groups.items():
            if name not in optims:
                raise CheckpointError(f"agent state lacks the '{name}' optimiser")
            groups = optims[name].get("param_groups", [])
            sizes = [len(g["params"]) for g in groups]
            own_sizes = [len(params)]  # each optimiser holds one group: all its parameters
            if sizes != own_sizes:
                raise CheckpointError(
                    f"agent optimiser '{name}' holds {sizes} parameters in the checkpoint but "
                    f"{own_sizes} under this config"
                )
        for name, module in self.modules().items():
            module.load_state_dict(modules[name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(optims[name])
        self.policy_version = int(state["policy_version"])
        self.optimizer_steps = int(state.get("optimizer_steps", 0))
