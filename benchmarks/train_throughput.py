"""End-to-end training throughput per mode and device, optionally A/B against another
revision of this repository.

Each measurement runs ``hmasd.training.trainer.train`` in its own process (so peak RSS is
that run's alone) at the package defaults (the paper's hyperparameters) plus ``--set``
overrides, for ``--updates`` updates with tracking on, and prints env-steps/s end to end
and over collection + update only, the mean collection and update times per update (also
per 1,024 transitions), and peak RSS (on CUDA, ``torch.cuda.max_memory_allocated``).

``--ab REV`` measures REV the same way (a git worktree of REV in a temporary directory, run
with its own code and its own defaults), interleaved with this checkout (new, old, new,
old, ... ``--repeats`` times each) in one session, and prints the median of each and their
ratio. Run it on an idle machine.

    python benchmarks/train_throughput.py --updates 10 --threads 2 --ab 387db3c --repeats 3
    python benchmarks/train_throughput.py --devices cpu cuda --set agent.ppo_epochs=4
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()


def child(args: argparse.Namespace) -> None:
    import torch

    from hmasd.commands.common import parse_sets
    from hmasd.config import load, merge
    from hmasd.training.trainer import train

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    base = load(args.config, parse_sets(args.set))
    batch = base.train.batch_size
    cfg = load(args.config, merge(parse_sets(args.set), {
        "train": {
            "total_env_steps": args.updates * batch,
            "device": args.device,
            # Only the final checkpoint/eval, after the timed loop.
            "checkpoint_interval": 10**12,
            "eval_interval": 10**12,
            "eval_episodes": 1,
        },
    }))
    with tempfile.TemporaryDirectory() as tmp:
        s = train(cfg, args.mode, 0, Path(tmp) / "run")
    keys = ("env_steps", "updates", "env_steps_per_s", "env_steps_per_s_collect_update",
            "mean_collection_time_s", "mean_update_time_s", "peak_rss_mb", "cuda_max_memory_mb",
            "mean_stale_fraction")
    print(json.dumps({"mode": args.mode, "device": args.device, "batch_size": batch,
                      **{k: s.get(k) for k in keys}}))


def measure(script: Path, pythonpath: Path | None, argv: list[str]) -> dict | str:
    """One child run of ``script`` (this one, or REV's); its JSON line, or the error."""
    import os

    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([sys.executable, str(script), *argv], capture_output=True,
                          text=True, check=False, env=env, cwd=script.parent.parent)
    if proc.returncode != 0:
        return "failed: " + " ".join(proc.stderr.strip().splitlines()[-1:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row(label: str, r: dict) -> str:
    per_k = 1024 / r.get("batch_size", 1024)
    cuda = r.get("cuda_max_memory_mb")
    return (f"{label:14} {r['mode']:6} {r['device']:6} {r['env_steps_per_s']:9.0f} "
            f"{r['env_steps_per_s_collect_update']:9.0f} "
            f"{r['mean_collection_time_s'] * per_k:10.3f} {r['mean_update_time_s'] * per_k:9.3f} "
            f"{r['peak_rss_mb']:8.0f} {'-' if cuda is None else str(round(cuda)):>8}")


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` (reused across calls) under the system temp directory."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], capture_output=True, text=True,
                         check=True, cwd=HERE.parent).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"hmasd-ab-{sha}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], check=True,
                       cwd=HERE.parent, capture_output=True)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--modes", nargs="+", default=["sync", "async"], choices=["sync", "async"])
    p.add_argument("--devices", nargs="+", default=["cpu"])
    p.add_argument("--config", default="default")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--ab", metavar="REV", help="also measure this git revision, interleaved")
    p.add_argument("--repeats", type=int, default=1, help="measurements per side (--ab)")
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--device", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        child(args)
        return
    print(f"{'':14} {'mode':6} {'device':6} {'e2e/s':>9} {'coll+upd':>9} {'coll/1k s':>10} "
          f"{'upd/1k s':>9} {'RSS MiB':>8} {'CUDA MiB':>8}")
    old = worktree(args.ab) if args.ab else None
    for device in args.devices:
        for mode in args.modes:
            new_argv = ["--updates", str(args.updates), "--config", args.config,
                        "--threads", str(args.threads), "--mode", mode, "--device", device]
            for item in args.set:
                new_argv += ["--set", item]
            results: dict[str, list[float]] = {"this": [], "base": []}
            for _ in range(args.repeats):
                r = measure(HERE, None, new_argv)
                print(row("this checkout", r) if isinstance(r, dict) else f"this: {r}")
                if isinstance(r, dict):
                    results["this"].append(r["env_steps_per_s"])
                if old is None:
                    continue
                # REV at its own defaults, through its own benchmark script.
                old_argv = ["--updates", str(args.updates), "--config", args.config,
                            "--threads", str(args.threads), "--mode", mode, "--device", device]
                r = measure(old / "benchmarks" / "train_throughput.py", old, old_argv)
                print(row(f"{args.ab}"[:14], r) if isinstance(r, dict) else f"base: {r}")
                if isinstance(r, dict):
                    results["base"].append(r["env_steps_per_s"])
            if old is not None and results["this"] and results["base"]:
                a, b = statistics.median(results["this"]), statistics.median(results["base"])
                print(f"  {mode} {device}: median {a:.0f} vs {b:.0f} env-steps/s end to end: "
                      f"ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
