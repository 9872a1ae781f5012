"""``hmasd eval``: eval-only run of a checkpoint (the seed's ``--eval-only``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hmasd.commands.common import check_checkpoint_path, check_out_file
from hmasd.training.evaluate import evaluate


def default_eval_out(checkpoint: Path) -> Path:
    """``<run_dir>/eval/<checkpoint stem>.json`` (run_dir holds ``models/``)."""
    ckpt = Path(checkpoint)
    run_dir = ckpt.parent.parent if ckpt.parent.name == "models" else ckpt.parent
    return run_dir / "eval" / f"{ckpt.stem}.json"


def run(args: argparse.Namespace) -> int:
    check_checkpoint_path(args.model_path)
    out = args.out or default_eval_out(args.model_path)
    check_out_file(out)
    res = evaluate(
        args.model_path,
        args.episodes,
        out,
        seed=args.seed,
        tb_dir=args.tb_dir,
        device=args.device,
    )
    logging.getLogger("hmasd").info(
        "eval over %d episodes: %s -> %s",
        res["episodes"],
        ", ".join(
            f"{pol} mean return {r['mean_reward']:.3f} +/- {r['std_reward']:.3f}"
            for pol, r in res["policies"].items()
        ),
        out,
    )
    return 0
