"""Reward tracking: TensorBoard scalars and the seed's `paper_data/` exports.

One :class:`Tracker` per run, fed by the training loop of either mode. Its parts, each
readable alone:

- :mod:`~hmasd.tracking.tracker`: the :class:`Tracker`, which routes each log call to the
  parts below and says when each scalar and file is written;
- :mod:`~hmasd.tracking.tags`: the TensorBoard tag names and the writer;
- :mod:`~hmasd.tracking.exports`: the CSV column contract, pending-row buffers, writers;
- :mod:`~hmasd.tracking.episodes`: finished episodes (rows, return statistics);
- :mod:`~hmasd.tracking.updates`: :class:`UpdateRecord` and the statistics over updates;
- :mod:`~hmasd.tracking.rewards`: per-transition means of the reward terms;
- :mod:`~hmasd.tracking.skills`: skill counts and their diversity;
- :mod:`~hmasd.tracking.progress`: the bounded series of the progress figure, which
  :mod:`hmasd.tracking.plots` draws.
"""

from hmasd.tracking.exports import (
    DETAILED_REWARD_COLUMNS,
    EPISODE_COLUMNS,
    REWARD_COLUMNS,
    SKILL_TRACE_COLUMNS,
    SYNC_COLUMNS,
)
from hmasd.tracking.progress import History
from hmasd.tracking.skills import normalized_entropy
from hmasd.tracking.tracker import Tracker
from hmasd.tracking.updates import UpdateRecord, sync_efficiency

__all__ = [
    "DETAILED_REWARD_COLUMNS",
    "EPISODE_COLUMNS",
    "REWARD_COLUMNS",
    "SKILL_TRACE_COLUMNS",
    "SYNC_COLUMNS",
    "History",
    "Tracker",
    "UpdateRecord",
    "normalized_entropy",
    "sync_efficiency",
]
