"""``torch.compile`` (inductor) of one network's loss against eager, inside one process.

Builds a real sync batch (real collector, ``_common.Setup``) and times one optimiser step of
the chosen part of the update (``--part high``: the skill coordinator, Eq. 6; ``low``: the
skill discoverer's actor and critic with the GRU replay; ``disc``: the two discriminators):
zero the gradients, loss, backward, clip, Adam. The loss is the agent's own
(``HMASDAgent._high_loss`` / ``_low_loss`` / ``_disc_loss``), eager on one side and wrapped
in ``torch.compile`` on the other; the two sides alternate ``--pairs`` times so host noise
hits both alike. Prints the compile time (the first compiled step, on its own), each side's
median step and the median of the per-pair ratios with its interquartile range.

    .venv/bin/python benchmarks/compile_step.py --threads 2 --part high [--pairs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from _common import Setup, alternate, make_config, ratio_summary

from hmasd.commands.common import parse_sets

GROUPS = {"high": ("coordinator",), "low": ("actor", "critic"), "disc": ("disc",)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="default")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--part", choices=sorted(GROUPS), default="high")
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    s = Setup(make_config(args.config, parse_sets(args.set)), torch.device("cpu"))
    s.agent.update(s.collect())  # warm-up
    agent, batch = s.agent, s.collect()
    prepared = agent._prepare(batch)

    def loss() -> torch.Tensor:
        if args.part == "high":
            return agent._high_loss(prepared)[0]
        if args.part == "low":
            return agent._low_loss(batch, prepared, None)[0]
        return agent._disc_loss(batch, prepared)[0]

    def step(fn: Any) -> float:
        t0 = time.perf_counter()
        for g in GROUPS[args.part]:
            agent.optimizers[g].zero_grad(set_to_none=True)
        fn().backward()
        for g in GROUPS[args.part]:
            agent._clip(g)
            agent.optimizers[g].step()
        return time.perf_counter() - t0

    compiled = torch.compile(loss)
    compile_s = step(compiled)
    eager, comp = alternate(lambda: step(loss), lambda: step(compiled), args.pairs, warmup=3)
    ratio, q1, q3 = ratio_summary(eager, comp)
    print(
        f"part {args.part}, {torch.get_num_threads()} threads: compile (first step) "
        f"{compile_s:.1f} s; step eager {1000 * statistics.median(eager):.1f} ms, compiled "
        f"{1000 * statistics.median(comp):.1f} ms; compiled/eager "
        f"{ratio:.2f} [IQR {q1:.2f}, {q3:.2f}] over {args.pairs} pairs"
    )


if __name__ == "__main__":
    main()
