"""HMASD agent: acting at both levels, the intrinsic reward, and one PPO update of every network.

Read top to bottom, :meth:`HMASDAgent.update` is the algorithm: advantages for both levels
(GAE in real time order), value-normaliser updates, then ``ppo_epochs`` epochs over
minibatches of whole sequences where the skill discoverer (actor + critic), the skill
coordinator (scoring the *stored* skills) and both discriminators take one optimiser step
each, and finally ``policy_version += 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmasd.agent.batch import Batch
from hmasd.agent.networks import (
    IndividualDiscriminator,
    LowCritic,
    SkillActor,
    SkillCoordinator,
    TeamDiscriminator,
)
from hmasd.agent.ppo import ValueNorm, gae, policy_loss, value_loss, window_gae
from hmasd.config import AgentConfig
from hmasd.errors import CheckpointError, TrainingError


def low_level_reward(
    env_reward: Tensor, team_logq: Tensor, ind_logq: Tensor, cfg: AgentConfig
) -> Tensor:
    """r_i = lambda_e r + lambda_D log q_D(Z | s') + lambda_d log q_d(z_i | o_i', Z).

    env_reward (B,), team_logq (B,), ind_logq (B, n) -> (B, n).
    """
    team = cfg.lambda_e * env_reward + cfg.lambda_D * team_logq
    return team.unsqueeze(-1) + cfg.lambda_d * ind_logq


@dataclass
class SkillOut:
    team: Tensor
    """(B,) long team skill Z."""
    ind: Tensor
    """(B, n) long individual skills z_i."""
    logp: Tensor
    """(B,) joint log-prob of (Z, z_1..z_n)."""
    value_state: Tensor
    """(B,) V_h(s) (normalised space)."""
    value_obs: Tensor
    """(B, n) V_h(o_i) (normalised space)."""


@dataclass
class ActOut:
    action: Tensor
    """(B, n, A) action clipped to [-1, 1] (what the env receives)."""
    raw_action: Tensor
    """(B, n, A) raw Gaussian sample (what log-probs refer to)."""
    logp: Tensor
    """(B, n) log pi_l(raw | o, z)."""
    value: Tensor
    """(B, n) V_l(s, Z) (normalised space)."""
    hidden: Tensor
    """(B, n, H) next actor hidden state."""


class HMASDAgent:
    """Skill coordinator, skill discoverer, discriminators and their optimisers."""

    def __init__(
        self,
        cfg: AgentConfig,
        n_agents: int,
        obs_dim: int,
        state_dim: int,
        action_dim: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.n_agents, self.obs_dim, self.state_dim, self.action_dim = (
            n_agents,
            obs_dim,
            state_dim,
            action_dim,
        )
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
        ).to(self.device)
        self.actor = SkillActor(
            obs_dim, cfg.n_ind_skills, action_dim, H, cfg.actor == "gru", cfg.init_log_std
        ).to(self.device)
        self.critic = LowCritic(state_dim, cfg.n_team_skills, n_agents, H).to(self.device)
        self.team_disc = TeamDiscriminator(state_dim, cfg.n_team_skills, H).to(self.device)
        self.ind_disc = IndividualDiscriminator(obs_dim, cfg.n_team_skills, cfg.n_ind_skills, H).to(
            self.device
        )
        self.norms = nn.ModuleDict(
            {
                "low": ValueNorm(cfg.value_norm),
                "high_state": ValueNorm(cfg.value_norm),
                "high_obs": ValueNorm(cfg.value_norm),
            }
        ).to(self.device)
        # Built after every network exists: the optimisers hold every parameter.
        low_params = list(self.actor.parameters()) + list(self.critic.parameters())
        disc_params = list(self.team_disc.parameters()) + list(self.ind_disc.parameters())
        self.optimizers = {
            "low": torch.optim.Adam(low_params, lr=cfg.lr, eps=cfg.adam_eps),
            "high": torch.optim.Adam(self.coordinator.parameters(), lr=cfg.lr, eps=cfg.adam_eps),
            "disc": torch.optim.Adam(disc_params, lr=cfg.lr, eps=cfg.adam_eps),
        }
        self.policy_version = 0
        self.optimizer_steps = 0

    # ------------------------------------------------------------------ modules
    def modules(self) -> dict[str, nn.Module]:
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
        """(B, n, H) zeros."""
        return torch.zeros(num_envs, self.n_agents, self.cfg.hidden_dim, device=self.device)

    @torch.no_grad()
    def choose_skills(self, state: Tensor, obs: Tensor, deterministic: bool = False) -> SkillOut:
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
        """obs (B, n, O), state (B, S), team (B,), ind (B, n), hidden (B, n, H),
        episode_start (B,) bool (hidden reset before acting)."""
        B, n = obs.shape[:2]
        reset = episode_start.unsqueeze(1).expand(B, n).reshape(B * n)
        mean, h = self.actor.step(
            obs.reshape(B * n, -1), ind.reshape(B * n), hidden.reshape(B * n, -1), reset
        )
        dist = self.actor.dist(mean)
        raw = mean if deterministic else dist.sample()
        logp = dist.log_prob(raw).sum(-1)
        value = self.critic(state, team)
        return ActOut(
            action=raw.clamp(-1.0, 1.0).reshape(B, n, -1),
            raw_action=raw.reshape(B, n, -1),
            logp=logp.reshape(B, n),
            value=value,
            hidden=h.reshape(B, n, -1),
        )

    @torch.no_grad()
    def intrinsic(
        self, next_state: Tensor, next_obs: Tensor, team: Tensor, ind: Tensor
    ) -> tuple[Tensor, Tensor]:
        """log q_D(Z | s') (B,) and log q_d(z_i | o_i', Z) (B, n)."""
        tq = F.log_softmax(self.team_disc(next_state), -1).gather(-1, team.unsqueeze(-1))
        iq = F.log_softmax(self.ind_disc(next_obs, team), -1).gather(-1, ind.unsqueeze(-1))
        return tq.squeeze(-1), iq.squeeze(-1)

    # ------------------------------------------------------------------ update
    @torch.no_grad()
    def _advantages(self, b: Batch) -> dict[str, Tensor]:
        """Advantages and value targets of both levels, in real time order."""
        cfg = self.cfg
        low_norm, hs_norm, ho_norm = (
            self.norms["low"],
            self.norms["high_state"],
            self.norms["high_obs"],
        )
        # Low level: V(s_{t+1}) is the next row's value, the terminal state's value at a
        # time-limit end (bootstrap through truncation), V(last_state) after the last row.
        values = low_norm.denormalize(b.value)
        v_terminal = low_norm.denormalize(self.critic(b.next_state, b.team_skill))
        v_last = low_norm.denormalize(self.critic(b.last_state, b.last_team_skill))
        next_values = torch.cat([values[1:], v_last.unsqueeze(0)], dim=0)
        next_values = torch.where(b.done.unsqueeze(-1), v_terminal, next_values)
        adv = gae(b.reward, values, next_values, b.done, cfg.gamma, cfg.gae_lambda)
        ret = adv + values

        # High level: windows start at decisions; one discount per window.
        hv = hs_norm.denormalize(b.hl_value_state)
        T, B = b.done.shape
        term_v = torch.zeros(T, B, device=self.device)
        if bool(b.done.any()):
            idx = b.done.nonzero(as_tuple=True)
            enc = self.coordinator.encode(b.next_state[idx], b.next_obs[idx])
            term_v[idx] = hs_norm.denormalize(self.coordinator.values(enc)[0])
        last_enc = self.coordinator.encode(b.last_state, b.last_obs)
        last_v = hs_norm.denormalize(self.coordinator.values(last_enc)[0])
        hl_adv, win_r = window_gae(
            b.env_reward, b.decision, b.done, hv, term_v, last_v, cfg.gamma, cfg.gae_lambda
        )
        hl_ret = hl_adv + hv
        dec = b.decision
        low_norm.update(ret)
        hs_norm.update(hl_ret[dec])
        ho_norm.update(hl_ret[dec])
        return {
            "adv": adv,
            "ret": low_norm.normalize(ret),
            "hl_adv": hl_adv,
            "hl_ret_s": hs_norm.normalize(hl_ret),
            "hl_ret_o": ho_norm.normalize(hl_ret),
            "hl_reward": win_r,
        }

    def _low_loss(self, b: Batch, ix: Tensor, a: dict[str, Tensor]) -> tuple[Tensor, dict]:
        cfg = self.cfg
        obs = b.obs[:, ix]  # (T, m, n, O)
        T, m, n = obs.shape[:3]
        reset = b.episode_start[:, ix].unsqueeze(-1).expand(T, m, n).reshape(T, m * n)
        mean = self.actor.replay(
            obs.reshape(T, m * n, -1),
            b.ind_skill[:, ix].reshape(T, m * n),
            b.hidden0[ix].reshape(m * n, -1),
            reset,
        )
        dist = self.actor.dist(mean)
        logp = dist.log_prob(b.action[:, ix].reshape(T, m * n, -1)).sum(-1).reshape(T, m, n)
        entropy = dist.entropy().sum(-1).mean()
        adv = a["adv"][:, ix]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pl, kl, cf = policy_loss(logp, b.logp[:, ix], adv, cfg.clip_coef)
        values = self.critic(b.state[:, ix], b.team_skill[:, ix])
        vl = value_loss(values, b.value[:, ix], a["ret"][:, ix], cfg.clip_coef, cfg.huber_delta)
        loss = pl + vl - cfg.lambda_l * entropy
        return loss, {
            "losses/low/policy": pl,
            "losses/low/value": vl,
            "losses/low/entropy": entropy,
            "losses/low/approx_kl": kl,
            "losses/low/clipfrac": cf,
            "_low_logp": logp,
        }

    def _high_loss(self, b: Batch, ix: Tensor, a: dict[str, Tensor]) -> tuple[Tensor, dict]:
        cfg = self.cfg
        dec = b.decision[:, ix]
        sel = dec.nonzero(as_tuple=True)
        if sel[0].numel() == 0:
            zero = torch.zeros((), device=self.device)
            return zero, {}
        cols = ix[sel[1]]
        rows = sel[0]
        logp, entropy, v_s, v_o = self.coordinator.score(
            b.state[rows, cols],
            b.obs[rows, cols],
            b.team_skill[rows, cols],
            b.ind_skill[rows, cols],
        )
        adv = a["hl_adv"][rows, cols]
        if adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pl, kl, cf = policy_loss(logp, b.hl_logp[rows, cols], adv, cfg.clip_coef)
        vl_s = value_loss(
            v_s,
            b.hl_value_state[rows, cols],
            a["hl_ret_s"][rows, cols],
            cfg.clip_coef,
            cfg.huber_delta,
        )
        ret_o = a["hl_ret_o"][rows, cols].unsqueeze(-1).expand_as(v_o)
        vl_o = value_loss(v_o, b.hl_value_obs[rows, cols], ret_o, cfg.clip_coef, cfg.huber_delta)
        ent = entropy.mean()
        loss = pl + vl_s + vl_o - cfg.lambda_h * ent
        return loss, {
            "losses/high/policy": pl,
            "losses/high/value": vl_s + vl_o,
            "losses/high/entropy": ent,
            "losses/high/approx_kl": kl,
            "losses/high/clipfrac": cf,
            "_high_logp": logp,
        }

    def _disc_loss(self, b: Batch, ix: Tensor) -> tuple[Tensor, dict]:
        team = b.team_skill[:, ix]
        t_logits = self.team_disc(b.next_state[:, ix])
        i_logits = self.ind_disc(b.next_obs[:, ix], team)
        ind = b.ind_skill[:, ix]
        lt = F.cross_entropy(t_logits.reshape(-1, t_logits.shape[-1]), team.reshape(-1))
        li = F.cross_entropy(i_logits.reshape(-1, i_logits.shape[-1]), ind.reshape(-1))
        with torch.no_grad():
            acc_t = (t_logits.argmax(-1) == team).float().mean()
            acc_i = (i_logits.argmax(-1) == ind).float().mean()
        return lt + li, {
            "losses/disc/team": lt,
            "losses/disc/ind": li,
            "disc/team_accuracy": acc_t,
            "disc/ind_accuracy": acc_i,
        }

    def update(self, batch: Batch) -> dict[str, float]:
        """One PPO update of every network on ``batch``; ``policy_version += 1``.

        Raises :class:`TrainingError` (before any optimiser step) when a loss is not finite.
        """
        cfg = self.cfg
        b = batch.to(self.device) if batch.obs.device != self.device else batch
        a = self._advantages(b)
        B = b.obs.shape[1]
        mb = max(1, B // cfg.num_minibatches)
        sums: dict[str, Tensor] = {}
        count = 0
        gen = torch.Generator(device="cpu").manual_seed(self.policy_version)
        low_params = list(self.actor.parameters()) + list(self.critic.parameters())
        for _ in range(cfg.ppo_epochs):
            perm = torch.randperm(B, generator=gen).to(self.device)
            for start in range(0, B, mb):
                ix = perm[start : start + mb]
                low, lm = self._low_loss(b, ix, a)
                high, hm = self._high_loss(b, ix, a)
                disc, dm = self._disc_loss(b, ix)
                metrics = {**lm, **hm, **dm}
                for name in (
                    "losses/low/policy",
                    "losses/low/value",
                    "losses/high/policy",
                    "losses/high/value",
                    "losses/disc/team",
                    "losses/disc/ind",
                ):
                    if name in metrics and not bool(torch.isfinite(metrics[name])):
                        raise TrainingError(
                            f"loss turned NaN at update {self.policy_version + 1}: {name}"
                        )
                for opt in self.optimizers.values():
                    opt.zero_grad(set_to_none=True)
                (low + high + disc).backward()
                gn_low = nn.utils.clip_grad_norm_(low_params, cfg.max_grad_norm)
                gn_high = nn.utils.clip_grad_norm_(self.coordinator.parameters(), cfg.max_grad_norm)
                nn.utils.clip_grad_norm_(
                    list(self.team_disc.parameters()) + list(self.ind_disc.parameters()),
                    cfg.max_grad_norm,
                )
                for opt in self.optimizers.values():
                    opt.step()
                self.optimizer_steps += 1
                metrics["losses/grad_norm_low"] = gn_low
                metrics["losses/grad_norm_high"] = gn_high
                for k, v in metrics.items():
                    if not k.startswith("_"):
                        sums[k] = sums.get(k, 0.0) + v.detach()
                count += 1
        self.policy_version += 1
        out = {k: float(v) / count for k, v in sums.items()}
        dec = b.decision
        out["charts/high_level_samples"] = float(dec.sum())
        out["charts/high_level_window_reward"] = (
            float(a["hl_reward"][dec].mean()) if bool(dec.any()) else 0.0
        )
        out["charts/low_level_reward"] = float(b.reward.mean())
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "policy_version": self.policy_version,
            "optimizer_steps": self.optimizer_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything; a shape or key mismatch raises :class:`CheckpointError`."""
        try:
            modules = state["modules"]
            for name, module in self.modules().items():
                own = module.state_dict()
                theirs = modules[name]
                missing = set(own) - set(theirs)
                if missing:
                    raise CheckpointError(f"agent {name}: missing tensor '{sorted(missing)[0]}'")
                for key, tensor in own.items():
                    if tuple(theirs[key].shape) != tuple(tensor.shape):
                        raise CheckpointError(
                            f"agent {name}.{key}: shape {tuple(theirs[key].shape)} in checkpoint, "
                            f"{tuple(tensor.shape)} expected from the config"
                        )
                module.load_state_dict(theirs)
            for name, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
            self.policy_version = int(state["policy_version"])
            self.optimizer_steps = int(state.get("optimizer_steps", 0))
        except KeyError as exc:
            raise CheckpointError(f"agent state lacks {exc}") from None
