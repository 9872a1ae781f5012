"""What several subcommands share: config loading with ``--set`` overrides, path checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hmasd.config import Config, from_dict, load, merge
from hmasd.errors import ConfigError, UsageError

_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


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


def load_config(name: str, sets: Sequence[str], extra: dict[str, dict[str, Any]]) -> Config:
    """Preset or YAML file, then ``extra`` (flags), then ``--set`` overrides."""
    cfg = load(name)
    overrides = merge(extra, parse_sets(sets))
    if overrides:
        try:
            cfg = from_dict(overrides, base=cfg)
        except ConfigError as exc:
            raise ConfigError(f"override: {exc}") from None
    return cfg


def config_name(text: str) -> str:
    """Preset name, or a YAML file's stem."""
    return Path(text).stem if text.endswith((".yaml", ".yml")) else text


def _blocking_file(path: Path) -> Path | None:
    """The first of ``path``'s ancestors that exists and is not a directory, if any."""
    for parent in reversed(Path(path).parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def check_out_dir(path: Path, flag: str = "--out") -> None:
    """``path`` must be a directory or creatable as one (checked before any work starts,
    so a typo does not cost a training run and a FileExistsError traceback)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a directory (expected a run directory)")
    if (blocker := _blocking_file(path)) is not None:
        raise UsageError(f"{flag} {path}: {blocker} is a file, not a directory")


def check_out_file(path: Path, flag: str = "--out") -> None:
    """``path`` must be a file path we can write (not an existing directory)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory (expected a JSON file path)")
    if (blocker := _blocking_file(path)) is not None:
        raise UsageError(f"{flag} {path}: {blocker} is a file, not a directory")


def check_checkpoint_path(path: Path, flag: str = "--model-path") -> None:
    """``path`` must be an existing checkpoint file."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory (expected a checkpoint file)")
    if not path.exists():
        raise UsageError(f"{flag} {path}: checkpoint not found")
