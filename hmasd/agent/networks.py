"""HMASD networks (Yang et al., NeurIPS 2023, section 4).

Every module is built in ``__init__``: nothing is created lazily, so the optimisers see every
parameter (the public script built networks inside ``forward`` and never trained them).
Agents are a batch dimension; parameters are shared across agents.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def mlp(sizes: list[int], out_gain: float = 1.0) -> nn.Sequential:
    """ReLU MLP with orthogonal init; the last layer gets ``out_gain``."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SkillCoordinator(nn.Module):
    """High-level policy over (Z, z_1..z_n) and its two value heads.

    A transformer encoder reads the tokens (s, o_1..o_n); V_h(s) reads the state token and
    V_h(o_i) the agent tokens. A causal transformer decoder emits Z, then z_1..z_n: its input
    at position 0 is a start token, at position j >= 1 the embedding of the previous choice
    plus agent j's encoder token, so z_j is conditioned on Z, z_<j and o_j.
    """

    def __init__(
        self,
        state_dim: int,
        obs_dim: int,
        n_agents: int,
        n_team: int,
        n_ind: int,
        hidden: int,
        layers: int,
        heads: int,
    ) -> None:
        super().__init__()
        self.n_agents, self.n_team, self.n_ind = n_agents, n_team, n_ind
        self.state_embed = nn.Linear(state_dim, hidden)
        self.obs_embed = nn.Linear(obs_dim, hidden)
        self.token_pos = nn.Parameter(torch.randn(n_agents + 1, hidden) * 0.02)
        enc_layer = nn.TransformerEncoderLayer(
            hidden, heads, 2 * hidden, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(enc_layer, layers, enable_nested_tensor=False)
        dec_layer = nn.TransformerDecoderLayer(
            hidden, heads, 2 * hidden, dropout=0.0, batch_first=True
        )
        self.decoder = nn.TransformerDecoder(dec_layer, layers)
        self.start = nn.Parameter(torch.randn(hidden) * 0.02)
        self.team_embed = nn.Embedding(n_team, hidden)
        self.ind_embed = nn.Embedding(n_ind, hidden)
        self.dec_pos = nn.Parameter(torch.randn(n_agents + 1, hidden) * 0.02)
        self.team_head = mlp([hidden, n_team], out_gain=0.01)
        self.ind_head = mlp([hidden, n_ind], out_gain=0.01)
        self.value_state = mlp([hidden, hidden, 1])
        self.value_obs = mlp([hidden, hidden, 1])
        mask = torch.triu(torch.full((n_agents + 1, n_agents + 1), float("-inf")), diagonal=1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def encode(self, state: Tensor, obs: Tensor) -> Tensor:
        """(B, S), (B, n, O) -> encoder tokens (B, n+1, H)."""
        tokens = torch.cat([self.state_embed(state).unsqueeze(1), self.obs_embed(obs)], dim=1)
        return self.encoder(tokens + self.token_pos)

    def values(self, enc: Tensor) -> tuple[Tensor, Tensor]:
        """V_h(s) (B,) and V_h(o_i) (B, n) from encoder tokens."""
        return self.value_state(enc[:, 0]).squeeze(-1), self.value_obs(enc[:, 1:]).squeeze(-1)

    def _decoder_inputs(self, enc: Tensor, team: Tensor, ind: Tensor) -> Tensor:
        """Teacher-forced decoder inputs (B, n+1, H) from stored choices."""
        B = enc.shape[0]
        prev = [self.team_embed(team).unsqueeze(1)]
        if self.n_agents > 1:
            prev.append(self.ind_embed(ind[:, :-1]))
        prev_t = torch.cat(prev, dim=1) + enc[:, 1:]
        start = self.start.expand(B, 1, -1)
        return torch.cat([start, prev_t], dim=1) + self.dec_pos

    def _logits(self, dec_out: Tensor) -> tuple[Tensor, Tensor]:
        return self.team_head(dec_out[:, 0]), self.ind_head(dec_out[:, 1:])

    def score(
        self, state: Tensor, obs: Tensor, team: Tensor, ind: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Score stored skills in one pass (teacher forcing).

        Returns joint log-prob (B,), joint entropy (B,), V_h(s) (B,), V_h(o) (B, n).
        """
        enc = self.encode(state, obs)
        n1 = self.n_agents + 1
        dec = self.decoder(
            self._decoder_inputs(enc, team, ind), enc, tgt_mask=self.causal_mask[:n1, :n1]
        )
        team_logits, ind_logits = self._logits(dec)
        team_dist = torch.distributions.Categorical(logits=team_logits)
        ind_dist = torch.distributions.Categorical(logits=ind_logits)
        logp = team_dist.log_prob(team) + ind_dist.log_prob(ind).sum(-1)
        entropy = team_dist.entropy() + ind_dist.entropy().sum(-1)
        v_s, v_o = self.values(enc)
        return logp, entropy, v_s, v_o

    @torch.no_grad()
    def sample(
        self, state: Tensor, obs: Tensor, deterministic: bool = False
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Autoregressive choice of Z then z_1..z_n.

        Returns team (B,), ind (B, n), joint log-prob (B,), V_h(s) (B,), V_h(o) (B, n).
        """
        enc = self.encode(state, obs)
        B, n = state.shape[0], self.n_agents
        team = torch.zeros(B, dtype=torch.long, device=state.device)
        ind = torch.zeros(B, n, dtype=torch.long, device=state.device)
        logp = torch.zeros(B, device=state.device)
        for j in range(n + 1):
            inputs = self._decoder_inputs(enc, team, ind)[:, : j + 1]
            dec = self.decoder(inputs, enc, tgt_mask=self.causal_mask[: j + 1, : j + 1])
            head = self.team_head if j == 0 else self.ind_head
            dist = torch.distributions.Categorical(logits=head(dec[:, j]))
            choice = dist.probs.argmax(-1) if deterministic else dist.sample()
            logp = logp + dist.log_prob(choice)
            if j == 0:
                team = choice
            else:
                ind[:, j - 1] = choice
        v_s, v_o = self.values(enc)
        return team, ind, logp, v_s, v_o


class SkillActor(nn.Module):
    """Shared decentralised actor pi_l(a_i | o_i, z_i): MLP -> GRU -> MLP (or plain MLP).

    Gaussian head with a state-independent learned log-std; log-probs are of the raw sample,
    the env receives it clipped to [-1, 1].
    """

    def __init__(
        self, obs_dim: int, n_ind: int, act_dim: int, hidden: int, recurrent: bool, log_std: float
    ) -> None:
        super().__init__()
        self.n_ind, self.hidden, self.recurrent = n_ind, hidden, recurrent
        self.pre = mlp([obs_dim + n_ind, hidden, hidden])
        self.gru = nn.GRU(hidden, hidden) if recurrent else None
        self.post = mlp([hidden, hidden, act_dim], out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), log_std))

    def _features(self, obs: Tensor, ind: Tensor) -> Tensor:
        onehot = torch.nn.functional.one_hot(ind, self.n_ind).to(obs.dtype)
        return torch.relu(self.pre(torch.cat([obs, onehot], dim=-1)))

    def step(
        self, obs: Tensor, ind: Tensor, hidden: Tensor, reset: Tensor
    ) -> tuple[Tensor, Tensor]:
        """One step for (N,) rows: obs (N, O), ind (N,), hidden (N, H), reset (N,) bool.

        Returns action mean (N, A) and the next hidden (N, H).
        """
        x = self._features(obs, ind)
        if self.gru is None:
            return self.post(x), hidden
        h = hidden * (~reset).unsqueeze(-1).to(hidden.dtype)
        out, h_next = self.gru(x.unsqueeze(0), h.unsqueeze(0))
        return self.post(out[0]), h_next[0]

    def replay(self, obs: Tensor, ind: Tensor, hidden0: Tensor, reset: Tensor) -> Tensor:
        """Recompute means over stored sequences: obs (T, N, O), ind (T, N), hidden0 (N, H),
        reset (T, N) bool (hidden zeroed before step t). Returns means (T, N, A).

        The GRU runs over whole chunks between the steps where any sequence resets, so a
        rollout without episode ends inside is a single cuDNN/MKL call.
        """
        x = self._features(obs, ind)
        if self.gru is None:
            return self.post(x)
        T = x.shape[0]
        cut_times = [0] + [int(t) for t in torch.nonzero(reset[1:].any(dim=1)).flatten() + 1]
        bounds = cut_times + [T]
        outs = []
        h = hidden0
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            h = h * (~reset[a]).unsqueeze(-1).to(h.dtype)
            out, h_last = self.gru(x[a:b], h.unsqueeze(0))
            outs.append(out)
            h = h_last[0]
        return self.post(torch.cat(outs, dim=0))

    def dist(self, mean: Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))


