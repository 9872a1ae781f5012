"""A/B of the actor's GRU replay inside one process: ``nn.GRU`` (the previous
implementation) against :class:`hmasd.agent.gru.GRUSequence` (the current one).

Times the skill discoverer's whole optimiser step (loss with the GRU replay, backward, clip,
Adam) on a real batch from the real collector, the two implementations alternating
``--pairs`` times in the same process, so host noise hits both alike; prints each side's
median and the median of the per-pair ratios with its interquartile range. With one
thread it reads the thread's CPU time, which a noisy host disturbs less than wall time.

    .venv/bin/python benchmarks/gru_ab.py --threads 1 --config <DAG settings YAML>
    .venv/bin/python benchmarks/gru_ab.py --threads 2          # the paper's defaults
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from _common import Setup, alternate, make_config, ratio_summary
from torch import Tensor

from hmasd.agent.networks import SkillActor
from hmasd.commands.common import parse_sets


def nn_gru_replay(
    self: SkillActor, x: Tensor, hidden0: Tensor, reset: Tensor, cuts: list[int]
) -> Tensor:
    """The previous replay: one ``nn.GRU`` call per stretch without resets."""
    feat = torch.relu(self.pre(x))
    assert self.gru is not None
    bounds = [0, *cuts, x.shape[0]]
    outs, h = [], hidden0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        h = h.masked_fill(reset[lo].unsqueeze(-1), 0.0)
        out, h_last = self.gru(feat[lo:hi], h.unsqueeze(0))
        outs.append(out)
        h = h_last[0]
    return self.post(outs[0] if len(outs) == 1 else torch.cat(outs, dim=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    cfg = make_config(args.config, parse_sets(args.set))
    s = Setup(cfg, torch.device("cpu"))
    s.agent.update(s.collect())
    batch = s.collect()
    agent = s.agent
    prepared = agent._prepare(batch)
    n_mb = cfg.agent.num_minibatches
    ix = None if n_mb == 1 else torch.randperm(batch.obs.shape[1]).chunk(n_mb)[0]
    acc: dict[str, Any] = {}
    new_replay = SkillActor.replay

    def step(replay: Any) -> float:
        SkillActor.replay = replay  # type: ignore[method-assign]
        t0 = clock()
        loss, metrics, _ = agent._low_loss(batch, prepared, ix)
        agent._step(("actor", "critic"), loss, metrics, "low", 1, acc)
        return clock() - t0

    try:
        old, new = alternate(
            lambda: step(nn_gru_replay), lambda: step(new_replay), args.pairs, warmup=5
        )
    finally:
        SkillActor.replay = new_replay  # type: ignore[method-assign]
    ratio, q1, q3 = ratio_summary(old, new)
    rows = cfg.train.num_envs // n_mb * agent.n_agents
    print(
        f"discoverer step, {rows} GRU rows x {batch.obs.shape[0]} steps, {args.threads} "
        f"thread(s): nn.GRU {statistics.median(old) * 1e3:.1f} ms, GRUSequence "
        f"{statistics.median(new) * 1e3:.1f} ms; new/old per pair: median "
        f"{ratio:.3f} [IQR {q1:.3f}, {q3:.3f}]"
    )


if __name__ == "__main__":
    main()
