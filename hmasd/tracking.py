"""Reward tracking: TensorBoard scalars and the seed's `paper_data/` exports (SPEC section 4).

One :class:`Tracker` per run, fed by the training loop of either mode. The global step of
every TensorBoard scalar is the env-step counter (all envs counted).

When scalars are written:

- ``log_episodes`` (one call per env step in which episodes finished; batched envs finish
  many at once): one point per episode-metric tag (``Training/Episode_Reward``,
  ``Training/Episode_Length``, ``Performance/Episode_*``) holding the **mean over the
  episodes of that call**, plus one point each of ``Training/Avg_Reward_10ep`` (mean of the
  last 10 episode returns) and ``Training/Episodes_Completed``. The CSV keeps every episode.
- ``log_update`` (one call per update): ``Sync/*`` (update counters, rolling 10-update means,
  stale fraction and policy lag), ``Performance/Env_Steps_Per_Second`` (env-step and
  wall-time deltas between updates), ``Reward/*`` (per-transition means of the reward
  components since the previous update), ``Training/Skill_Diversity_Recent`` (normalised
  entropy of the team skills chosen since the previous update; skipped when none were),
  ``Training/Skill_Switches_Total`` and every key of ``losses`` as given.
- ``log_skills`` and ``log_step_rewards`` write no scalars: they run at every decision and
  every env step, so they only add into device tensors (no host sync); ``log_update`` reads
  those once per update.

Exports (``maybe_export``), each holding only what was logged since the previous export so
memory stays bounded by one export interval; every file is written atomically:
``episode_rewards_step_N.csv``, ``sync_metrics_step_N.csv``, ``reward_components_step_N.csv``,
``skill_usage_step_N.json``, ``sync_training_progress_step_N.png`` and, with detailed
logging, ``reward_components_detailed_step_N.csv`` and ``skill_traces_step_N.csv``.
``close`` writes the rows still pending and ``sync_training_summary.json``.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hmasd.config import TrackingConfig
from hmasd.env.uav_env import METRICS as ENV_METRICS
from hmasd.io import atomic_write, atomic_write_json

log = logging.getLogger("hmasd.tracking")

# Per-episode env metrics: the env's own metric names (its `out.episode` holds their means).
EPISODE_METRICS = ENV_METRICS

EPISODE_COLUMNS = (
    "episode",
    "env_id",
    "total_reward",
    "episode_length",
    "timestamp",
    "env_component",
    "team_disc_component",
    "ind_disc_component",
    "env_return",
    *EPISODE_METRICS,
    "env_step",
    "policy_version",
)
SYNC_COLUMNS = (
    "policy_version",
    "samples_collected",
    "collection_time",
    "update_time",
    "sync_efficiency",
    "stale_fraction",
    "mean_lag",
    "max_lag",
    "env_steps",
    "wall_time",
)
REWARD_COLUMNS = (
    "env_steps",
    "policy_version",
    "env_component",
    "team_disc_component",
    "ind_disc_component",
    "total",
)
DETAILED_REWARD_COLUMNS = (
    "env_step",
    "env_id",
    "env_component",
    "team_disc_component",
    "ind_disc_component",
)
SKILL_TRACE_COLUMNS = ("env_step", "env_id", "agent", "team_skill", "ind_skill")

# Keys of the `episodes` dict of log_episodes: required, then per-episode env metrics.
EPISODE_REQUIRED = ("env_id", "return", "length", "env_component", "team_disc_component",
                    "ind_disc_component")
# TensorBoard tag of each per-episode mean.
EPISODE_TAGS = {
    "return": "Training/Episode_Reward",
    "length": "Training/Episode_Length",
    "throughput_mbps": "Performance/Episode_System_Throughput_Mbps",
    "connected_users": "Performance/Episode_Connected_Users",
    "coverage": "Performance/Episode_Coverage_Ratio",
}
ROLLING = 10
"""Window of Training/Avg_Reward_10ep and the Sync/Avg_*_10updates tags (the seed's 10)."""
HISTORY_POINTS = 1000
"""Most points each progress-figure series keeps (older ones are merged pairwise)."""


@dataclass(frozen=True)
class UpdateRecord:
    """What one update reports (SPEC section 3), the row of ``sync_metrics_step_N.csv``.

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

    @property
    def sync_efficiency(self) -> float:
        """Samples per second of collection plus update (the seed: 1024 / (15.6 + 2.3) = 57.2)."""
        return sync_efficiency(self.samples_collected, self.collection_time, self.update_time)

    def row(self) -> list[float]:
        return [
            self.policy_version,
            self.samples_collected,
            self.collection_time,
            self.update_time,
            self.sync_efficiency,
            self.stale_fraction,
            self.mean_lag,
            self.max_lag,
            self.env_steps,
            self.wall_time,
        ]


def sync_efficiency(samples: float, collection_time: float, update_time: float) -> float:
    """``samples / (collection_time + update_time)``; NaN when no time elapsed."""
    total = collection_time + update_time
    return samples / total if total > 0 else math.nan


def normalized_entropy(counts: Iterable[float]) -> float:
    """Shannon entropy of the distribution of ``counts`` divided by log(number of bins).

    1.0 for uniform counts, 0.0 for a single used bin, no counts, or fewer than two bins.
    """
    c = np.asarray(list(counts), dtype=np.float64)
    total = c.sum()
    if c.size < 2 or total <= 0:
        return 0.0
    p = c[c > 0] / total
    return float(-(p * np.log(p)).sum() / math.log(c.size))


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


def _write_csv(path: Path, columns: Iterable[str], data: Mapping[str, np.ndarray]) -> None:
    """Write columns of equal length as a CSV (numbers in their shortest exact form)."""
    names = list(columns)
    cols = [np.asarray(data[c]).astype(str) for c in names]

    def writer(fh: Any) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(names)
        w.writerows(zip(*cols, strict=True))

    atomic_write(path, writer)


class _Rows:
    """Pending CSV rows, stored column-wise as numpy chunks (one chunk per log call)."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.columns = tuple(columns)
        self.chunks: list[dict[str, np.ndarray]] = []
        self.n = 0

    def append(self, chunk: Mapping[str, Any]) -> None:
        arrays = {c: np.atleast_1d(np.asarray(chunk[c])) for c in self.columns}
        self.chunks.append(arrays)
        self.n += len(arrays[self.columns[0]])

    def data(self) -> dict[str, np.ndarray]:
        if not self.chunks:
            return {c: np.zeros(0) for c in self.columns}
        return {c: np.concatenate([ch[c] for ch in self.chunks]) for c in self.columns}

    def clear(self) -> None:
        self.chunks, self.n = [], 0

    def state_dict(self) -> dict[str, list[Any]]:
        return {c: v.tolist() for c, v in self.data().items()}

    def load_state_dict(self, d: Mapping[str, list[Any]]) -> None:
        self.clear()
        if d and len(d[self.columns[0]]):
            self.append({c: np.asarray(d[c]) for c in self.columns})


class Tracker:
    """TensorBoard scalars and `paper_data/` exports of one training run.

    Args:
        run_dir: the run directory; writes ``tb/`` and ``paper_data/`` under it.
        cfg: tracking config (export on/off and interval, TensorBoard, detailed logging).
        mode: ``sync`` or ``async`` (recorded in the summary).
        n_agents, n_team_skills, n_ind_skills: sizes of the skill-count tables.
        start_step: env step the run starts at (a checkpoint's step); > 0 on resume, where
            TensorBoard drops the previous session's points after it, so no step is logged
            twice.
    """

    def __init__(
        self,
        run_dir: Path,
        cfg: TrackingConfig,
        mode: str,
        n_agents: int,
        n_team_skills: int,
        n_ind_skills: int,
        start_step: int = 0,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.cfg = cfg
        self.mode = mode
        self.n_agents, self.n_team, self.n_ind = n_agents, n_team_skills, n_ind_skills
        self.paper_dir = self.run_dir / "paper_data"
        self.detailed = cfg.export and cfg.detailed_logging
        self._writer: Any = None
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # The checkpoint at start_step was written after every point at start_step was
            # logged, so only later points of the previous session are dropped.
            self._writer = SummaryWriter(
                log_dir=str(self.run_dir / "tb"),
                purge_step=start_step + 1 if start_step > 0 else None,
            )
        self._closed = False

        # Pending export rows (since the previous export).
        self._episodes = _Rows(EPISODE_COLUMNS)
        self._sync = _Rows(SYNC_COLUMNS)
        self._rewards = _Rows(REWARD_COLUMNS)
        # Detailed rows stay on the device until export: (env_step, tensor) per call.
        self._step_rows: list[tuple[int, Tensor]] = []
        self._trace_rows: list[tuple[int, Tensor, Tensor]] = []

        # Device accumulators, created on the device of the first tensors logged.
        self._reward_sum: Tensor | None = None  # (3,) float64 since the previous update
        self._reward_n = 0  # transitions summed into _reward_sum
        self._team_recent: Tensor | None = None  # (n_Z,) since the previous update
        self._team_interval: Tensor | None = None  # (n_Z,) since the previous export
        self._ind_interval: Tensor | None = None  # (n, n_z) since the previous export
        self._switch_interval: Tensor | None = None  # () since the previous export

        # Host counters (exact resume needs all of them).
        self.env_step = start_step
        self.last_export_step = start_step
        self.episodes_completed = 0
        self.updates = 0
        self.policy_version = 0
        self.cum_team = [0] * n_team_skills
        self.cum_ind = [[0] * n_ind_skills for _ in range(n_agents)]
        self.cum_switches = 0
        self.recent_returns: deque[float] = deque(maxlen=ROLLING)
        self.recent_eff: deque[float] = deque(maxlen=ROLLING)
        self.recent_collect: deque[float] = deque(maxlen=ROLLING)
        self.recent_update: deque[float] = deque(maxlen=ROLLING)
        self.best_return = -math.inf
        self.last_update_at = (0, 0.0)  # (env_steps, wall_time) of the previous update
        self.totals = {"eff": 0.0, "eff_n": 0, "collect": 0.0, "update": 0.0,
                       "stale": 0.0, "lag": 0.0, "max_lag": 0.0}
        self.last_eval: tuple[float, float] | None = None
        self.histories = {
            "episode": History(2),  # env_step, mean return of the call
            "components": History(5),  # env_steps, env, team, ind, total
            "sync": History(6),  # env_steps, efficiency, collect, update, stale, mean lag
            "team": History(1 + n_team_skills),  # env_steps, fraction of each team skill
        }

    # ------------------------------------------------------------------ TensorBoard
    def _scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), global_step=step)

    def _seen(self, env_step: int) -> None:
        self.env_step = max(self.env_step, int(env_step))

    # ------------------------------------------------------------------ episodes
    def log_episodes(
        self, env_step: int, policy_version: int, episodes: Mapping[str, Tensor | np.ndarray]
    ) -> None:
        """Record episodes that finished at ``env_step``.

        ``episodes``: 1-D tensors/arrays of length E: ``env_id``, ``return`` (env return),
        ``length``, ``env_component``, ``team_disc_component``, ``ind_disc_component``
        (episode sums of the weighted low-level reward terms) and the episode env metrics
        ``throughput_mbps``, ``connected_users``, ``coverage``, ``mean_sinr_db``,
        ``fairness``, ``connectivity_ratio``, ``mean_hops`` (NaN in the CSV when absent).
        """
        self._seen(env_step)
        missing = [k for k in EPISODE_REQUIRED if k not in episodes]
        if missing:
            raise KeyError(f"log_episodes: episodes dict lacks {', '.join(missing)}")
        keys = [*EPISODE_REQUIRED, *(k for k in EPISODE_METRICS if k in episodes)]
        # One stacked host copy instead of one sync per key.
        dev = next(
            (v.device for v in episodes.values() if isinstance(v, Tensor)), torch.device("cpu")
        )
        stacked = torch.stack([
            torch.as_tensor(episodes[k], device=dev).detach().reshape(-1).to(torch.float64)
            for k in keys
        ]).cpu().numpy()
        cols = dict(zip(keys, stacked, strict=True))
        e = stacked.shape[1]
        if e == 0:
            return
        returns = cols["return"]
        first = self.episodes_completed + 1
        self.episodes_completed += e
        self.recent_returns.extend(returns.tolist())
        self.best_return = max(self.best_return, float(returns.max()))
        self.histories["episode"].add((env_step, float(returns.mean())))

        for key, tag in EPISODE_TAGS.items():
            if key in cols:
                self._scalar(tag, float(cols[key].mean()), env_step)
        self._scalar("Training/Avg_Reward_10ep", float(np.mean(self.recent_returns)), env_step)
        self._scalar("Training/Episodes_Completed", self.episodes_completed, env_step)

        if not self.cfg.export:
            return
        nan = np.full(e, np.nan)
        row = {
            "episode": np.arange(first, first + e, dtype=np.int64),
            "env_id": cols["env_id"].astype(np.int64),
            "total_reward": cols["env_component"]
            + cols["team_disc_component"]
            + cols["ind_disc_component"],
            "episode_length": cols["length"].astype(np.int64),
            "timestamp": np.full(e, time.time()),
            "env_component": cols["env_component"],
            "team_disc_component": cols["team_disc_component"],
            "ind_disc_component": cols["ind_disc_component"],
            "env_return": returns,
            **{k: cols.get(k, nan) for k in EPISODE_METRICS},
            "env_step": np.full(e, int(env_step), dtype=np.int64),
            "policy_version": np.full(e, int(policy_version), dtype=np.int64),
        }
        self._episodes.append(row)

    # ------------------------------------------------------------------ skills
    def log_skills(self, env_step: int, team: Tensor, ind: Tensor, switched: Tensor) -> None:
        """Count the skills chosen at a coordinator decision (no host sync).

        ``team`` (E,), ``ind`` (E, n) long: the skills of the E envs that decided;
        ``switched`` (E,) bool: the env's skills changed from its previous window.
        """
        self._seen(env_step)
        self._skill_counters(team.device)
        team_oh = torch.nn.functional.one_hot(team.long(), self.n_team).sum(0)
        ind_oh = torch.nn.functional.one_hot(ind.long(), self.n_ind).sum(0)  # (n, n_z)
        self._team_recent += team_oh
        self._team_interval += team_oh
        self._ind_interval += ind_oh
        self._switch_interval += switched.long().sum()
        if self.detailed:
            self._trace_rows.append((int(env_step), team.detach().clone(), ind.detach().clone()))

    def _skill_counters(self, dev: torch.device) -> None:
        """Create the skill counters on ``dev``, or move restored ones there."""
        if self._team_recent is None:
            self._team_recent = torch.zeros(self.n_team, dtype=torch.long, device=dev)
        if self._team_interval is None:
            self._team_interval = torch.zeros(self.n_team, dtype=torch.long, device=dev)
            self._ind_interval = torch.zeros(
                self.n_agents, self.n_ind, dtype=torch.long, device=dev
            )
            self._switch_interval = torch.zeros((), dtype=torch.long, device=dev)
        if self._team_recent.device != dev:
            self._team_recent = self._team_recent.to(dev)
        if self._team_interval.device != dev:
            self._team_interval = self._team_interval.to(dev)
            self._ind_interval = self._ind_interval.to(dev)
            self._switch_interval = self._switch_interval.to(dev)

    # ------------------------------------------------------------------ step rewards
    def log_step_rewards(
        self,
        env_step: int,
        env_component: Tensor,
        team_disc_component: Tensor,
        ind_disc_component: Tensor,
    ) -> None:
        """Add one env step's weighted reward terms: ``env_component`` (B,),
        ``team_disc_component`` (B,), ``ind_disc_component`` (B, n) (averaged over agents).

        Called every env step, so it only adds into a device tensor (no host sync).
        """
        self._seen(env_step)
        per_env = torch.stack(
            (env_component, team_disc_component, ind_disc_component.mean(-1))
        ).detach().to(torch.float64)  # (3, B)
        if self._reward_sum is None or self._reward_sum.device != per_env.device:
            old = self._reward_sum
            self._reward_sum = (
                torch.zeros(3, dtype=torch.float64, device=per_env.device)
                if old is None
                else old.to(per_env.device)
            )
        self._reward_sum += per_env.sum(1)
        self._reward_n += per_env.shape[1]
        if self.detailed:
            self._step_rows.append((int(env_step), per_env))

    # ------------------------------------------------------------------ updates
    def log_update(self, env_step: int, record: UpdateRecord, losses: Mapping[str, float]) -> None:
        """Record one update: its :class:`UpdateRecord`, its ``losses`` (logged under their
        own keys) and the reward components and team skills since the previous update."""
        self._seen(env_step)
        s = env_step
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

        self._scalar("Sync/Total_Updates", self.updates, s)
        self._scalar("Sync/Current_Policy_Version", record.policy_version, s)
        valid = [v for v in self.recent_eff if not math.isnan(v)]
        if valid:
            self._scalar("Sync/Avg_Efficiency_10updates", float(np.mean(valid)), s)
        self._scalar("Sync/Avg_Collection_Time_10updates", float(np.mean(self.recent_collect)), s)
        self._scalar("Sync/Avg_Update_Time_10updates", float(np.mean(self.recent_update)), s)
        self._scalar("Sync/Stale_Fraction", record.stale_fraction, s)
        self._scalar("Sync/Mean_Policy_Lag", record.mean_lag, s)
        self._scalar("Sync/Max_Policy_Lag", record.max_lag, s)
        prev_steps, prev_wall = self.last_update_at
        dt = record.wall_time - prev_wall
        if dt > 0:
            sps = (record.env_steps - prev_steps) / dt
            self._scalar("Performance/Env_Steps_Per_Second", sps, s)
        self.last_update_at = (int(record.env_steps), float(record.wall_time))
        for tag, value in losses.items():
            self._scalar(tag, float(value), s)

        # Reward components: the one host read of the per-step sums per update.
        if self._reward_n > 0 and self._reward_sum is not None:
            env_c, team_c, ind_c = (self._reward_sum / self._reward_n).tolist()
            self._reward_sum.zero_()
        else:
            env_c = team_c = ind_c = math.nan
        self._reward_n = 0
        total = env_c + team_c + ind_c
        if not math.isnan(total):
            self._scalar("Reward/Env_Component", env_c, s)
            self._scalar("Reward/Team_Disc_Component", team_c, s)
            self._scalar("Reward/Ind_Disc_Component", ind_c, s)

        # Team skills chosen since the previous update.
        switches = self.cum_switches
        if self._switch_interval is not None:
            switches += int(self._switch_interval.item())
        self._scalar("Training/Skill_Switches_Total", switches, s)
        counts = [0] * self.n_team
        if self._team_recent is not None:
            counts = self._team_recent.tolist()
            self._team_recent.zero_()
        if sum(counts) > 0:
            self._scalar("Training/Skill_Diversity_Recent", normalized_entropy(counts), s)
            fracs = [c / sum(counts) for c in counts]
            self.histories["team"].add((record.env_steps, *fracs))

        self.histories["components"].add((record.env_steps, env_c, team_c, ind_c, total))
        self.histories["sync"].add((record.env_steps, eff, record.collection_time,
                                    record.update_time, record.stale_fraction, record.mean_lag))
        if self.cfg.export:
            self._sync.append(dict(zip(SYNC_COLUMNS, record.row(), strict=True)))
            self._rewards.append({
                "env_steps": int(record.env_steps),
                "policy_version": int(record.policy_version),
                "env_component": env_c,
                "team_disc_component": team_c,
                "ind_disc_component": ind_c,
                "total": total,
            })

    # ------------------------------------------------------------------ misc scalars
    def log_scalars(self, env_step: int, scalars: Mapping[str, float]) -> None:
        """Log ``{tag: value}`` at ``env_step`` as given."""
        self._seen(env_step)
        for tag, value in scalars.items():
            self._scalar(tag, float(value), env_step)

    def log_eval(self, env_step: int, mean: float, std: float) -> None:
        """``Eval/MeanReward`` and ``Eval/StdReward`` of an evaluation at ``env_step``."""
        self._seen(env_step)
        self.last_eval = (float(mean), float(std))
        self._scalar("Eval/MeanReward", mean, env_step)
        self._scalar("Eval/StdReward", std, env_step)

    # ------------------------------------------------------------------ exports
    def pending_rows(self) -> dict[str, int]:
        """Rows held for the next export, per file kind (bounded by one export interval)."""
        return {
            "episode_rewards": self._episodes.n,
            "sync_metrics": self._sync.n,
            "reward_components": self._rewards.n,
            "reward_components_detailed": sum(int(t.shape[1]) for _, t in self._step_rows),
            "skill_traces": sum(int(ind.numel()) for _, _, ind in self._trace_rows),
        }

    def maybe_export(self, env_step: int) -> bool:
        """Export when ``env_step`` crossed a multiple of ``export_interval`` since the last
        export; files are named by ``env_step``. Returns whether it exported."""
        self._seen(env_step)
        k = self.cfg.export_interval
        if env_step // k <= self.last_export_step // k:
            return False
        self._export(int(env_step))
        return True

    def _take_skill_counts(self) -> tuple[list[int], list[list[int]], int]:
        """Skill counts since the previous export (host copies); resets them."""
        if self._team_interval is None:
            return [0] * self.n_team, [[0] * self.n_ind for _ in range(self.n_agents)], 0
        team, ind = self._team_interval.tolist(), self._ind_interval.tolist()
        sw = int(self._switch_interval.item())
        self._team_interval.zero_()
        self._ind_interval.zero_()
        self._switch_interval.zero_()
        return team, ind, sw

    def _skill_json(self, team: list[int], ind: list[list[int]], switches: int) -> dict[str, Any]:
        return {
            "team_skills": {str(i): int(c) for i, c in enumerate(team)},
            "individual_skills": {
                f"agent_{a}": {str(i): int(c) for i, c in enumerate(row)}
                for a, row in enumerate(ind)
            },
            "skill_switches": int(switches),
            "diversity": normalized_entropy(team),
            "individual_diversity": float(np.mean([normalized_entropy(r) for r in ind])),
        }

    def _export(self, step: int) -> None:
        team, ind, switches = self._take_skill_counts()
        self.cum_team = [a + b for a, b in zip(self.cum_team, team, strict=True)]
        self.cum_ind = [
            [a + b for a, b in zip(ra, rb, strict=True)]
            for ra, rb in zip(self.cum_ind, ind, strict=True)
        ]
        self.cum_switches += switches
        start = self.last_export_step
        self.last_export_step = step
        if self.cfg.export:
            d = self.paper_dir
            _write_csv(
                d / f"episode_rewards_step_{step}.csv", EPISODE_COLUMNS, self._episodes.data()
            )
            _write_csv(d / f"sync_metrics_step_{step}.csv", SYNC_COLUMNS, self._sync.data())
            _write_csv(
                d / f"reward_components_step_{step}.csv", REWARD_COLUMNS, self._rewards.data()
            )
            usage = self._skill_json(team, ind, switches)
            # The seed's keys, with counts since the previous export; cumulative below.
            usage = {
                "team_skills": usage["team_skills"],
                "individual_skills": usage["individual_skills"],
                "skill_switches": usage["skill_switches"],
                "total_steps": step,
                "sync_updates": self.updates,
                "diversity": usage["diversity"],
                "individual_diversity": usage["individual_diversity"],
                "interval": {"start_step": start, "end_step": step,
                             "sync_updates": self._sync.n},
                "cumulative": self._skill_json(self.cum_team, self.cum_ind, self.cum_switches),
            }
            atomic_write_json(d / f"skill_usage_step_{step}.json", _jsonable(usage))
            if self.detailed:
                self._export_detailed(step)
            if self.cfg.progress_figure:
                from hmasd.tracking_plots import render_progress

                render_progress(
                    d / f"sync_training_progress_step_{step}.png",
                    {k: h.array() for k, h in self.histories.items()},
                    title=f"HMASD {self.mode} training, env step {step}",
                )
            log.info("exported paper_data at env_step %d (%d episodes, %d updates)",
                     step, self._episodes.n, self._sync.n)
        self._episodes.clear()
        self._sync.clear()
        self._rewards.clear()
        self._step_rows.clear()
        self._trace_rows.clear()

    def _export_detailed(self, step: int) -> None:
        d = self.paper_dir
        if self._step_rows:
            comps = torch.cat([t for _, t in self._step_rows], dim=1).cpu().numpy()  # (3, R)
            steps = np.concatenate(
                [np.full(t.shape[1], s, dtype=np.int64) for s, t in self._step_rows]
            )
            ids = np.concatenate([np.arange(t.shape[1]) for _, t in self._step_rows])
        else:
            comps, steps, ids = np.zeros((3, 0)), np.zeros(0, np.int64), np.zeros(0, np.int64)
        _write_csv(
            d / f"reward_components_detailed_step_{step}.csv",
            DETAILED_REWARD_COLUMNS,
            {"env_step": steps, "env_id": ids, "env_component": comps[0],
             "team_disc_component": comps[1], "ind_disc_component": comps[2]},
        )
        cols: dict[str, list[np.ndarray]] = {c: [] for c in SKILL_TRACE_COLUMNS}
        for s, team, ind in self._trace_rows:
            e, n = ind.shape
            ind_np = ind.cpu().numpy().astype(np.int64)
            cols["env_step"].append(np.full(e * n, s, dtype=np.int64))
            cols["env_id"].append(np.repeat(np.arange(e), n))
            cols["agent"].append(np.tile(np.arange(n), e))
            cols["team_skill"].append(np.repeat(team.cpu().numpy().astype(np.int64), n))
            cols["ind_skill"].append(ind_np.reshape(-1))
        data = {
            c: np.concatenate(v) if v else np.zeros(0, np.int64) for c, v in cols.items()
        }
        _write_csv(d / f"skill_traces_step_{step}.csv", SKILL_TRACE_COLUMNS, data)

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Everything exact resume needs, as python values and CPU tensors."""

        def cpu(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.detach().cpu().clone()

        return {
            "env_step": self.env_step,
            "last_export_step": self.last_export_step,
            "episodes_completed": self.episodes_completed,
            "updates": self.updates,
            "policy_version": self.policy_version,
            "cum_team": list(self.cum_team),
            "cum_ind": [list(r) for r in self.cum_ind],
            "cum_switches": self.cum_switches,
            "recent_returns": list(self.recent_returns),
            "recent_eff": list(self.recent_eff),
            "recent_collect": list(self.recent_collect),
            "recent_update": list(self.recent_update),
            "best_return": self.best_return,
            "last_update_at": list(self.last_update_at),
            "totals": dict(self.totals),
            "last_eval": None if self.last_eval is None else list(self.last_eval),
            "histories": {k: h.state_dict() for k, h in self.histories.items()},
            "episodes": self._episodes.state_dict(),
            "sync": self._sync.state_dict(),
            "rewards": self._rewards.state_dict(),
            "step_rows": [(s, cpu(t)) for s, t in self._step_rows],
            "trace_rows": [(s, cpu(a), cpu(b)) for s, a, b in self._trace_rows],
            "reward_sum": cpu(self._reward_sum),
            "reward_n": self._reward_n,
            "team_recent": cpu(self._team_recent),
            "team_interval": cpu(self._team_interval),
            "ind_interval": cpu(self._ind_interval),
            "switch_interval": cpu(self._switch_interval),
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (device tensors move to the device of the next call)."""
        self.env_step = int(d["env_step"])
        self.last_export_step = int(d["last_export_step"])
        self.episodes_completed = int(d["episodes_completed"])
        self.updates = int(d["updates"])
        self.policy_version = int(d["policy_version"])
        if len(d["cum_team"]) != self.n_team or len(d["cum_ind"]) != self.n_agents:
            raise ValueError("tracker state has other skill or agent counts than this run")
        self.cum_team = [int(c) for c in d["cum_team"]]
        self.cum_ind = [[int(c) for c in r] for r in d["cum_ind"]]
        self.cum_switches = int(d["cum_switches"])
        self.recent_returns = deque(d["recent_returns"], maxlen=ROLLING)
        self.recent_eff = deque(d["recent_eff"], maxlen=ROLLING)
        self.recent_collect = deque(d["recent_collect"], maxlen=ROLLING)
        self.recent_update = deque(d["recent_update"], maxlen=ROLLING)
        self.best_return = float(d["best_return"])
        self.last_update_at = (int(d["last_update_at"][0]), float(d["last_update_at"][1]))
        self.totals = dict(d["totals"])
        self.last_eval = None if d["last_eval"] is None else tuple(d["last_eval"])
        for k, h in self.histories.items():
            h.load_state_dict(d["histories"][k])
        self._episodes.load_state_dict(d["episodes"])
        self._sync.load_state_dict(d["sync"])
        self._rewards.load_state_dict(d["rewards"])
        self._step_rows = [(int(s), t.clone()) for s, t in d["step_rows"]]
        self._trace_rows = [(int(s), a.clone(), b.clone()) for s, a, b in d["trace_rows"]]
        self._reward_sum = None if d["reward_sum"] is None else d["reward_sum"].clone()
        self._reward_n = int(d["reward_n"])
        for name in ("team_recent", "team_interval", "ind_interval", "switch_interval"):
            t = d[name]
            setattr(self, f"_{name}", None if t is None else t.clone())

    # ------------------------------------------------------------------ end
    def summary(self) -> dict[str, Any]:
        """The tracker's own totals over the run."""
        t, n = self.totals, max(self.updates, 1)
        return {
            "mode": self.mode,
            "final_env_step": self.env_step,
            "episodes_completed": self.episodes_completed,
            "total_updates": self.updates,
            "final_policy_version": self.policy_version,
            "skill_switches_total": self.cum_switches
            + (int(self._switch_interval.item()) if self._switch_interval is not None else 0),
            "best_episode_reward": self.best_return if self.episodes_completed else None,
            "mean_recent_reward": float(np.mean(self.recent_returns))
            if self.recent_returns
            else None,
            "mean_sync_efficiency": t["eff"] / t["eff_n"] if t["eff_n"] else None,
            "mean_collection_time": t["collect"] / n if self.updates else None,
            "mean_update_time": t["update"] / n if self.updates else None,
            "mean_stale_fraction": t["stale"] / n if self.updates else None,
            "mean_policy_lag": t["lag"] / n if self.updates else None,
            "max_policy_lag": t["max_lag"] if self.updates else None,
            "last_eval_mean_reward": None if self.last_eval is None else self.last_eval[0],
            "last_eval_std_reward": None if self.last_eval is None else self.last_eval[1],
        }

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Export rows still pending (as ``*_step_{last env step}``), write
        ``sync_training_summary.json`` (``summary`` plus the tracker's totals under
        ``tracker``, and at top level where ``summary`` lacks the key), close TensorBoard."""
        if self._closed:
            return
        self._closed = True
        if self.env_step > self.last_export_step:
            self._export(self.env_step)
        if self.cfg.export:
            own = self.summary()
            out = {**own, **dict(summary or {}), "tracker": own}
            atomic_write_json(self.paper_dir / "sync_training_summary.json", _jsonable(out))
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()


def _jsonable(obj: Any) -> Any:
    """Plain JSON values: non-finite floats become null (strict JSON readers reject NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Tensor | np.generic):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)  # paths, devices, ...: their readable form
