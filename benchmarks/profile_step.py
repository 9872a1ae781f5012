"""Profile one rollout and one update with ``torch.profiler``: where the time goes.

Builds a real sync setup (env, agent, collector) at a config (default: the package
defaults, i.e. the paper's hyperparameters), warms up with one rollout + update, then
profiles one rollout and one update and prints the top operators by self CPU time.

    .venv/bin/python benchmarks/profile_step.py [--config default] [--threads 2] \\
        [--set agent.ppo_epochs=4 ...] [--top 10] [--sort self_cpu_time_total]
"""

from __future__ import annotations

import argparse

import torch
from _common import Setup, make_config, timed
from torch.profiler import ProfilerActivity, profile

from hmasd.commands.common import parse_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--sort", default="self_cpu_time_total")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = make_config(args.config, parse_sets(args.set))
    s = Setup(cfg, device)
    s.agent.update(s.collect())  # warm-up (allocator, lazy inits)
    print(
        f"{cfg.train.batch_size} transitions per update ({cfg.train.num_envs} envs), "
        f"{cfg.agent.ppo_epochs} epochs x {cfg.agent.num_minibatches} minibatches, "
        f"{torch.get_num_threads()} threads, device {device}"
    )
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    for phase in ("rollout", "update"):
        with profile(activities=activities) as prof:
            if phase == "rollout":
                batch, dt = timed(s.collect, device)
            else:
                _, dt = timed(lambda: s.agent.update(batch), device)  # noqa: B023
        print(f"\n== {phase}: {dt * 1000:.1f} ms (under the profiler)")
        print(prof.key_averages().table(sort_by=args.sort, row_limit=args.top))


if __name__ == "__main__":
    main()