class LowCritic(nn.Module):
    """Centralised critic V_l(s, Z), one value per agent.

    The low-level reward r_i differs by agent through the individual discriminator term,
    so the critic has a head per agent (all reading the same global state and team skill).
    """

    def __init__(self, state_dim: int, n_team: int, n_agents: int, hidden: int) -> None:
        super().__init__()
        self.n_team = n_team
        self.net = mlp([state_dim + n_team, hidden, hidden, n_agents])

    def forward(self, state: Tensor, team: Tensor) -> Tensor:
        """(..., S), (...) long -> (..., n)."""
        onehot = torch.nn.functional.one_hot(team, self.n_team).to(state.dtype)
        return self.net(torch.cat([state, onehot], dim=-1))


class TeamDiscriminator(nn.Module):
    """q_D(Z | s): which team skill produced this state."""

    def __init__(self, state_dim: int, n_team: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp([state_dim, hidden, hidden, n_team])

    def forward(self, state: Tensor) -> Tensor:
        return self.net(state)


class IndividualDiscriminator(nn.Module):
    """q_d(z_i | o_i, Z): which individual skill produced this observation, given Z."""

    def __init__(self, obs_dim: int, n_team: int, n_ind: int, hidden: int) -> None:
        super().__init__()
        self.n_team = n_team
        self.net = mlp([obs_dim + n_team, hidden, hidden, n_ind])

    def forward(self, obs: Tensor, team: Tensor) -> Tensor:
        """obs (..., n, O), team (...) -> logits (..., n, n_ind)."""
        onehot = torch.nn.functional.one_hot(team, self.n_team).to(obs.dtype)
        onehot = onehot.unsqueeze(-2).expand(*obs.shape[:-1], self.n_team)
        return self.net(torch.cat([obs, onehot], dim=-1))
