"""Batched multi-UAV aerial base-station environment, its channel models and baselines.

The baselines are exported lazily (``_LAZY``, PEP 562): importing ``hmasd.env.uav_env`` runs
this file, and an eager import of ``baselines`` here would put it in the code fingerprint of
every DAG rule that runs the env (see ``hmasd.codehash``).
"""

import importlib
from typing import Any

from hmasd.env.uav_env import METRICS, StepResult, UAVBaseStationEnv

# Lazy exports: name -> submodule (read by hmasd.codehash, keep it a literal dict).
_LAZY = {"BASELINES": "baselines", "BaselinePolicy": "baselines", "run_baseline": "baselines"}

__all__ = [
    "BASELINES",
    "METRICS",
    "BaselinePolicy",
    "StepResult",
    "UAVBaseStationEnv",
    "run_baseline",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
