"""The few operations our networks run, for one agent's weights or for G agents' at once.

Async training acts with G policy snapshots, each on its own block of env rows
(:mod:`hmasd.training.policy_groups`). Run one after another, G snapshots cost G forward
passes of a few dozen small operators per env step, and at the DAG's sizes (8 envs per
group) each operator's fixed cost outweighs its arithmetic: async collection took twice
sync's time. Stacked, the G copies of every weight form one tensor with a leading G dim,
and each operator runs once on all rows: a batched matmul (``baddbmm``) where one agent
runs a matmul.

Convention: a parameter with one more leading dim than its module declares holds G
agents' copies; the rows (leading dim) of every activation are G equal, contiguous
blocks, block g computed with copy g. With a module's own weights every function here is
the plain torch call (``F.linear``, ``F.layer_norm``, ``F.embedding``): the learner's
numbers, and sync training's, are those of ``nn.Linear`` & co. bit for bit. With stacked
weights each block gets its snapshot's numbers up to float rounding (a batched matmul
and a separate affine step round differently from one copy's ``addmm`` and fused layer
norm; tested to 1e-5 against the snapshots acting one by one in
``tests/test_training/test_policy_groups.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``x W^T + b``: x (..., in) with W (out, in), or stacked W (G, out, in), b (G, out)."""
    if weight.dim() == 2:
        return F.linear(x, weight, bias)
    G, out = weight.shape[:2]
    y = torch.baddbmm(bias.unsqueeze(1), x.reshape(G, -1, x.shape[-1]), weight.transpose(1, 2))
    return y.view(*x.shape[:-1], out)


def addmm_t(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``x W^T + b`` with ``W^T`` made contiguous first (the GRU step's layout, see
    :func:`hmasd.agent.gru.gru_step`): x (N, in), W (out, in) or (G, out, in)."""
    if weight.dim() == 2:
        return torch.addmm(bias, x, weight.t().contiguous())
    G, out = weight.shape[:2]
    w_t = weight.transpose(1, 2).contiguous()
    return torch.baddbmm(bias.unsqueeze(1), x.view(G, -1, x.shape[-1]), w_t).view(-1, out)


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """LayerNorm over the last dim with affine ``weight``/``bias`` (D,) or (G, D)."""
    D = x.shape[-1]
    if weight.dim() == 1:
        return F.layer_norm(x, (D,), weight, bias, eps)
    G = weight.shape[0]
    y = F.layer_norm(x, (D,), None, None, eps).view(G, -1, D)
    return torch.addcmul(bias.unsqueeze(1), y, weight.unsqueeze(1)).view(x.shape)


def embedding(index: Tensor, table: Tensor) -> Tensor:
    """Rows of ``table`` (num, H), or of block g's copy in a stacked table (G, num, H)."""
    if table.dim() == 2:
        return F.embedding(index, table)
    G, num, H = table.shape
    offset = torch.arange(G, device=index.device).unsqueeze(1) * num
    flat = index.reshape(G, -1) + offset
    return F.embedding(flat, table.reshape(G * num, H)).view(*index.shape, H)


def add_param(x: Tensor, param: Tensor, dims: int) -> Tensor:
    """``x + param`` broadcast over rows: x (B, ...), param of ``dims`` dims or stacked."""
    if param.dim() == dims:
        return x + param
    G = param.shape[0]
    return (x.view(G, -1, *x.shape[1:]) + param.view(G, 1, *param.shape[1:])).view(x.shape)


def param_rows(param: Tensor, rows: int, dims: int) -> Tensor:
    """``param`` (of ``dims`` dims, or stacked) repeated for ``rows`` rows: (rows, ...)."""
    if param.dim() == dims:
        return param.expand(rows, *param.shape)
    G = param.shape[0]
    per = param.unsqueeze(1).expand(G, rows // G, *param.shape[1:])
    return per.reshape(rows, *param.shape[1:])


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and checkpoint keys) that also runs stacked weights."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` (same parameters and keys) that also runs stacked weights."""

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.weight, self.bias, self.eps)


class Embedding(nn.Embedding):
    """``nn.Embedding`` (same parameter and key) that also runs a stacked table."""

    def forward(self, index: Tensor) -> Tensor:
        return embedding(index, self.weight)
