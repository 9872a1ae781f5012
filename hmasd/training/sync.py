"""Strict on-policy schedule (the seed's "sync" mode).

All ``num_envs`` envs step under one frozen policy version ``v`` for ``rollout_len`` steps,
so exactly ``batch_size = num_envs x rollout_len`` transitions are stored; collection then
stops and the agent updates on exactly that data (``v -> v + 1``). ``rollout_len`` is a
multiple of the skill interval k, so the rollout holds whole skill windows, each chosen by
``v`` too: the stale-sample fraction and the policy lag are 0 by construction, and no
window is cut (the async schedule with one group and no lag is this schedule, bit for bit:
``tests/test_training/test_schedules.py``).
"""

from __future__ import annotations

from hmasd.agent.batch import Batch
from hmasd.training.schedule import Schedule


class SyncSchedule(Schedule):
    """Collects one full ``(rollout_len, num_envs)`` batch per update into one reused buffer."""

    mode = "sync"

    def next_batch(self, env_step: int) -> tuple[Batch, int]:
        """Roll out under the current version; the batch views the reused buffer, so it is
        valid until the next call (the update consumes it first)."""
        env_step = self.collector.collect(self.agent, self.env, self.rs, self.buf, env_step)
        return self.buf.batch(), env_step
