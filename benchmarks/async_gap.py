"""Collection time of async (G snapshots) against sync, measured in one process.

Builds a sync and an async schedule at a config (default: the package defaults, i.e. the
paper's hyperparameters; ``--config`` a preset or YAML, ``--set`` overrides), each with its
own agent and env, and alternates their rollouts (``--pairs`` of them after 2 warm-ups),
timing each with the thread's CPU time, so the noisy host's other tenants count less.
Updates are left out: they are the same in both modes. Prints each mode's median
collection time per rollout and per 1,024 transitions, and the median [IQR] of the
per-pair ratio async / sync.

``--ab REV`` runs the same measurement with REV's package (a git worktree of REV, see
``train_throughput.py``) in alternating processes: this, REV, this, REV (``--repeats``).

    python benchmarks/async_gap.py --threads 1 --config dag.yaml --ab 4053d8c --repeats 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def measure(args: argparse.Namespace) -> None:
    import torch
    from _common import Setup, alternate, make_config, ratio_summary

    from hmasd.commands.common import parse_sets
    from hmasd.config import derived
    from hmasd.training.async_ import AsyncSchedule
    from hmasd.training.rollout import Dims
    from hmasd.training.sync import SyncSchedule

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = make_config(args.config, parse_sets(args.set))
    dev = torch.device("cpu")
    T = derived(cfg).rollout_len

    def build(groups: int) -> object:
        s = Setup(cfg, dev)
        e = s.env
        dims = Dims(e.n_agents, e.obs_dim, e.state_dim, e.action_dim, cfg.agent.hidden_dim)
        if groups == 0:
            return SyncSchedule(s.agent, e, s.collector, T, dims, dev)
        return AsyncSchedule(s.agent, e, s.collector, groups, T, dims, dev)

    schedules = {"sync": build(0), "async": build(cfg.train.async_groups)}
    steps = dict.fromkeys(schedules, 0)

    def rollout(name: str) -> float:
        t0 = time.thread_time()
        _, steps[name] = schedules[name].next_batch(steps[name])  # type: ignore[attr-defined]
        return time.thread_time() - t0

    sync_t, async_t = alternate(lambda: rollout("sync"), lambda: rollout("async"), args.pairs)
    times = {"sync": sync_t, "async": async_t}
    ratio, q1, q3 = ratio_summary(sync_t, async_t)
    per_k = 1024 / cfg.train.batch_size
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{args.label}: {cfg.train.num_envs} envs, {cfg.train.async_groups} groups, "
        f"{torch.get_num_threads()} threads; collection ms per rollout (per 1,024): "
        + ", ".join(f"{k} {1000 * m:.1f} ({1000 * m * per_k:.1f})" for k, m in medians.items())
        + f"; async/sync {ratio:.3f} [IQR {q1:.3f}, {q3:.3f}]"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="default")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--pairs", type=int, default=12)
    p.add_argument("--ab", metavar="REV", help="also measure this git revision, alternating")
    p.add_argument("--repeats", type=int, default=1, help="measurements per side (--ab)")
    p.add_argument("--label", default="this checkout", help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child or not args.ab:
        measure(args)
        return
    from train_throughput import worktree

    old = worktree(args.ab)
    argv = [
        sys.executable,
        str(HERE),
        "--child",
        "--config",
        args.config,
        "--threads",
        str(args.threads),
        "--pairs",
        str(args.pairs),
    ]
    for item in args.set:
        argv += ["--set", item]
    for _ in range(args.repeats):
        for label, path in (("this checkout", None), (args.ab, old)):
            env = dict(os.environ)
            if path is not None:
                env["PYTHONPATH"] = str(path)
            subprocess.run([*argv, "--label", label], check=True, env=env)


if __name__ == "__main__":
    main()
