"""TensorBoard: the tag names and the one writer every scalar goes through.

The tags are named exactly as the seed named them: users' TensorBoard layouts and the
comparison with the seed's runs rely on the names. The global step of every scalar is the
env-step counter (all envs counted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROLLING = 10
"""Window of Training/Avg_Reward_10ep and the Sync/Avg_*_10updates tags (the seed's 10)."""

# Per-episode means, keyed by the episode dict's key: one point per log_episodes call.
EPISODE_TAGS = {
    "return": "Training/Episode_Reward",
    "length": "Training/Episode_Length",
    "throughput_mbps": "Performance/Episode_System_Throughput_Mbps",
    "connected_users": "Performance/Episode_Connected_Users",
    "coverage": "Performance/Episode_Coverage_Ratio",
}
AVG_REWARD = "Training/Avg_Reward_10ep"
EPISODES_COMPLETED = "Training/Episodes_Completed"

# One point per update.
TOTAL_UPDATES = "Sync/Total_Updates"
POLICY_VERSION = "Sync/Current_Policy_Version"
AVG_EFFICIENCY = "Sync/Avg_Efficiency_10updates"
AVG_COLLECTION_TIME = "Sync/Avg_Collection_Time_10updates"
AVG_UPDATE_TIME = "Sync/Avg_Update_Time_10updates"
STALE_FRACTION = "Sync/Stale_Fraction"
MEAN_POLICY_LAG = "Sync/Mean_Policy_Lag"
MAX_POLICY_LAG = "Sync/Max_Policy_Lag"
ENV_STEPS_PER_SECOND = "Performance/Env_Steps_Per_Second"
# Per-transition means of the weighted low-level reward terms: env, team disc., ind. disc.
REWARD_COMPONENTS = ("Reward/Env_Component", "Reward/Team_Disc_Component",
                     "Reward/Ind_Disc_Component")
SKILL_SWITCHES_TOTAL = "Training/Skill_Switches_Total"
SKILL_DIVERSITY_RECENT = "Training/Skill_Diversity_Recent"

# One point per evaluation.
EVAL_MEAN = "Eval/MeanReward"
EVAL_STD = "Eval/StdReward"


class Scalars:
    """A TensorBoard ``SummaryWriter`` that is a no-op when TensorBoard is off.

    Args:
        log_dir: where the event files go; None turns TensorBoard off (nothing is written,
            tensorboard is not imported).
        resume_step: the env step of the checkpoint this session resumes from (0: a fresh
            run). The previous session's points after it are purged: a killed job may have
            logged past its last checkpoint, and this session logs those steps again. The
            checkpoint was written after every point at its own step, so those stay.
    """

    def __init__(self, log_dir: Path | None, resume_step: int = 0) -> None:
        self._writer: Any = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(
                log_dir=str(log_dir), purge_step=resume_step + 1 if resume_step > 0 else None
            )

    def add(self, tag: str, value: float, step: int) -> None:
        """One point of ``tag`` at env step ``step``."""
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), global_step=step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
