"""``hmasd eval``: eval-only run of a checkpoint (the seed's ``--eval-only``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hmasd.commands.common import check_checkpoint_path, check_out_file
from hmasd.errors import UsageError
from hmasd.training.evaluate import evaluate


def default_eval_out(checkpoint: Path) -> Path:
    """``<run_dir>/eval/<checkpoint stem>.json`` (run_dir holds ``models/``)."""
    ckpt = Path(checkpoint)
    run_dir = ckpt.parent.parent if ckpt.parent.name == "models" else ckpt.parent
    return run_dir / "eval" / f"{ckpt.stem}.json"


def run(args: argparse.Namespace) -> int:
    """Evaluate each ``--model-path`` in turn (one process: the DAG evaluates a run's final
    and best checkpoints in one job); every path is checked before any work."""
    models = list(args.model_path)
    outs = list(args.out) if args.out else [default_eval_out(m) for m in models]
    if len(outs) != len(models):
        raise UsageError(
            f"--out names {len(outs)} file(s) for {len(models)} --model-path checkpoint(s)"
        )
    for model, out in zip(models, outs, strict=True):
        check_checkpoint_path(model)
        check_out_file(out)
    for model, out in zip(models, outs, strict=True):
        res = evaluate(
            model, args.episodes, out, seed=args.seed, tb_dir=args.tb_dir, device=args.device
        )
        logging.getLogger("hmasd").info(
            "eval of %s over %d episodes: %s -> %s",
            model,
            res["episodes"],
            ", ".join(
                f"{pol} mean return {r['mean_reward']:.3f} +/- {r['std_reward']:.3f}"
                for pol, r in res["policies"].items()
            ),
            out,
        )
    return 0
