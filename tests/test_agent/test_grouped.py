"""The layer ops on one agent's weights (plain torch calls) and on G agents' stacked."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.testing import assert_close

from hmasd.agent.grouped import (
    Embedding,
    LayerNorm,
    Linear,
    add_param,
    addmm_t,
    embedding,
    layer_norm,
    linear,
    param_rows,
)

G = 3


def test_one_agents_weights_run_the_plain_torch_calls_bit_for_bit() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 5, 6)
    lin, ln, emb = Linear(6, 7), LayerNorm(6), Embedding(3, 6)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    assert torch.equal(lin(x), F.linear(x, lin.weight, lin.bias))
    assert torch.equal(ln(x), F.layer_norm(x, (6,), ln.weight, ln.bias, ln.eps))
    idx = torch.tensor([[0, 2], [1, 1]])
    assert torch.equal(emb(idx), emb.weight[idx])
    w, b = torch.randn(7, 6), torch.randn(7)
    h = torch.randn(4, 6)
    assert torch.equal(addmm_t(h, w, b), torch.addmm(b, h, w.t().contiguous()))
    p = torch.randn(5, 6)
    assert torch.equal(add_param(x, p, 2), x + p)
    assert torch.equal(param_rows(p, 4, 2), p.expand(4, 5, 6))


def test_stacked_weights_compute_each_block_with_its_own_copy() -> None:
    torch.manual_seed(1)
    rows = 4  # per block
    x = torch.randn(G * rows, 5, 6)
    w, b = torch.randn(G, 7, 6), torch.randn(G, 7)
    gamma, beta = torch.randn(G, 6), torch.randn(G, 6)
    pos = torch.randn(G, 5, 6)
    y_lin = linear(x, w, b)
    y_ln = layer_norm(x, gamma, beta, 1e-5)
    y_add = add_param(x, pos, 2)
    h = torch.randn(G * rows, 6)
    y_mm = addmm_t(h, w, b)
    for g in range(G):
        r = slice(g * rows, (g + 1) * rows)
        assert_close(y_lin[r], F.linear(x[r], w[g], b[g]), rtol=1e-6, atol=1e-6)
        assert_close(y_ln[r], F.layer_norm(x[r], (6,), gamma[g], beta[g]), rtol=1e-5, atol=1e-6)
        assert torch.equal(y_add[r], x[r] + pos[g])
        assert_close(y_mm[r], h[r] @ w[g].t() + b[g], rtol=1e-6, atol=1e-6)
    assert y_lin.shape == (G * rows, 5, 7) and y_mm.shape == (G * rows, 7)


def test_stacked_embedding_and_rows_known_values() -> None:
    table = torch.arange(G * 2 * 1, dtype=torch.float32).view(G, 2, 1)  # block g: [2g, 2g+1]
    index = torch.tensor([0, 1, 1, 0, 1, 0])  # two rows per block
    assert embedding(index, table).flatten().tolist() == [0.0, 1.0, 3.0, 2.0, 5.0, 4.0]
    start = torch.tensor([[1.0], [2.0], [3.0]])
    assert param_rows(start, 6, 1).flatten().tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
