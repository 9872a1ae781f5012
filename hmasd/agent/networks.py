"""HMASD networks (Yang et al., NeurIPS 2023, section 4).

Every module is built in ``__init__``: nothing is created lazily, so the optimisers see every
parameter (the public script built networks inside ``forward`` and never trained them).
Agents are a batch dimension and share parameters. Shapes: ``B`` rows (envs, or decisions
in an update), ``n`` agents, ``T`` steps.

Layers are :mod:`hmasd.agent.grouped`'s (``nn.Linear``, ``nn.LayerNorm``, ``nn.Embedding``
with the same parameters and checkpoint keys), and parameters used directly go through its
functions, so the acting methods also run with G snapshots' weights stacked (async
acting, :mod:`hmasd.training.policy_groups`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmasd.agent.grouped import (
    Embedding,
    LayerNorm,
    Linear,
    add_param,
    linear,
    param_rows,
)
from hmasd.agent.gru import GRUSequence, gru_step
from hmasd.agent.ppo import categorical_logp_entropy


def mlp(sizes: list[int], out_gain: float = 1.0) -> nn.Sequential:
    """ReLU MLP with orthogonal init (PPO practice); the last layer gets ``out_gain``."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def onehot_cat(x: Tensor, index: Tensor, num: int) -> Tensor:
    """``[x, onehot(index)]`` along the last dim: (..., D), (...) long -> (..., D + num)."""
    return torch.cat([x, F.one_hot(index, num).to(x.dtype)], dim=-1)


