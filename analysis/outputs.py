"""The names of the analysis rules' outputs, in one light module (no matplotlib, pyarrow or
pandas), so that the DAG lists them without importing the code that writes them:
``workflow/rules/common.smk`` imports these names, ``analysis/figures.py`` and
``analysis/schema.py`` build exactly these outputs (each checks it at import)."""

from __future__ import annotations

FIGURES = [
    "learning_curves",
    "performance_curves",
    "sync_efficiency",
    "policy_lag",
    "skill_usage",
    "skill_cost",
    "reward_components",
    "final_scores",
    "staleness_ratios",
]
"""Figures of ``results/figures/`` (PNG and PDF each), in report order."""

DATASETS = [
    "runs",
    "episodes",
    "sync_metrics",
    "reward_components",
    "skill_usage",
    "eval",
    "baselines",
    "benchmarks",
]
"""Consolidated Parquet datasets of ``results/consolidated/``."""
