"""Time one HMASD update (all networks, all PPO epochs) and its share of the matmul peak.

The batch is a real one: a rollout of the real collector at the given config (default: the
package defaults, i.e. the paper's hyperparameters: 32 envs x 30 steps, 5 agents, 15 PPO
epochs, 1 minibatch). Prints ms per update for the GRU and the MLP actor, the update's
floating-point work (``FlopCounterMode``), the machine's measured fp32 matmul rate at the
same thread count, and their ratio: the share of the peak the update reaches, and the
least time any implementation of this update can take here, per update and per 1,024
transitions (the unit of the speed targets), with the time at 45% of the peak.

    .venv/bin/python benchmarks/update_time.py [--threads 2] [--repeats 5] \\
        [--set agent.ppo_epochs=4 ...]
"""

from __future__ import annotations

import argparse
import copy
import statistics

import torch
from _common import Setup, make_config, matmul_gflops, timed
from torch.utils.flop_counter import FlopCounterMode

from hmasd.commands.common import parse_sets
from hmasd.config import merge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = matmul_gflops(device)
    print(
        f"device {device}, {torch.get_num_threads()} threads; "
        f"fp32 matmul (1024^3): {peak:.0f} GFLOP/s"
    )
    for actor in ("gru", "mlp"):
        cfg = make_config(args.config, merge(parse_sets(args.set), {"agent": {"actor": actor}}))
        s = Setup(cfg, device)
        batch = s.collect()
        s.agent.update(batch)  # warm-up
        batch = s.collect()
        with FlopCounterMode(display=False) as counter:
            copy.deepcopy(s.agent).update(batch)
        gflop = counter.get_total_flops() / 1e9
        times = []
        for _ in range(args.repeats):
            agent = copy.deepcopy(s.agent)  # the same update every time
            times.append(timed(lambda a=agent, b=batch: a.update(b), device)[1] * 1000)
        ms = statistics.median(times)
        n = cfg.train.batch_size
        floor = gflop / peak * 1000
        print(
            f"  actor={actor}: {ms:7.1f} ms/update median ({min(times):.1f} min) for {n} "
            f"transitions = {ms * 1024 / n:.1f} ms per 1024; {cfg.agent.ppo_epochs} epochs x "
            f"{cfg.agent.num_minibatches} minibatches\n"
            f"    {gflop:.2f} GFLOP/update: {gflop / ms * 1000:.0f} GFLOP/s = "
            f"{100 * gflop / ms * 1000 / peak:.0f}% of the measured peak (floor {floor:.0f} ms)\n"
            # What a target in ms per 1,024 transitions asks of this machine: below the
            # floor no implementation of these FLOPs reaches it here, at any efficiency.
            f"    per 1024 transitions: {ms * 1024 / n:.0f} ms now; "
            f"{floor * 1024 / n / 0.45:.0f} ms at 45% of this peak; "
            f"{floor * 1024 / n:.0f} ms at 100% (the floor)"
        )


if __name__ == "__main__":
    main()
