"""What each update reports (:class:`UpdateRecord`) and the running statistics over updates.

:class:`UpdateStats` turns each record into the per-update ``Sync/*`` and
``Performance/Env_Steps_Per_Second`` scalars (rolling means over the seed's 10 updates) and
keeps the run's totals for the summary.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hmasd.tracking import tags
from hmasd.tracking.exports import SIGNAL_COLUMNS, STALENESS_COLUMNS


def sync_efficiency(samples: float, collection_time: float, update_time: float) -> float:
    """``samples / (collection_time + update_time)``; NaN when no time elapsed."""
    total = collection_time + update_time
    return samples / total if total > 0 else math.nan


@dataclass(frozen=True)
class UpdateRecord:
    """What one update reports, the row of ``sync_metrics_step_N.csv``.

    Times are seconds; ``env_steps`` is the env-step counter after the update and
    ``wall_time`` the run's elapsed seconds then (carried across resumes).
    """

    policy_version: int
    samples_collected: int
    collection_time: float
    update_time: float
    stale_fraction: float
    mean_lag: float
    max_lag: float
    env_steps: int
    wall_time: float
    measures: Mapping[str, float] = field(default_factory=dict)
    """The update's metrics by name (``agent.update``'s dict); its ``skills/*`` and
    ``staleness/*`` entries fill the signal and staleness columns (NaN where absent)."""

    @property
    def sync_efficiency(self) -> float:
        """Samples per second of collection plus update (the seed: 1024 / (15.6 + 2.3) = 57.2)."""
        return sync_efficiency(self.samples_collected, self.collection_time, self.update_time)

    def row(self) -> dict[str, float]:
        """The record by ``sync_metrics`` column name: the fields, ``sync_efficiency``, and
        the signal and staleness measures."""
        return {
            "policy_version": self.policy_version,
            "samples_collected": self.samples_collected,
            "collection_time": self.collection_time,
            "update_time": self.update_time,
            "sync_efficiency": self.sync_efficiency,
            "stale_fraction": self.stale_fraction,
            "mean_lag": self.mean_lag,
            "max_lag": self.max_lag,
            "env_steps": self.env_steps,
            "wall_time": self.wall_time,
            **{c: float(self.measures.get(f"skills/{c}", math.nan)) for c in SIGNAL_COLUMNS},
            **{c: float(self.measures.get(f"staleness/{c}", math.nan)) for c in STALENESS_COLUMNS},
        }


class UpdateStats:
    """Update counters, the rolling windows of the ``Sync/Avg_*_10updates`` tags and the
    run's totals (means over all updates for the summary)."""

    def __init__(self) -> None:
        self.updates = 0
        self.policy_version = 0
        self.recent_eff: deque[float] = deque(maxlen=tags.ROLLING)
        self.recent_collect: deque[float] = deque(maxlen=tags.ROLLING)
        self.recent_update: deque[float] = deque(maxlen=tags.ROLLING)
        self.last_update_at = (0, 0.0)  # (env_steps, wall_time) of the previous update
        self.totals = {
            "eff": 0.0,
            "eff_n": 0,
            "collect": 0.0,
            "update": 0.0,
            "stale": 0.0,
            "lag": 0.0,
            "max_lag": 0.0,
        }

    def add(self, record: UpdateRecord) -> dict[str, float]:
        """Count ``record``; returns this update's scalars by tag.

        ``Sync/Avg_Efficiency_10updates`` skips updates that took no measurable time (NaN
        efficiency); ``Performance/Env_Steps_Per_Second`` needs wall time to have passed
        since the previous update.
        """
        self.updates += 1
        self.policy_version = int(record.policy_version)
        eff = record.sync_efficiency
        self.recent_eff.append(eff)
        self.recent_collect.append(record.collection_time)
        self.recent_update.append(record.update_time)
        t = self.totals
        if not math.isnan(eff):
            t["eff"] += eff
            t["eff_n"] += 1
        t["collect"] += record.collection_time
        t["update"] += record.update_time
        t["stale"] += record.stale_fraction
        t["lag"] += record.mean_lag
        t["max_lag"] = max(t["max_lag"], float(record.max_lag))

        out = {tags.TOTAL_UPDATES: self.updates, tags.POLICY_VERSION: record.policy_version}
        valid = [v for v in self.recent_eff if not math.isnan(v)]
        if valid:
            out[tags.AVG_EFFICIENCY] = float(np.mean(valid))
        out[tags.AVG_COLLECTION_TIME] = float(np.mean(self.recent_collect))
        out[tags.AVG_UPDATE_TIME] = float(np.mean(self.recent_update))
        out[tags.STALE_FRACTION] = record.stale_fraction
        out[tags.MEAN_POLICY_LAG] = record.mean_lag
        out[tags.MAX_POLICY_LAG] = record.max_lag
        prev_steps, prev_wall = self.last_update_at
        dt = record.wall_time - prev_wall
        if dt > 0:
            out[tags.ENV_STEPS_PER_SECOND] = (record.env_steps - prev_steps) / dt
        self.last_update_at = (int(record.env_steps), float(record.wall_time))
        return out

    def summary(self) -> dict[str, Any]:
        """Counters and means over all updates (None before the first), named as the
        trainer's ``train_summary.json`` names them."""
        t, n, any_ = self.totals, max(self.updates, 1), self.updates > 0
        return {
            "updates": self.updates,
            "policy_version": self.policy_version,
            "mean_sync_efficiency": t["eff"] / t["eff_n"] if t["eff_n"] else None,
            "mean_collection_time_s": t["collect"] / n if any_ else None,
            "mean_update_time_s": t["update"] / n if any_ else None,
            "mean_stale_fraction": t["stale"] / n if any_ else None,
            "mean_lag": t["lag"] / n if any_ else None,
            "max_lag": t["max_lag"] if any_ else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "policy_version": self.policy_version,
            "recent_eff": list(self.recent_eff),
            "recent_collect": list(self.recent_collect),
            "recent_update": list(self.recent_update),
            "last_update_at": list(self.last_update_at),
            "totals": dict(self.totals),
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self.updates = int(d["updates"])
        self.policy_version = int(d["policy_version"])
        self.recent_eff = deque(d["recent_eff"], maxlen=tags.ROLLING)
        self.recent_collect = deque(d["recent_collect"], maxlen=tags.ROLLING)
        self.recent_update = deque(d["recent_update"], maxlen=tags.ROLLING)
        self.last_update_at = (int(d["last_update_at"][0]), float(d["last_update_at"][1]))
        self.totals = dict(d["totals"])
