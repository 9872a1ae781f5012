"""Per-transition means of the low-level reward terms between two updates.

The terms arrive every env step, so they are summed into one device tensor (no host sync per
step) and read on the host once per update.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor


class RewardMeans:
    """Sums of the weighted env, team-discriminator and individual-discriminator reward terms
    since the previous :meth:`take`, and how many transitions they cover."""

    def __init__(self) -> None:
        self._sum: Tensor | None = None  # (3,) float64, on the device of the last terms
        self._n = 0

    def add(self, env_component: Tensor, team_disc_component: Tensor,
            ind_disc_component: Tensor) -> Tensor:
        """Add one env step: ``env_component`` (B,), ``team_disc_component`` (B,),
        ``ind_disc_component`` (B, n) (averaged over agents). Returns the ``(3, B)`` float64
        terms per env, for the detailed rows."""
        per_env = torch.stack(
            (env_component, team_disc_component, ind_disc_component.mean(-1))
        ).detach().to(torch.float64)
        if self._sum is None:
            self._sum = torch.zeros(3, dtype=torch.float64, device=per_env.device)
        elif self._sum.device != per_env.device:
            self._sum = self._sum.to(per_env.device)
        self._sum += per_env.sum(1)
        self._n += per_env.shape[1]
        return per_env

    def take(self) -> tuple[float, float, float]:
        """Mean env, team and ind terms per transition since the previous call (NaN when no
        step was added); resets the sums."""
        if self._n > 0 and self._sum is not None:
            env_c, team_c, ind_c = (self._sum / self._n).tolist()
            self._sum.zero_()
        else:
            env_c = team_c = ind_c = math.nan
        self._n = 0
        return env_c, team_c, ind_c

    def state_dict(self) -> dict[str, Any]:
        return {
            "reward_sum": None if self._sum is None else self._sum.detach().cpu().clone(),
            "reward_n": self._n,
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self._sum = None if d["reward_sum"] is None else d["reward_sum"].clone()
        self._n = int(d["reward_n"])