class Attention(nn.Module):
    """Multi-head attention for short token sequences (n+1 <= a few dozen).

    Plain batched matmuls and a softmax: at these lengths this is several times cheaper
    to differentiate on CPU than the fused kernels of ``nn.MultiheadAttention``.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q = Linear(dim, dim)
        self.kv = Linear(dim, 2 * dim)
        self.out = Linear(dim, dim)

    def keys_values(self, memory: Tensor) -> Tensor:
        """Keys and values of ``memory`` (B, S, D): (2, B, heads, S, D / heads)."""
        B, S, D = memory.shape
        return self.kv(memory).view(B, S, 2, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)

    def forward(
        self, x: Tensor, memory: Tensor, mask: Tensor | None = None, kv: Tensor | None = None
    ) -> Tensor:
        """x (B, L, D) attends to memory (B, S, D); mask (L, S) additive. -> (B, L, D).
        ``kv``: :meth:`keys_values` of ``memory`` when the caller has them already."""
        B, L, D = x.shape
        h = self.heads
        q = self.q(x).view(B, L, h, D // h).transpose(1, 2)
        k, v = self.keys_values(memory) if kv is None else kv
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if mask is not None:
            scores = scores + mask
        y = torch.matmul(scores.softmax(-1), v)
        return self.out(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    """Post-norm transformer layer (as ``nn.TransformerEncoderLayer`` / ``DecoderLayer``):
    self-attention, then cross-attention to ``memory`` when ``cross``, then a ReLU MLP,
    each with a residual connection and LayerNorm. No dropout (on-policy RL)."""

    def __init__(self, dim: int, heads: int, cross: bool) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.norm1 = LayerNorm(dim)
        self.cross_attn = Attention(dim, heads) if cross else None
        self.norm2 = LayerNorm(dim) if cross else None
        self.ff = nn.Sequential(Linear(dim, 2 * dim), nn.ReLU(), Linear(2 * dim, dim))
        self.norm3 = LayerNorm(dim)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        memory_kv: Tensor | None = None,
    ) -> Tensor:
        """``memory_kv``: the cross-attention's keys and values of ``memory``, computed once
        when the same memory is attended to again and again (autoregressive sampling)."""
        x = self.norm1(x + self.self_attn(x, x, mask))
        if self.cross_attn is not None and self.norm2 is not None and memory is not None:
            x = self.norm2(x + self.cross_attn(x, memory, kv=memory_kv))
        return self.norm3(x + self.ff(x))


class SkillCoordinator(nn.Module):
    """High-level policy pi_h(Z, z_1..z_n | s, o) and its value heads V_h(s^), V_h(o^_i).

    Encoder: a transformer over the tokens (s, o_1..o_n), each embedded by its own linear
    layer (state and observations differ in size and meaning) plus a learned token-position
    embedding. V_h(s^) reads the state token, V_h(o^_i) agent i's token.

    Decoder: a causal transformer decoder over n+1 positions cross-attending to the encoder
    output. Position 0 holds a learned start token and emits Z; position j >= 1 holds the
    embedding of the choice made at position j-1 (Z for j = 1, z_{j-1} after) plus agent
    j's encoder token, and emits z_j. The causal mask makes position j see only choices
    before it, so ``p(Z, z) = p(Z | s, o) prod_i p(z_i | s, o, Z, z_<i)``; the same network
    samples autoregressively (acting) and scores stored choices in one teacher-forced pass
    (update).
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
        self.state_embed = Linear(state_dim, hidden)
        self.obs_embed = Linear(obs_dim, hidden)
        self.token_pos = nn.Parameter(torch.randn(n_agents + 1, hidden) * 0.02)
        self.encoder = nn.ModuleList([Block(hidden, heads, cross=False) for _ in range(layers)])
        self.decoder = nn.ModuleList([Block(hidden, heads, cross=True) for _ in range(layers)])
        self.start = nn.Parameter(torch.randn(hidden) * 0.02)
        self.team_embed = Embedding(n_team, hidden)
        self.ind_embed = Embedding(n_ind, hidden)
        self.dec_pos = nn.Parameter(torch.randn(n_agents + 1, hidden) * 0.02)
        self.team_head = mlp([hidden, hidden, n_team], out_gain=0.01)
        self.ind_head = mlp([hidden, hidden, n_ind], out_gain=0.01)
        self.value_state = mlp([hidden, hidden, 1])
        self.value_obs = mlp([hidden, hidden, 1])
        n1 = n_agents + 1
        mask = torch.triu(torch.full((n1, n1), float("-inf")), diagonal=1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def encode(self, state: Tensor, obs: Tensor) -> Tensor:
        """state (B, S), obs (B, n, O) -> encoder tokens (B, n+1, H)."""
        x = torch.cat([self.state_embed(state).unsqueeze(1), self.obs_embed(obs)], dim=1)
        x = add_param(x, self.token_pos, 2)
        for block in self.encoder:
            x = block(x)
        return x

    def values(self, enc: Tensor) -> tuple[Tensor, Tensor]:
        """V_h(s^) (B,) and V_h(o^_i) (B, n) from encoder tokens (B, n+1, H)."""
        s_tok, o_tok = enc.split([1, self.n_agents], dim=1)
        return self.value_state(s_tok).view(-1), self.value_obs(o_tok).squeeze(-1)

    def logits(
        self,
        enc: Tensor,
        team: Tensor,
        ind: Tensor,
        memory_kv: list[Tensor] | None = None,
        heads: tuple[bool, bool] = (True, True),
    ) -> tuple[Tensor | None, Tensor | None]:
        """Teacher-forced decoder pass: logits of Z (B, n_Z) and of each z_i (B, n, n_z)
        given the choices ``team`` (B,) and ``ind`` (B, n) before each position.

        ``memory_kv``: per decoder block, the cross-attention keys and values of ``enc``
        (sampling computes them once for its n+1 passes); ``heads``: which of the team and
        individual heads to run (None for the other). Either way each number is computed
        by the same operations on the same inputs, so sampling and scoring agree bitwise.
        """
        prev = self.team_embed(team).unsqueeze(1)
        if self.n_agents > 1:
            prev = torch.cat([prev, self.ind_embed(ind[:, :-1])], dim=1)
        start = param_rows(self.start, enc.shape[0], 1).unsqueeze(1)
        x = add_param(torch.cat([start, prev + enc[:, 1:]], dim=1), self.dec_pos, 2)
        for i, block in enumerate(self.decoder):
            kv = None if memory_kv is None else memory_kv[i]
            x = block(x, enc, self.causal_mask, memory_kv=kv)
        z_tok, i_tok = x.split([1, self.n_agents], dim=1)
        team_logits = self.team_head(z_tok).squeeze(1) if heads[0] else None
        ind_logits = self.ind_head(i_tok) if heads[1] else None
        return team_logits, ind_logits

    def score(
        self, state: Tensor, obs: Tensor, team: Tensor, ind: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Score STORED skills in one pass (teacher forcing); nothing is sampled.

        Returns per decoder position (column 0: Z; column i: z_i given Z, z_<i) the
        log-prob of the stored choice (B, n+1) and the entropy of the distribution it was
        drawn from (B, n+1), then V_h(s^) (B,) and V_h(o^_i) (B, n). Eq. 6 of the paper
        has one PPO term per column, so nothing is summed here.
        """
        enc = self.encode(state, obs)
        team_logits, ind_logits = self.logits(enc, team, ind)
        lp_t, h_t = categorical_logp_entropy(team_logits, team)
        lp_i, h_i = categorical_logp_entropy(ind_logits, ind)
        v_s, v_o = self.values(enc)
        logp = torch.cat([lp_t.unsqueeze(-1), lp_i], dim=-1)
        entropy = torch.cat([h_t.unsqueeze(-1), h_i], dim=-1)
        return logp, entropy, v_s, v_o

    @torch.no_grad()
    def sample(
        self, state: Tensor, obs: Tensor, deterministic: bool = False
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Choose Z, then z_1..z_n, each conditioned on the choices before it.

        Every pass runs the full-length teacher-forced decoder (later positions hold
        placeholders the causal mask hides), so position j computes exactly what
        :meth:`score` computes for it. Returns team (B,), ind (B, n), the log-prob of each
        choice (B, n+1) (as :meth:`score` returns them), V_h(s^) (B,), V_h(o^_i) (B, n).
        ``deterministic`` takes the most likely choice at each position (greedy decoding).
        """
        enc = self.encode(state, obs)
        B, n = state.shape[0], self.n_agents
        team = torch.zeros(B, dtype=torch.long, device=state.device)
        ind = torch.zeros(B, n, dtype=torch.long, device=state.device)
        logps = torch.zeros(B, n + 1, device=state.device)
        # The encoder output is the same memory for all n+1 passes.
        memory_kv = [
            block.cross_attn.keys_values(enc) for block in self.decoder if block.cross_attn
        ]
        for j in range(n + 1):
            team_logits, ind_logits = self.logits(
                enc, team, ind, memory_kv, heads=(j == 0, j > 0)
            )
            logits = team_logits if j == 0 else ind_logits[:, j - 1]  # type: ignore[index]
            if deterministic:
                choice = logits.argmax(-1)
            else:
                choice = torch.multinomial(F.softmax(logits, -1), 1).squeeze(-1)
            logps[:, j] = categorical_logp_entropy(logits, choice)[0]
            if j == 0:
                team = choice
            else:
                ind[:, j - 1] = choice
        v_s, v_o = self.values(enc)
        return team, ind, logps, v_s, v_o


class SkillActor(nn.Module):
    """Skill discoverer's actor pi_l(a_i | o_i, z_i), shared by all agents.

    Input ``[o_i, onehot(z_i)]`` -> MLP -> GRU -> MLP -> Gaussian mean (``recurrent``), or
    MLP -> MLP. The ``nn.GRU`` module holds the GRU's weights (checkpoint keys
    ``gru.weight_ih_l0`` ...); :mod:`hmasd.agent.gru` runs them. The log-std is a learned,
    state-independent vector. Log-probs refer to the raw Gaussian sample; the env receives
    it clamped to [-1, 1].
    """

    def __init__(
        self, obs_dim: int, n_ind: int, act_dim: int, hidden: int, recurrent: bool, log_std: float
    ) -> None:
        super().__init__()
        self.n_ind, self.hidden, self.recurrent = n_ind, hidden, recurrent
        self.pre = mlp([obs_dim + n_ind, hidden, hidden])
        self.gru = nn.GRU(hidden, hidden) if recurrent else None
        self.post = mlp([hidden, hidden, act_dim], out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std)))

    def inputs(self, obs: Tensor, ind: Tensor) -> Tensor:
        """(..., O), (...) long -> actor input (..., O + n_z)."""
        return onehot_cat(obs, ind, self.n_ind)

    def step(self, x: Tensor, hidden: Tensor, reset: Tensor) -> tuple[Tensor, Tensor]:
        """One env step for N rows: input x (N, O + n_z), hidden (N, H), reset (N,) bool
        (hidden zeroed first). Returns the action mean (N, A) and the next hidden (N, H)."""
        feat = torch.relu(self.pre(x))
        if self.gru is None:
            return self.post(feat), hidden
        g = self.gru
        gi = linear(feat, g.weight_ih_l0, g.bias_ih_l0)
        h_next = gru_step(gi, hidden, reset, g.weight_hh_l0, g.bias_hh_l0)
        return self.post(h_next), h_next

    def replay(self, x: Tensor, hidden0: Tensor, reset: Tensor, cuts: list[int]) -> Tensor:
        """Recompute action means over stored sequences exactly as the rollout did.

        x (T, N, O + n_z); hidden0 (N, H): hidden before step 0; reset (T, N) bool: hidden
        zeroed before step t; ``cuts``: sorted step indices t > 0 where any row resets (the
        only steps that apply the mask). The recurrence is :class:`GRUSequence`, the cell
        :meth:`step` runs, with a hand-written backward. Returns means (T, N, A).
        """
        feat = torch.relu(self.pre(x))
        if self.gru is None:
            return self.post(feat)
        g = self.gru
        gi = linear(feat, g.weight_ih_l0, g.bias_ih_l0)
        hs = GRUSequence.apply(gi, hidden0, reset, cuts, g.weight_hh_l0, g.bias_hh_l0)
        return self.post(hs)


