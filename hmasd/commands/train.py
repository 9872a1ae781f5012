"""``hmasd train``: one (config, mode, seed) run, fresh or resumed from a checkpoint."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from hmasd.commands.common import check_checkpoint_path, check_out_dir, config_name, load_config
from hmasd.config import budget_warning
from hmasd.training.signals import StopRequest

log = logging.getLogger("hmasd")


def run(args: argparse.Namespace) -> int:
    # The stop signals are ours before torch is imported (seconds): one that comes during
    # start-up stops the run after its first update instead of killing it.
    with StopRequest() as stop:
        return _train(args, stop)


def _train(args: argparse.Namespace, stop: StopRequest) -> int:
    # Imported here, once the handlers are in place (hmasd.codehash follows these too).
    from hmasd.training.checkpoint import latest_checkpoint
    from hmasd.training.trainer import train

    check_out_dir(args.out)
    if args.model_path is not None:
        check_checkpoint_path(args.model_path)
    extra: dict[str, dict[str, Any]] = {}
    if args.export_interval is not None:
        extra.setdefault("tracking", {})["export_interval"] = args.export_interval
    if args.detailed_logging:
        extra.setdefault("tracking", {})["detailed_logging"] = True
    if args.device is not None:
        extra.setdefault("train", {})["device"] = args.device
    cfg = load_config(args.config, args.set, extra)
    if (warning := budget_warning(cfg)) is not None:
        log.warning("%s", warning)
    resume = args.model_path
    if resume is None and args.resume_latest:
        resume = latest_checkpoint(args.out, args.mode)
        if resume is not None:
            log.info("resuming from %s", resume)
    summary = train(
        cfg,
        args.mode,
        args.seed,
        args.out,
        resume_from=resume,
        config_name=config_name(args.config),
        stop=stop,
    )
    log.info(
        "finished: %d env steps, %d updates, %.0f env-steps/s -> %s",
        summary["env_steps"],
        summary["updates"],
        summary["env_steps_per_s"],
        args.out,
    )
    return 0
