"""The actor's GRU over stored sequences, with a hand-written backward.

The cell is ``nn.GRU``'s (gate order r, z, n in ``weight_hh_l0`` / ``weight_ih_l0``)::

    r  = sigmoid(gi_r + W_hr h + b_hr)
    z  = sigmoid(gi_z + W_hz h + b_hz)
    n  = tanh(gi_n + r * (W_hn h + b_hn))
    h' = n + z * (h - n)                    # = (1 - z) n + z h

with ``gi = W_i x + b_i`` computed for every step at once (outside the recurrence).

Why not ``nn.GRU``: on CPU its backward is autograd over the cell's ~20 small ops per
step, a graph node each, which at these sizes (30 steps of 40-160 rows of 64) costs more
than the arithmetic. Here the forward saves the gates, the backward walks the steps with
one matmul and a few element-wise ops each (the gradient formulas are in
:meth:`GRUSequence.backward`), and the weight gradient is one matmul over all steps after
the loop. Measured by an in-process A/B of the discoverer's whole step (loss, backward,
Adam), old and new alternating 40 times: 0.85x the time at the DAG's minibatches of 40
rows on 1 thread, 0.94x at the paper's 160 rows on 2 threads, and no gain (1.0-1.05x) at
160 rows on 1 thread, where the per-step element-wise work dominates both.

The rollout calls :func:`gru_step`, the replay :class:`GRUSequence`; both run the same
operations in the same order, so the replay reproduces the rollout's numbers (up to the
row count of the matmuls: the replay's input projection covers all steps at once).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hmasd.agent.grouped import addmm_t


def gru_step(gi: Tensor, h: Tensor, reset: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """One env step (no gradient): gi (N, 3H) input projection, h (N, H), reset (N,) bool
    (hidden zeroed first) -> next hidden (N, H). The same operations, in the same order and
    memory layouts, as each step of :meth:`GRUSequence.forward`, so the replay reproduces
    the rollout."""
    H = h.shape[-1]
    h = h.masked_fill(reset.unsqueeze(-1), 0.0)
    gh = addmm_t(h, w_hh, b_hh)  # stacked snapshots' weights too (async acting)
    rz = torch.sigmoid(gh[:, : 2 * H] + gi[:, : 2 * H])
    n = torch.tanh(torch.addcmul(gi[:, 2 * H :], rz[:, :H], gh[:, 2 * H :]))
    return torch.addcmul(n, rz[:, H:], h - n)


def reset_cuts(reset: Tensor) -> list[int]:
    """The steps t > 0 where any row of ``reset`` (T, N) bool resets: the ``cuts`` that
    :class:`GRUSequence` takes (one host read; steps without resets skip the mask)."""
    return (torch.nonzero(reset[1:].any(dim=1)).flatten() + 1).tolist()


class GRUSequence(torch.autograd.Function):
    """Hidden states of a GRU over T steps, differentiable in ``gi``, ``w_hh``, ``b_hh``.

    gi (T, N, 3H): input projections; h0 (N, H): hidden before step 0 (no gradient: a
    stored rollout state); reset (T, N) bool: hidden zeroed before step t; ``cuts``: the
    steps t > 0 where any row resets (a host list, so steps without resets skip the mask).
    Returns the hidden after each step (T, N, H).

    Both loops run small ops on one step's rows (they stay in cache; the same element-wise
    work over all steps at once measured slower here) writing into buffers allocated once
    per call, through views made once per call (slicing per step costs as much as an op).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        gi: Tensor,
        h0: Tensor,
        reset: Tensor,
        cuts: list[int],
        w_hh: Tensor,
        b_hh: Tensor,
    ) -> Tensor:
        T, N, _ = gi.shape
        H = h0.shape[-1]
        out = gi.new_empty(T, N, H)
        gh = gi.new_empty(T, N, 3 * H)  # W_hh h + b_hh of each step
        rz = gi.new_empty(T, N, 2 * H)
        n = gi.new_empty(T, N, H)
        w_t = w_hh.t().contiguous()  # (H, 3H): a contiguous operand is the faster addmm
        gi_rz, gi_n = gi[..., : 2 * H].unbind(0), gi[..., 2 * H :].unbind(0)
        gh_s, gh_rz, gh_n = gh.unbind(0), gh[..., : 2 * H].unbind(0), gh[..., 2 * H :].unbind(0)
        rz_s, r_s, z_s = rz.unbind(0), rz[..., :H].unbind(0), rz[..., H:].unbind(0)
        n_s, out_s = n.unbind(0), out.unbind(0)
        h0 = h0.masked_fill(reset[0].unsqueeze(-1), 0.0)
        h = h0
        cut = set(cuts)
        for t in range(T):
            if t in cut:
                h = h.masked_fill(reset[t].unsqueeze(-1), 0.0)
            torch.addmm(b_hh, h, w_t, out=gh_s[t])
            torch.sigmoid(gh_rz[t] + gi_rz[t], out=rz_s[t])
            torch.tanh(torch.addcmul(gi_n[t], r_s[t], gh_n[t]), out=n_s[t])
            torch.addcmul(n_s[t], z_s[t], h - n_s[t], out=out_s[t])
            h = out_s[t]
        ctx.save_for_backward(h0, out, gh, rz, n, reset, w_hh)
        ctx.cuts = cuts
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        h0, out, gh, rz, n, reset, w_hh = ctx.saved_tensors
        T, N, H = n.shape
        # With dh the gradient of h' = n + z (h - n) (incoming plus the next step's):
        #   d pre_n = dh (1 - z)(1 - n^2)          gi_n's gradient; gh_n's is r times it
        #   d pre_r = d pre_n gh_n r (1 - r)       both gi's and gh's
        #   d pre_z = dh (h - n) z (1 - z)
        #   dh_prev = dh z + d gh @ W_hh           (zeroed where the step reset the hidden)
        # One buffer per step holds [d gh_n, d pre_r, d pre_z, d pre_n]: its first three
        # blocks are gh's gradient in the order (n, r, z) (W_hh's rows permuted to match),
        # its last three gi's in gi's order (r, z, n). No copies between the two.
        buf = grad_out.new_empty(T, N, 4 * H)
        d_gh, d_gi = buf[..., : 3 * H], buf[..., H:]
        w_perm = torch.cat([w_hh[2 * H :], w_hh[: 2 * H]])
        raw = grad_out.new_empty(N, 2 * H)  # [d pre_n gh_n, dh (h - n)] of one step
        raw_r, raw_z = raw[:, :H], raw[:, H:]
        d_gh_s = d_gh.unbind(0)
        d_hn, d_rz = buf[..., :H].unbind(0), buf[..., H : 3 * H].unbind(0)
        d_n = buf[..., 3 * H :].unbind(0)
        rz_s, r_s, z_s = rz.unbind(0), rz[..., :H].unbind(0), rz[..., H:].unbind(0)
        n_s, g_s, ghn_s = n.unbind(0), grad_out.unbind(0), gh[..., 2 * H :].unbind(0)
        h_prev = (h0, *out[:-1].unbind(0))
        cut = set(ctx.cuts)
        dh = g_s[T - 1]
        for t in range(T - 1, -1, -1):
            hp = h_prev[t]
            if t in cut:
                hp = hp.masked_fill(reset[t].unsqueeze(-1), 0.0)
            a = torch.addcmul(dh, dh, z_s[t], value=-1.0)
            torch.addcmul(a, a * n_s[t], n_s[t], value=-1.0, out=d_n[t])
            torch.mul(d_n[t], r_s[t], out=d_hn[t])
            torch.mul(d_n[t], ghn_s[t], out=raw_r)
            torch.mul(dh, hp - n_s[t], out=raw_z)
            s = rz_s[t]
            torch.mul(raw, torch.addcmul(s, s, s, value=-1.0), out=d_rz[t])
            dh = torch.addmm(dh * z_s[t], d_gh_s[t], w_perm)
            if t in cut or t == 0:
                dh = dh.masked_fill(reset[t].unsqueeze(-1), 0.0)
            if t > 0:
                dh = dh + g_s[t - 1]
        d_w_hh = d_b_hh = None
        if ctx.needs_input_grad[4]:
            # sum_t d_gh[t]^T h_prev[t], as one matmul over steps 1.. plus step 0; a row
            # whose hidden was reset at step t read zeros: take its term back out.
            # (rows in the order n, r, z until the last line)
            d_w = d_gh[1:].reshape(-1, 3 * H).t().mm(out[:-1].reshape(-1, H))
            d_w.addmm_(d_gh_s[0].t(), h0)
            for t in ctx.cuts:
                zeroed = out[t - 1] * reset[t].unsqueeze(-1).to(out.dtype)
                d_w.addmm_(d_gh_s[t].t(), zeroed, alpha=-1.0)
            d_w_hh = torch.cat([d_w[H:], d_w[:H]])
        if ctx.needs_input_grad[5]:
            d_b = d_gh.reshape(T * N, 3 * H).sum(0)
            d_b_hh = torch.cat([d_b[H:], d_b[:H]])
        d_h0 = dh if ctx.needs_input_grad[1] else None
        return d_gi if ctx.needs_input_grad[0] else None, d_h0, None, None, d_w_hh, d_b_hh
