"""The DAG's experiment grid (``config/config.yaml``): named configs, their bases and modes.

A named config is an hmasd preset plus overrides. Resolution order, later wins:

    preset  <-  grid ``defaults``  <-  the base chain's overrides  <-  own ``overrides``

A config with ``base: other`` is a variant of ``other`` (an ablation): it inherits the
base's preset, overrides, label and modes unless it sets its own, and the analysis groups
it with its base as one *family* (the root of the chain). A family shares its episodes:
variants may change the agent, the schedule and what agents observe, never the env
dynamics, so every method of a family is compared on the same evaluation episodes (and
one set of baselines serves the whole family).

Pure functions over the validated grid dict, so ``workflow/rules/common.smk`` and the
tests use the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hmasd.config import load, merge, to_dict
from hmasd.errors import ConfigError

OBSERVATION_KEYS = frozenset({"user_obs", "density_map_size", "nearest_users"})
"""Env keys that change only what agents observe: a variant may change these."""

DEFAULT_LABEL = "HMASD"


@dataclass(frozen=True)
class Named:
    """One named config, resolved."""

    name: str
    preset: str
    overrides: dict[str, Any]
    """Everything on top of the preset: defaults, base chain, own, and the grid device."""
    family: str
    """Root of the base chain (itself when it has no base)."""
    label: str
    """Method name in the table and figures."""
    modes: tuple[str, ...]
    """Modes this config runs (a subset of the grid's, in the grid's order)."""


def _copy(d: Any) -> Any:
    return json.loads(json.dumps(d))


def resolve(grid: dict[str, Any], name: str) -> Named:
    """Resolve named config ``name`` of ``grid`` (validated by the schema; raises
    :class:`ConfigError` for an unknown base or a cycle). Its modes are those of its own
    ``modes`` (or its base's) that the grid runs; possibly none."""
    configs = grid["configs"]
    chain = [name]
    while "base" in configs[chain[-1]]:
        base = configs[chain[-1]]["base"]
        if base not in configs:
            raise ConfigError(
                f"'configs.{chain[-1]}.base' is {base!r}, not a named config "
                f"(named: {', '.join(sorted(configs))})"
            )
        if base in chain:
            raise ConfigError(f"'configs.{name}': base chain loops ({' -> '.join([*chain, base])})")
        chain.append(base)
    root_first = [configs[n] for n in reversed(chain)]
    overrides = _copy(grid.get("defaults") or {})
    preset, label, modes = "default", DEFAULT_LABEL, list(grid["modes"])
    for named in root_first:
        overrides = merge(overrides, _copy(named.get("overrides") or {}))
        preset = named.get("preset", preset)
        label = named.get("label", label)
        if "modes" in named:
            # Among the grid's modes: narrowing the grid to sync also drops async variants.
            modes = [m for m in grid["modes"] if m in named["modes"]]
    overrides.setdefault("train", {}).setdefault("device", grid.get("device", "cpu"))
    return Named(name, preset, overrides, chain[-1], label, tuple(modes))


def resolve_all(grid: dict[str, Any]) -> dict[str, Named]:
    """Every named config resolved, each loaded through :func:`hmasd.config.load` (so range
    errors stop the DAG before any job), and every variant checked to share its family's
    env dynamics. Errors name the config."""
    out = {name: resolve(grid, name) for name in grid["configs"]}
    envs = {}
    for name, named in out.items():
        try:
            envs[name] = to_dict(load(named.preset, named.overrides))["env"]
        except ConfigError as exc:
            raise ConfigError(f"'configs.{name}': {exc}") from None
    for name, named in out.items():
        if named.family == name:
            continue
        mine, root = envs[name], envs[named.family]
        changed = sorted(k for k in mine if k not in OBSERVATION_KEYS and mine[k] != root[k])
        if changed:
            raise ConfigError(
                f"'configs.{name}' changes env.{changed[0]} of its family "
                f"'{named.family}': a variant plays its base's episodes; give it no base "
                "to make it a config of its own"
            )
    return out
