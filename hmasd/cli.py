"""The ``hmasd`` console script: ``train``, ``eval`` and ``baseline``.

Mapping from the seed's launcher (``start_hmasd_sync_enhanced.sh``):

- ``./start_hmasd_sync_enhanced.sh [--detailed-logging] [--log-level L] [--export-interval N]``
  -> ``hmasd train --config default --mode sync --seed 0 --out DIR [same flags]``
- ``... --model-path models/hmasd_sync_enhanced_tracking_320000.pt`` (resume)
  -> ``hmasd train ... --model-path DIR/models/hmasd_sync_enhanced_tracking_320000.pt``
- ``... --eval-only --model-path models/hmasd_sync_enhanced_tracking_final.pt``
  -> ``hmasd eval --model-path ... --episodes N``

This module is the parser and the error plumbing only: it imports the subcommand's module
(``hmasd/commands/<name>.py``) by computed name, so that the code a DAG rule runs, and
fingerprints, is only its own subcommand's (see ``hmasd.codehash``).

Every error a user can cause is one line ``hmasd: error: <message>`` on stderr, exit code 2
(130 for Ctrl-C outside training); bad usage exits 2 through argparse. A training run
stopped by SIGTERM, SIGINT or SIGUSR1 writes a resumable checkpoint and prints one line
``hmasd: stopped by SIGTERM at env step ...``, exit code 75 (:mod:`hmasd.training.signals`);
``train`` takes those signals over before it imports torch, so one that comes during
start-up still stops the run cleanly, after its first update (:mod:`hmasd.commands.train`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hmasd.config import MODES
from hmasd.errors import EXIT_STOPPED, HMASDError, StoppedError, one_line

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(text: str) -> str:
    """``--log-level`` in any case (the seed's launcher passed ``INFO`` to a lowercase-only
    parser and failed); ``WARN`` is taken for ``WARNING``."""
    name = text.strip().upper()
    name = "WARNING" if name == "WARN" else name
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"invalid log level {text!r} (choose from {', '.join(LOG_LEVELS)}, any case)"
        )
    return name


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level",
        type=log_level,
        default="INFO",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL, any case (default INFO)",
    )
    parser = argparse.ArgumentParser(
        prog="hmasd",
        description="HMASD on a batched multi-UAV base-station env: train, evaluate, baselines.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tr = sub.add_parser("train", parents=[common], help="train one (config, mode, seed) run")
    tr.add_argument("--config", required=True, help="preset name (hmasd/configs) or YAML path")
    tr.add_argument("--mode", choices=MODES, default="sync")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", type=Path, required=True, help="run directory")
    tr.add_argument(
        "--detailed-logging",
        action="store_true",
        help="also export per-step reward components and per-agent skill traces",
    )
    tr.add_argument(
        "--export-interval",
        type=positive_int,
        metavar="N",
        help="paper_data/ export every N env steps (tracking.export_interval)",
    )
    tr.add_argument("--model-path", type=Path, metavar="CKPT", help="resume from this checkpoint")
    tr.add_argument(
        "--resume-latest",
        action="store_true",
        help="resume from the newest periodic checkpoint in OUT/models if any, else start fresh",
    )
    tr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config key (YAML-typed value); repeatable",
    )
    tr.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")

    ev = sub.add_parser("eval", parents=[common], help="evaluate a checkpoint (eval-only)")
    ev.add_argument(
        "--model-path",
        type=Path,
        required=True,
        nargs="+",
        metavar="CKPT",
        help="checkpoint(s); several are evaluated in one process, each on the same episodes",
    )
    ev.add_argument("--episodes", type=positive_int, default=10)
    ev.add_argument(
        "--out",
        type=Path,
        nargs="+",
        help="eval JSON per checkpoint, in order (default: RUN_DIR/eval/<ckpt stem>.json)",
    )
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--tb-dir", type=Path, help="also write Eval/MeanReward, Eval/StdReward here")
    ev.add_argument("--device", default="auto")

    bl = sub.add_parser("baseline", parents=[common], help="run a baseline policy")
    bl.add_argument("--policy", choices=("random", "hover", "kmeans"), required=True)
    bl.add_argument("--config", required=True, help="preset name or YAML path")
    bl.add_argument("--episodes", type=positive_int, default=10)
    bl.add_argument("--seed", type=int, default=0)
    bl.add_argument("--out", type=Path, help="result JSON (default: print to stdout)")
    bl.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    bl.add_argument("--device")
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Import ``hmasd.commands.<command>`` (by computed name, see the module docstring) and
    run it."""
    module = importlib.import_module(f"hmasd.commands.{args.command}")
    return int(module.run(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hmasd`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return run_command(args)
    except KeyboardInterrupt:
        print("hmasd: error: interrupted", file=sys.stderr)
        return 130
    except StoppedError as exc:
        print(f"hmasd: {one_line(exc, limit=None)}", file=sys.stderr)
        return EXIT_STOPPED
    except (HMASDError, FileNotFoundError) as exc:
        print(f"hmasd: error: {one_line(exc, limit=None)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
