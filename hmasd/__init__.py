"""HMASD (Hierarchical Multi-Agent Skill Discovery) on a batched multi-UAV base-station env."""

__version__ = "0.1.0"
