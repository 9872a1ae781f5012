"""End-to-end training throughput per mode and device (SPEC section 8).

Each (mode, device) runs ``hmasd.training.train`` in its own process (so peak RSS is that
run's alone) at the default hyperparameters (num_envs 32, batch 1024, 15 PPO epochs) for
``--updates`` updates, tracking on, and prints:

- env-steps/s end to end (the whole training loop: collection, update, tracking, logging)
  and over collection + update only;
- mean collection time and update time per update;
- peak RSS (``resource.getrusage``) and, on CUDA, ``torch.cuda.max_memory_allocated``.

    python benchmarks/train_throughput.py --updates 10 --devices cpu cuda --num-envs 32

Targets (2 CPU cores): >= 5,000 env-steps/s end to end, < 1 GiB peak RSS per process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def child(args: argparse.Namespace) -> None:
    import torch

    from hmasd.config import load
    from hmasd.training.trainer import train

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    batch = args.batch_size or 32 * args.num_envs
    cfg = load(
        args.config,
        {
            "train": {
                "num_envs": args.num_envs,
                "batch_size": batch,
                "async_groups": args.async_groups,
                "total_env_steps": args.updates * batch,
                "device": args.device,
                # Only the final checkpoint/eval, after the timed loop.
                "checkpoint_interval": 10**12,
                "eval_interval": 10**12,
                "eval_episodes": 1,
            },
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        s = train(cfg, args.mode, 0, Path(tmp) / "run")
    keys = (
        "env_steps",
        "updates",
        "env_steps_per_s",
        "env_steps_per_s_collect_update",
        "mean_collection_time_s",
        "mean_update_time_s",
        "peak_rss_mb",
        "cuda_max_memory_mb",
        "mean_stale_fraction",
    )
    print(json.dumps({"mode": args.mode, "device": args.device, **{k: s.get(k) for k in keys}}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--modes", nargs="+", default=["sync", "async"], choices=["sync", "async"])
    p.add_argument("--devices", nargs="+", default=["cpu"])
    p.add_argument("--num-envs", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=0, help="default: 32 x num_envs")
    p.add_argument("--async-groups", type=int, default=4)
    p.add_argument("--config", default="default")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--device", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        child(args)
        return
    common = [
        "--updates", str(args.updates), "--num-envs", str(args.num_envs),
        "--batch-size", str(args.batch_size), "--async-groups", str(args.async_groups),
        "--config", args.config, "--threads", str(args.threads),
    ]  # fmt: skip
    print(
        f"{'mode':6} {'device':7} {'steps/s e2e':>12} {'coll+upd':>10} {'collect s':>10} "
        f"{'update s':>9} {'RSS MiB':>8} {'CUDA MiB':>9} {'stale':>6}"
    )
    for device in args.devices:
        for mode in args.modes:
            proc = subprocess.run(
                [sys.executable, __file__, *common, "--mode", mode, "--device", device],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                print(f"{mode:6} {device:7} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            cuda = r["cuda_max_memory_mb"]
            print(
                f"{mode:6} {device:7} {r['env_steps_per_s']:12.0f} "
                f"{r['env_steps_per_s_collect_update']:10.0f} "
                f"{r['mean_collection_time_s']:10.3f} {r['mean_update_time_s']:9.3f} "
                f"{r['peak_rss_mb']:8.0f} {'-' if cuda is None else str(round(cuda)):>9} "
                f"{r['mean_stale_fraction']:6.3f}"
            )


if __name__ == "__main__":
    main()
