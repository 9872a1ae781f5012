"""Environment-alone throughput: env-steps/s and peak memory.

One env step = one env advancing once, so a batched step of 1024 envs is 1024 env-steps.
Each (device, scenario, num_envs) runs in its own process, so its peak RSS
(``resource.getrusage``) is its own; on CUDA ``torch.cuda.max_memory_allocated`` is shown
too. Actions are uniform random in [-1, 1]^3 (drawn before the timed loop), with the
default EnvConfig otherwise (5 UAVs x 50 users, al_hourani urban).

    python benchmarks/env_throughput.py --devices cpu cuda --num-envs 32 256 1024 4096 \
        --steps 200 --threads 2

Target (2 CPU cores): >= 200,000 env-steps/s at 1024 envs, default config.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SCENARIOS = ("base_station", "cooperative_network")


def child(args: argparse.Namespace) -> None:
    import resource
    import time

    import torch

    from hmasd.config import EnvConfig
    from hmasd.env.uav_env import UAVBaseStationEnv

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    cfg = EnvConfig(scenario=args.scenario)
    env = UAVBaseStationEnv(cfg, args.num_envs, device=dev, seed=0)
    gen = torch.Generator(device=dev).manual_seed(1)
    pool = [
        torch.rand(args.num_envs, env.n_agents, 3, generator=gen, device=dev) * 2 - 1
        for _ in range(8)
    ]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        for i in range(args.warmup):
            env.step(pool[i % 8])
        sync()
        start = time.perf_counter()
        for i in range(args.steps):
            env.step(pool[i % 8])
        sync()
        elapsed = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    cuda_mb = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    print(
        json.dumps(
            {
                "env_steps_per_s": args.num_envs * args.steps / elapsed,
                "ms_per_step": 1e3 * elapsed / args.steps,
                "peak_rss_mb": rss_mb,
                "cuda_max_allocated_mb": cuda_mb,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[32, 256, 1024, 4096])
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    p.add_argument("--steps", type=int, default=200, help="timed batched steps per run")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--device", help=argparse.SUPPRESS)
    p.add_argument("--scenario", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.num_envs = args.num_envs[0]
        child(args)
        return

    import torch

    devices = [d for d in args.devices if d != "cuda" or torch.cuda.is_available()]
    skipped = sorted(set(args.devices) - set(devices))
    if skipped:
        print(f"(skipping {', '.join(skipped)}: not available)")
    header = (
        f"{'device':6} {'scenario':20} {'num_envs':>8} {'env-steps/s':>13} {'ms/step':>8} "
        f"{'peak RSS MiB':>12} {'CUDA MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for device in devices:
        for scenario in args.scenarios:
            for n in args.num_envs:
                cmd = [
                    sys.executable, __file__, "--child", "--device", device,
                    "--scenario", scenario, "--num-envs", str(n), "--steps", str(args.steps),
                    "--warmup", str(args.warmup), "--threads", str(args.threads),
                ]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{device:6} {scenario:20} {n:>8} FAILED: {proc.stderr.strip()[-300:]}")
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                cuda = r["cuda_max_allocated_mb"]
                cuda_s = f"{cuda:9.1f}" if cuda is not None else f"{'-':>9}"
                print(
                    f"{device:6} {scenario:20} {n:>8} {r['env_steps_per_s']:>13,.0f} "
                    f"{r['ms_per_step']:>8.2f} {r['peak_rss_mb']:>12.1f} {cuda_s}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
