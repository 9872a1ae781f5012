"""Skill statistics: how often each team and individual skill is chosen, and how diverse.

Skills are counted at every coordinator decision, so the counters live on the device the
skills were chosen on and are read on the host only once per update (team skills since the
previous update) and once per export (everything since the previous export).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor


def normalized_entropy(counts: Iterable[float]) -> float:
    """Shannon entropy of the distribution of ``counts`` divided by log(number of bins).

    1.0 for uniform counts, 0.0 for a single used bin, no counts, or fewer than two bins.
    Dividing by the maximum makes runs with different skill counts comparable.
    """
    c = np.asarray(list(counts), dtype=np.float64)
    total = c.sum()
    if c.size < 2 or total <= 0:
        return 0.0
    p = c[c > 0] / total
    return float(-(p * np.log(p)).sum() / math.log(c.size))


def usage(team: list[int], ind: list[list[int]], switches: int) -> dict[str, Any]:
    """Counts and diversities in the seed's ``skill_usage`` keys.

    ``team`` (n_Z,) counts per team skill; ``ind`` (n, n_z) counts per agent and individual
    skill; ``individual_diversity`` is the mean over agents of each agent's diversity.
    """
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


def usage_document(
    interval: Mapping[str, Any],
    cumulative: Mapping[str, Any],
    *,
    total_steps: int,
    sync_updates: int,
    start_step: int,
    interval_updates: int,
) -> dict[str, Any]:
    """The content of ``skill_usage_step_N.json``: the seed's keys at top level with the
    counts since the previous export (``interval`` says which steps and updates that is),
    and the run's totals so far under ``cumulative``."""
    return {
        "team_skills": interval["team_skills"],
        "individual_skills": interval["individual_skills"],
        "skill_switches": interval["skill_switches"],
        "total_steps": total_steps,
        "sync_updates": sync_updates,
        "diversity": interval["diversity"],
        "individual_diversity": interval["individual_diversity"],
        "interval": {"start_step": start_step, "end_step": total_steps,
                     "sync_updates": interval_updates},
        "cumulative": dict(cumulative),
    }


class SkillCounts:
    """Skill choices counted over three spans: since the previous update (team skills, for
    ``Training/Skill_Diversity_Recent``), since the previous export (team, individual and
    switches, for ``skill_usage_step_N.json``) and over the whole run (host integers).

    Device counters are created on the device of the first skills counted and follow the
    skills if they move (a CPU checkpoint resumed on CUDA).
    """

    def __init__(self, n_agents: int, n_team: int, n_ind: int) -> None:
        self.n_agents, self.n_team, self.n_ind = n_agents, n_team, n_ind
        self._team_recent: Tensor | None = None  # (n_Z,) since the previous update
        self._team_interval: Tensor | None = None  # (n_Z,) since the previous export
        self._ind_interval: Tensor | None = None  # (n, n_z) since the previous export
        self._switch_interval: Tensor | None = None  # () since the previous export
        self.cum_team = [0] * n_team
        self.cum_ind = [[0] * n_ind for _ in range(n_agents)]
        self.cum_switches = 0

    def add(self, team: Tensor, ind: Tensor, switched: Tensor) -> None:
        """Count one decision (no host sync): ``team`` (E,), ``ind`` (E, n) long skills of the
        E envs that decided; ``switched`` (E,) bool: the env's skills changed."""
        self._on(team.device)
        team_oh = torch.nn.functional.one_hot(team.long(), self.n_team).sum(0)
        ind_oh = torch.nn.functional.one_hot(ind.long(), self.n_ind).sum(0)  # (n, n_z)
        self._team_recent += team_oh
        self._team_interval += team_oh
        self._ind_interval += ind_oh
        self._switch_interval += switched.long().sum()

    def _on(self, dev: torch.device) -> None:
        """Create the device counters on ``dev``, or move restored ones there."""
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

    def switches_total(self) -> int:
        """Skill switches over the whole run so far (one host read)."""
        pending = 0 if self._switch_interval is None else int(self._switch_interval.item())
        return self.cum_switches + pending

    def take_recent(self) -> list[int]:
        """Team-skill counts since the previous call; resets them."""
        if self._team_recent is None:
            return [0] * self.n_team
        counts = self._team_recent.tolist()
        self._team_recent.zero_()
        return counts

    def take_interval(self) -> tuple[list[int], list[list[int]], int]:
        """``(team, ind, switches)`` since the previous call, added to the run's totals;
        resets them."""
        if self._team_interval is None:
            team, ind, sw = [0] * self.n_team, [[0] * self.n_ind for _ in range(self.n_agents)], 0
        else:
            team, ind = self._team_interval.tolist(), self._ind_interval.tolist()
            sw = int(self._switch_interval.item())
            self._team_interval.zero_()
            self._ind_interval.zero_()
            self._switch_interval.zero_()
        self.cum_team = [a + b for a, b in zip(self.cum_team, team, strict=True)]
        self.cum_ind = [
            [a + b for a, b in zip(ra, rb, strict=True)]
            for ra, rb in zip(self.cum_ind, ind, strict=True)
        ]
        self.cum_switches += sw
        return team, ind, sw

    def cumulative(self) -> dict[str, Any]:
        """:func:`usage` of the run's totals up to the previous :meth:`take_interval`."""
        return usage(self.cum_team, self.cum_ind, self.cum_switches)

    def state_dict(self) -> dict[str, Any]:
        """Host totals and CPU copies of the device counters, under the checkpoint's keys."""

        def cpu(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.detach().cpu().clone()

        return {
            "cum_team": list(self.cum_team),
            "cum_ind": [list(r) for r in self.cum_ind],
            "cum_switches": self.cum_switches,
            "team_recent": cpu(self._team_recent),
            "team_interval": cpu(self._team_interval),
            "ind_interval": cpu(self._ind_interval),
            "switch_interval": cpu(self._switch_interval),
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the counters move to the device of the next skills."""
        if len(d["cum_team"]) != self.n_team or len(d["cum_ind"]) != self.n_agents:
            raise ValueError("tracker state has other skill or agent counts than this run")
        self.cum_team = [int(c) for c in d["cum_team"]]
        self.cum_ind = [[int(c) for c in r] for r in d["cum_ind"]]
        self.cum_switches = int(d["cum_switches"])
        for name in ("team_recent", "team_interval", "ind_interval", "switch_interval"):
            t = d[name]
            setattr(self, f"_{name}", None if t is None else t.clone())
