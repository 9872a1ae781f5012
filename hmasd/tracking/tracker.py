"""The :class:`Tracker` of one training run: routes what the training loop logs to the
statistics, TensorBoard and the ``paper_data/`` exports.

When scalars are written:

- ``log_episodes`` (one call per env step in which episodes finished; batched envs finish
  many at once): one point per episode-metric tag (``Training/Episode_Reward``,
  ``Training/Episode_Length``, ``Performance/Episode_*``) holding the **mean over the
  episodes of that call**, plus one point each of ``Training/Avg_Reward_10ep`` (mean of the
  last 10 episode returns) and ``Training/Episodes_Completed``. The CSV keeps every episode.
- ``log_update`` (one call per update): ``Sync/*`` (update counters, rolling 10-update means,
  stale fraction and policy lag), ``Performance/Env_Steps_Per_Second`` (env-step and
  wall-time deltas between updates), every key of ``losses`` as given, ``Reward/*``
  (per-transition means of the reward components since the previous update),
  ``Training/Skill_Switches_Total`` and ``Training/Skill_Diversity_Recent`` (normalised
  entropy of the team skills chosen since the previous update; skipped when none were).
- ``log_skills`` and ``log_step_rewards`` write no scalars: they run at every decision and
  every env step, so they only add into device tensors (no host sync); ``log_update`` reads
  those once per update.

Exports (``maybe_export``), each holding only what was logged since the previous export:
``episode_rewards_step_N.csv``, ``sync_metrics_step_N.csv``, ``reward_components_step_N.csv``,
``skill_usage_step_N.json``, ``sync_training_progress_step_N.png`` and, with detailed
logging, ``reward_components_detailed_step_N.csv`` and ``skill_traces_step_N.csv``.
``close`` writes the rows still pending and ``sync_training_summary.json``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from hmasd.config import TrackingConfig
from hmasd.io import atomic_write_json
from hmasd.tracking import tags
from hmasd.tracking.episodes import EpisodeStats, episode_rows, host_columns
from hmasd.tracking.exports import (
    EPISODE_COLUMNS,
    REWARD_COLUMNS,
    SYNC_COLUMNS,
    DetailedRows,
    Rows,
    jsonable,
)
from hmasd.tracking.progress import ProgressHistory
from hmasd.tracking.rewards import RewardMeans
from hmasd.tracking.skills import SkillCounts, normalized_entropy, usage, usage_document
from hmasd.tracking.updates import UpdateRecord, UpdateStats

log = logging.getLogger("hmasd.tracking")


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
        self.paper_dir = self.run_dir / "paper_data"
        self.detailed = cfg.export and cfg.detailed_logging
        self.tb = tags.Scalars(self.run_dir / "tb" if cfg.tensorboard else None, start_step)
        self._closed = False

        self.episodes = EpisodeStats()
        self.update_stats = UpdateStats()
        self.skills = SkillCounts(n_agents, n_team_skills, n_ind_skills)
        self.rewards = RewardMeans()
        self.progress = ProgressHistory(n_team_skills)
        # Rows pending for the next export, one buffer per file.
        self.episode_rows = Rows(EPISODE_COLUMNS)
        self.sync_rows = Rows(SYNC_COLUMNS)
        self.reward_rows = Rows(REWARD_COLUMNS)
        self.detail_rows = DetailedRows()

        self.env_step = start_step  # the largest env step logged so far
        self.last_export_step = start_step
        self.last_eval: tuple[float, float] | None = None

    def _seen(self, env_step: int) -> None:
        self.env_step = max(self.env_step, int(env_step))

    # ------------------------------------------------------------------ logging
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
        cols = host_columns(episodes)
        returns = cols["return"]
        if returns.size == 0:
            return
        first = self.episodes.add(returns)
        self.progress.add_episodes(env_step, float(returns.mean()))
        for key, tag in tags.EPISODE_TAGS.items():
            if key in cols:
                self.tb.add(tag, float(cols[key].mean()), env_step)
        self.tb.add(tags.AVG_REWARD, self.episodes.recent_mean(), env_step)
        self.tb.add(tags.EPISODES_COMPLETED, self.episodes.completed, env_step)
        if self.cfg.export:
            self.episode_rows.append(episode_rows(cols, first, env_step, policy_version))

    def log_skills(self, env_step: int, team: Tensor, ind: Tensor, switched: Tensor) -> None:
        """Count the skills chosen at a coordinator decision (no host sync).

        ``team`` (E,), ``ind`` (E, n) long: the skills of the E envs that decided;
        ``switched`` (E,) bool: the env's skills changed from its previous window.
        """
        self._seen(env_step)
        self.skills.add(team, ind, switched)
        if self.detailed:
            self.detail_rows.add_decision(env_step, team, ind)

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
        terms = self.rewards.add(env_component, team_disc_component, ind_disc_component)
        if self.detailed:
            self.detail_rows.add_step(env_step, terms)

    def log_update(self, env_step: int, record: UpdateRecord, losses: Mapping[str, float]) -> None:
        """Record one update: its :class:`UpdateRecord`, its ``losses`` (logged under their
        own keys) and the reward components and team skills since the previous update."""
        self._seen(env_step)
        s = env_step
        for tag, value in self.update_stats.add(record).items():
            self.tb.add(tag, value, s)
        for tag, value in losses.items():
            self.tb.add(tag, float(value), s)

        env_c, team_c, ind_c = self.rewards.take()
        total = env_c + team_c + ind_c
        if not math.isnan(total):
            for tag, value in zip(tags.REWARD_COMPONENTS, (env_c, team_c, ind_c), strict=True):
                self.tb.add(tag, value, s)

        self.tb.add(tags.SKILL_SWITCHES_TOTAL, self.skills.switches_total(), s)
        team_counts = self.skills.take_recent()
        if sum(team_counts) > 0:
            self.tb.add(tags.SKILL_DIVERSITY_RECENT, normalized_entropy(team_counts), s)
        self.progress.add_update(record, (env_c, team_c, ind_c, total), team_counts)

        if self.cfg.export:
            self.sync_rows.append(record.row())
            self.reward_rows.append({
                "env_steps": int(record.env_steps),
                "policy_version": int(record.policy_version),
                "env_component": env_c,
                "team_disc_component": team_c,
                "ind_disc_component": ind_c,
                "total": total,
            })

    def log_scalars(self, env_step: int, scalars: Mapping[str, float]) -> None:
        """Log ``{tag: value}`` at ``env_step`` as given."""
        self._seen(env_step)
        for tag, value in scalars.items():
            self.tb.add(tag, float(value), env_step)

    def log_eval(self, env_step: int, mean: float, std: float) -> None:
        """``Eval/MeanReward`` and ``Eval/StdReward`` of an evaluation at ``env_step``."""
        self._seen(env_step)
        self.last_eval = (float(mean), float(std))
        self.tb.add(tags.EVAL_MEAN, mean, env_step)
        self.tb.add(tags.EVAL_STD, std, env_step)

    # ------------------------------------------------------------------ exports
    def pending_rows(self) -> dict[str, int]:
        """Rows held for the next export, per file kind (bounded by one export interval)."""
        return {
            "episode_rewards": self.episode_rows.n,
            "sync_metrics": self.sync_rows.n,
            "reward_components": self.reward_rows.n,
            **self.detail_rows.pending(),
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

    def _export(self, step: int) -> None:
        # Skill counts are taken even with exports off: the run's totals include them.
        interval = usage(*self.skills.take_interval())
        start, self.last_export_step = self.last_export_step, step
        if self.cfg.export:
            d = self.paper_dir
            self.episode_rows.write(d / f"episode_rewards_step_{step}.csv")
            self.sync_rows.write(d / f"sync_metrics_step_{step}.csv")
            self.reward_rows.write(d / f"reward_components_step_{step}.csv")
            doc = usage_document(
                interval,
                self.skills.cumulative(),
                total_steps=step,
                sync_updates=self.update_stats.updates,
                start_step=start,
                interval_updates=self.sync_rows.n,
            )
            atomic_write_json(d / f"skill_usage_step_{step}.json", jsonable(doc))
            if self.detailed:
                self.detail_rows.write(d, step)
            if self.cfg.progress_figure:
                self.progress.render(
                    d / f"sync_training_progress_step_{step}.png",
                    title=f"HMASD {self.mode} training, env step {step}",
                )
            log.info("exported paper_data at env_step %d (%d episodes, %d updates)",
                     step, self.episode_rows.n, self.sync_rows.n)
        for rows in (self.episode_rows, self.sync_rows, self.reward_rows, self.detail_rows):
            rows.clear()

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Everything exact resume needs, as python values and CPU tensors.

        One flat dict (the layout checkpoints have always held): each part contributes its
        own keys.
        """
        return {
            "env_step": self.env_step,
            "last_export_step": self.last_export_step,
            "last_eval": None if self.last_eval is None else list(self.last_eval),
            **self.episodes.state_dict(),
            **self.update_stats.state_dict(),
            **self.skills.state_dict(),
            **self.rewards.state_dict(),
            "histories": self.progress.state_dict(),
            "episodes": self.episode_rows.state_dict(),
            "sync": self.sync_rows.state_dict(),
            "rewards": self.reward_rows.state_dict(),
            **self.detail_rows.state_dict(),
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (device tensors move to the device of the next call)."""
        self.env_step = int(d["env_step"])
        self.last_export_step = int(d["last_export_step"])
        self.last_eval = None if d["last_eval"] is None else tuple(d["last_eval"])
        self.skills.load_state_dict(d)  # first: it checks the state fits this run
        self.episodes.load_state_dict(d)
        self.update_stats.load_state_dict(d)
        self.rewards.load_state_dict(d)
        self.progress.load_state_dict(d["histories"])
        self.episode_rows.load_state_dict(d["episodes"])
        self.sync_rows.load_state_dict(d["sync"])
        self.reward_rows.load_state_dict(d["rewards"])
        self.detail_rows.load_state_dict(d)

    # ------------------------------------------------------------------ end
    def summary(self) -> dict[str, Any]:
        """The tracker's own totals over the run.

        Quantities the trainer's run summary also reports carry the trainer's names
        (``env_steps``, ``updates``, ``mean_lag``, ``final_eval``, ...), so that
        ``sync_training_summary.json``, which merges the two, holds each quantity once.
        """
        return {
            "mode": self.mode,
            "env_steps": self.env_step,
            **self.update_stats.summary(),
            **self.episodes.summary(),
            "skill_switches_total": self.skills.switches_total(),
            "final_eval": None if self.last_eval is None
            else {"mean_reward": self.last_eval[0], "std_reward": self.last_eval[1]},
        }

    def flush(self) -> None:
        """Write TensorBoard's buffered events to disk (a run stopping by a signal)."""
        self.tb.flush()

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Export rows still pending (as ``*_step_{last env step}``), write
        ``sync_training_summary.json`` and close TensorBoard.

        The summary file holds ``summary`` (the caller's run summary) followed by the keys of
        :meth:`summary` that it lacks; where both name a quantity, the caller's value is
        kept (the two are equal: the trainer counts the same updates and evaluations).
        """
        if self._closed:
            return
        self._closed = True
        if self.env_step > self.last_export_step:
            self._export(self.env_step)
        if self.cfg.export:
            given = dict(summary or {})
            own = {k: v for k, v in self.summary().items() if k not in given}
            atomic_write_json(
                self.paper_dir / "sync_training_summary.json", jsonable({**given, **own})
            )
        self.tb.close()
