"""The series of the progress figure (``sync_training_progress_step_N.png``), kept bounded.

The figure covers the whole run at every export, so its series cannot be cut at the export
like the CSV rows; :class:`History` instead merges old points pairwise once it is full. The
drawing itself lives in :mod:`hmasd.tracking.plots`, imported only when a figure is drawn,
so that code which only reads checkpoints never depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hmasd.tracking.updates import UpdateRecord

HISTORY_POINTS = 1000
"""Most points each progress-figure series keeps (older ones are merged pairwise)."""


class History:
    """A bounded, downsampled series of fixed-width points for the progress figure.

    Keeps at most ``cap`` points covering the whole run: when full, neighbouring points are
    averaged pairwise and each later stored point averages twice as many raw points.
    """

    def __init__(self, width: int, cap: int = HISTORY_POINTS) -> None:
        if cap < 2 or cap % 2:
            raise ValueError(f"History cap must be an even number >= 2, got {cap}")
        self.width, self.cap = width, cap
        self.points: list[list[float]] = []
        self.stride = 1
        self._acc = [0.0] * width
        self._n = 0

    def add(self, point: Iterable[float]) -> None:
        point = [float(v) for v in point]
        if len(point) != self.width:
            raise ValueError(f"History point has {len(point)} values, expected {self.width}")
        self._acc = [a + v for a, v in zip(self._acc, point, strict=True)]
        self._n += 1
        if self._n < self.stride:
            return
        self.points.append([a / self._n for a in self._acc])
        self._acc, self._n = [0.0] * self.width, 0
        if len(self.points) >= self.cap:
            pts = self.points
            self.points = [
                [(a + b) / 2 for a, b in zip(pts[i], pts[i + 1], strict=True)]
                for i in range(0, len(pts), 2)
            ]
            self.stride *= 2

    def array(self) -> np.ndarray:
        """``(points, width)`` float array (an empty ``(0, width)`` array when empty)."""
        return np.asarray(self.points, dtype=np.float64).reshape(-1, self.width)

    def state_dict(self) -> dict[str, Any]:
        return {"points": [list(p) for p in self.points], "stride": self.stride,
                "acc": list(self._acc), "n": self._n}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self.points = [list(p) for p in d["points"]]
        self.stride, self._acc, self._n = int(d["stride"]), list(d["acc"]), int(d["n"])


class ProgressHistory:
    """The four series of the progress figure; column 0 of each is the env step.

    ``episode``: mean return of each log_episodes call; ``components``: env, team, ind and
    total reward per transition of each update; ``sync``: efficiency, collection time,
    update time, stale fraction and mean lag of each update; ``team``: fraction of each team
    skill among the decisions of each update.
    """

    def __init__(self, n_team_skills: int) -> None:
        self.series = {
            "episode": History(2),
            "components": History(5),
            "sync": History(6),
            "team": History(1 + n_team_skills),
        }

    def add_episodes(self, env_step: int, mean_return: float) -> None:
        self.series["episode"].add((env_step, mean_return))

    def add_update(
        self,
        record: UpdateRecord,
        components: tuple[float, float, float, float],
        team_counts: list[int],
    ) -> None:
        """One update: its record, its (env, team, ind, total) reward means and the team
        skills chosen since the previous update (no point when none were)."""
        total = sum(team_counts)
        if total > 0:
            self.series["team"].add((record.env_steps, *(c / total for c in team_counts)))
        self.series["components"].add((record.env_steps, *components))
        self.series["sync"].add((record.env_steps, record.sync_efficiency,
                                 record.collection_time, record.update_time,
                                 record.stale_fraction, record.mean_lag))

    def render(self, path: Path, title: str) -> None:
        """Draw the figure of the run so far into a PNG at ``path`` (atomically)."""
        from hmasd.tracking.plots import render_progress

        render_progress(path, {k: h.array() for k, h in self.series.items()}, title=title)

    def state_dict(self) -> dict[str, Any]:
        return {k: h.state_dict() for k, h in self.series.items()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        for k, h in self.series.items():
            h.load_state_dict(d[k])