class LowCritic(nn.Module):
    """Skill discoverer's centralised critic V_l(s, Z) with one output per agent.

    Every agent sees the same global state and team skill, but agent i's low-level reward
    r_i = lambda_e r + lambda_D log q_D(Z | s') + lambda_d log q_d(z_i | o_i', Z) differs by
    agent through the individual-discriminator term, so each agent has its own return and
    the critic predicts all n of them at once: ``[s, onehot(Z)]`` -> (..., n).
    """

    def __init__(self, state_dim: int, n_team: int, n_agents: int, hidden: int) -> None:
        super().__init__()
        self.n_team = n_team
        self.net = mlp([state_dim + n_team, hidden, hidden, n_agents])

    def inputs(self, state: Tensor, team: Tensor) -> Tensor:
        """(..., S), (...) long -> (..., S + n_Z)."""
        return onehot_cat(state, team, self.n_team)

    def forward(self, state: Tensor, team: Tensor) -> Tensor:
        """(..., S), (...) long -> values (..., n)."""
        return self.net(self.inputs(state, team))


class TeamDiscriminator(nn.Module):
    """q_D(Z | s): which team skill led to this global state. Logits (..., n_Z)."""

    def __init__(self, state_dim: int, n_team: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp([state_dim, hidden, hidden, n_team])

    def forward(self, state: Tensor) -> Tensor:
        return self.net(state)


class IndividualDiscriminator(nn.Module):
    """q_d(z_i | o_i, Z): which individual skill led to agent i's observation, given Z.

    Shared across agents: ``[o_i, onehot(Z)]`` -> logits (..., n, n_z).
    """

    def __init__(self, obs_dim: int, n_team: int, n_ind: int, hidden: int) -> None:
        super().__init__()
        self.n_team = n_team
        self.net = mlp([obs_dim + n_team, hidden, hidden, n_ind])

    def inputs(self, obs: Tensor, team: Tensor) -> Tensor:
        """obs (..., n, O), team (...) long -> (..., n, O + n_Z)."""
        team = team.unsqueeze(-1).expand(obs.shape[:-1])
        return onehot_cat(obs, team, self.n_team)

    def forward(self, obs: Tensor, team: Tensor) -> Tensor:
        return self.net(self.inputs(obs, team))
