"""Batched multi-UAV aerial base-station environment, its channel models and baselines."""

from hmasd.env.baselines import BASELINES, BaselinePolicy, run_baseline
from hmasd.env.uav_env import METRICS, StepResult, UAVBaseStationEnv

__all__ = [
    "BASELINES",
    "METRICS",
    "BaselinePolicy",
    "StepResult",
    "UAVBaseStationEnv",
    "run_baseline",
]
