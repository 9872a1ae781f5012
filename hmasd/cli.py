"""The ``hmasd`` console script: ``train``, ``eval`` and ``baseline``.

Mapping from the seed's launcher (``start_hmasd_sync_enhanced.sh``):

- ``./start_hmasd_sync_enhanced.sh [--detailed-logging] [--log-level L] [--export-interval N]``
  -> ``hmasd train --config default --mode sync --seed 0 --out DIR [same flags]``
- ``... --model-path models/hmasd_sync_enhanced_tracking_320000.pt`` (resume)
  -> ``hmasd train ... --model-path DIR/models/hmasd_sync_enhanced_tracking_320000.pt``
- ``... --eval-only --model-path models/hmasd_sync_enhanced_tracking_final.pt``
  -> ``hmasd eval --model-path ... --episodes N``

Every error a user can cause is one line ``hmasd: error: <message>`` on stderr, exit code 2
(130 for Ctrl-C); bad usage exits 2 through argparse.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hmasd.errors import ConfigError, HMASDError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


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


def parse_sets(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["train.num_envs=8", "env.scenario=cooperative_network"]`` -> nested overrides.

    Values are parsed as YAML (``8`` is an int, ``1e-4`` a float, ``true`` a bool), so the
    config's type checks apply as for a YAML file.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name or "." in name:
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.num_envs=8")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: value is not valid YAML") from None
        if value is None:
            raise ConfigError(f"--set {item!r}: missing value for '{section}.{name}'")
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 3e-4 (no dot) as a string
        out.setdefault(section, {})[name] = value
    return out


def load_config(name: str, sets: Sequence[str], extra: dict[str, dict[str, Any]]) -> Any:
    """Preset or YAML file, then ``extra`` (flags), then ``--set`` overrides."""
    from hmasd.config import from_dict, load, merge

    cfg = load(name)
    overrides = merge(extra, parse_sets(sets))
    if overrides:
        try:
            cfg = from_dict(overrides, base=cfg)
        except ConfigError as exc:
            raise ConfigError(f"override: {exc}") from None
    return cfg


def _config_name(text: str) -> str:
    """Preset name, or a YAML file's stem."""
    return Path(text).stem if text.endswith((".yaml", ".yml")) else text


# --------------------------------------------------------------------------------------
# Subcommands


def cmd_train(args: argparse.Namespace) -> int:
    from hmasd.training.checkpoint import latest_checkpoint
    from hmasd.training.trainer import train

    extra: dict[str, dict[str, Any]] = {}
    if args.export_interval is not None:
        extra.setdefault("tracking", {})["export_interval"] = args.export_interval
    if args.detailed_logging:
        extra.setdefault("tracking", {})["detailed_logging"] = True
    if args.device is not None:
        extra.setdefault("train", {})["device"] = args.device
    cfg = load_config(args.config, args.set, extra)
    resume = args.model_path
    if resume is None and args.resume_latest:
        resume = latest_checkpoint(args.out, args.mode)
        if resume is not None:
            logging.getLogger("hmasd").info("resuming from %s", resume)
    summary = train(
        cfg,
        args.mode,
        args.seed,
        args.out,
        resume_from=resume,
        config_name=_config_name(args.config),
    )
    logging.getLogger("hmasd").info(
        "finished: %d env steps, %d updates, %.0f env-steps/s -> %s",
        summary["env_steps"],
        summary["updates"],
        summary["env_steps_per_s"],
        args.out,
    )
    return 0


def default_eval_out(checkpoint: Path) -> Path:
    """``<run_dir>/eval/<checkpoint stem>.json`` (run_dir holds ``models/``)."""
    ckpt = Path(checkpoint)
    run_dir = ckpt.parent.parent if ckpt.parent.name == "models" else ckpt.parent
    return run_dir / "eval" / f"{ckpt.stem}.json"


def cmd_eval(args: argparse.Namespace) -> int:
    from hmasd.training.evaluate import evaluate

    out = args.out or default_eval_out(args.model_path)
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


def cmd_baseline(args: argparse.Namespace) -> int:
    from hmasd.env.baselines import run_baseline
    from hmasd.io import atomic_write_json
    from hmasd.seeding import resolve_device

    extra = {"train": {"device": args.device}} if args.device is not None else {}
    cfg = load_config(args.config, args.set, extra)
    res = run_baseline(
        cfg,
        args.policy,
        episodes=args.episodes,
        seed=args.seed,
        device=resolve_device(cfg.train.device),
    )
    res = {"config_name": _config_name(args.config), "seed": args.seed, **res}
    if args.out is not None:
        atomic_write_json(args.out, res)
    else:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


# --------------------------------------------------------------------------------------
# Parser


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
    tr.add_argument("--mode", choices=("sync", "async"), default="sync")
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
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", parents=[common], help="evaluate a checkpoint (eval-only)")
    ev.add_argument("--model-path", type=Path, required=True, metavar="CKPT")
    ev.add_argument("--episodes", type=positive_int, default=10)
    ev.add_argument("--out", type=Path, help="eval JSON (default: RUN_DIR/eval/<ckpt stem>.json)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--tb-dir", type=Path, help="also write Eval/MeanReward, Eval/StdReward here")
    ev.add_argument("--device", default="auto")
    ev.set_defaults(func=cmd_eval)

    bl = sub.add_parser("baseline", parents=[common], help="run a baseline policy")
    bl.add_argument("--policy", choices=("random", "hover", "kmeans"), required=True)
    bl.add_argument("--config", required=True, help="preset name or YAML path")
    bl.add_argument("--episodes", type=positive_int, default=10)
    bl.add_argument("--seed", type=int, default=0)
    bl.add_argument("--out", type=Path, help="result JSON (default: print to stdout)")
    bl.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    bl.add_argument("--device")
    bl.set_defaults(func=cmd_baseline)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hmasd`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("hmasd: error: interrupted", file=sys.stderr)
        return 130
    except (HMASDError, FileNotFoundError) as exc:
        print(f"hmasd: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
