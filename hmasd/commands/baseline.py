"""``hmasd baseline``: a non-learning policy (random, hover, kmeans) on a config's env."""

from __future__ import annotations

import argparse
import json
import sys

from hmasd.commands.common import check_out_file, config_name, load_config
from hmasd.env.baselines import run_baseline
from hmasd.io import atomic_write_json
from hmasd.seeding import resolve_device


def run(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_out_file(args.out)
    extra = {"train": {"device": args.device}} if args.device is not None else {}
    cfg = load_config(args.config, args.set, extra)
    res = run_baseline(
        cfg,
        args.policy,
        episodes=args.episodes,
        seed=args.seed,
        device=resolve_device(cfg.train.device),
    )
    res = {"config_name": config_name(args.config), "seed": args.seed, **res}
    if args.out is not None:
        atomic_write_json(args.out, res)
    else:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
