"""The hand-written GRU against ``nn.GRU``: values, gradients, resets (float64)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from hmasd.agent.gru import GRUSequence, gru_step, reset_cuts


def _reference(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor, reset: torch.Tensor):
    """nn.GRU one step at a time, hidden zeroed where ``reset``."""
    h, outs = h0, []
    for t in range(x.shape[0]):
        h = h.masked_fill(reset[t].unsqueeze(-1), 0.0)
        out, h1 = gru(x[t : t + 1], h.unsqueeze(0))
        h = h1[0]
        outs.append(out[0])
    return torch.stack(outs)


def _ours(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor, reset: torch.Tensor):
    cuts = reset_cuts(reset)
    gi = F.linear(x, gru.weight_ih_l0, gru.bias_ih_l0)
    return GRUSequence.apply(gi, h0, reset, cuts, gru.weight_hh_l0, gru.bias_hh_l0)


def _case(seed: int = 0, T: int = 7, N: int = 5, D: int = 4, H: int = 3):
    torch.manual_seed(seed)
    gru = nn.GRU(D, H).double()
    x = torch.randn(T, N, D, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(N, H, dtype=torch.float64, requires_grad=True)
    reset = torch.zeros(T, N, dtype=torch.bool)
    for t, i in ((0, 1), (3, 0), (3, N - 1), (T - 2, 2)):
        reset[t, i] = True
    return gru, x, h0, reset


def test_values_and_gradients_match_nn_gru_with_resets() -> None:
    gru, x, h0, reset = _case()
    weights = list(gru.parameters())
    w_out = torch.randn(7, 5, 3, dtype=torch.float64)
    ref = _reference(gru, x, h0, reset)
    ref_grads = torch.autograd.grad((ref * w_out).sum(), [x, h0, *weights])
    out = _ours(gru, x, h0, reset)
    grads = torch.autograd.grad((out * w_out).sum(), [x, h0, *weights])
    assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, ref_grads, strict=True):
        assert_close(a, b, rtol=1e-10, atol=1e-12)
    # A reset cuts the gradient: the hidden of row 1 is zeroed before step 0.
    assert torch.all(grads[1][1] == 0) and torch.any(grads[1][0] != 0)


def test_gradcheck() -> None:
    gru, x, h0, reset = _case(seed=1, T=4, N=3)
    cuts = [3]

    def fn(gi, h, w, b):
        return GRUSequence.apply(gi, h, reset, cuts, w, b)

    gi = torch.randn(4, 3, 9, dtype=torch.float64, requires_grad=True)
    w = gru.weight_hh_l0.detach().clone().requires_grad_()
    b = gru.bias_hh_l0.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(fn, (gi, h0, w, b))


def test_reset_cuts_known_values() -> None:
    reset = torch.tensor([[True, False], [False, False], [False, True], [True, True]])
    assert reset_cuts(reset) == [2, 3]  # step 0 never counts: the replay masks it always
    assert reset_cuts(torch.zeros(4, 3, dtype=torch.bool)) == []


def test_step_is_the_sequence_cell() -> None:
    # The rollout's step and the replay compute each hidden by the same operations.
    gru, x, h0, reset = _case(seed=2)
    gi = F.linear(x, gru.weight_ih_l0, gru.bias_ih_l0).detach()
    cuts = reset_cuts(reset)
    with torch.no_grad():
        seq = GRUSequence.apply(gi, h0, reset, cuts, gru.weight_hh_l0, gru.bias_hh_l0)
        h = h0
        for t in range(gi.shape[0]):
            h = gru_step(gi[t], h, reset[t], gru.weight_hh_l0, gru.bias_hh_l0)
            assert torch.equal(h, seq[t])
