"""HMASD agent: skill coordinator, skill discoverer, discriminators, PPO at both levels."""

from hmasd.agent.batch import Batch
from hmasd.agent.hmasd import ActOut, HMASDAgent, SkillOut, low_level_reward

__all__ = ["ActOut", "Batch", "HMASDAgent", "SkillOut", "low_level_reward"]
