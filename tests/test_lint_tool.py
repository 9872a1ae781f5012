"""tools/lint_workflow.py: every Snakemake lint but the declined conda one fails `make lint`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lint_workflow", ROOT / "tools/lint_workflow.py")
lint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lint)

CONDA_ONLY = """Lints for rule train_sync (line 7, workflow/rules/train.smk):
    * Specify a conda environment or container for each rule.:
      This way, the used software for each specific step is documented.
"""
MORE = CONDA_ONLY + """
Lints for rule tables (line 50, workflow/rules/analysis.smk):
    * No log directive defined:
      Without a log directive, all output will be printed to the terminal.
"""


def test_the_declined_lint_passes_and_any_other_fails() -> None:
    assert lint.other_lints(CONDA_ONLY) == []
    assert lint.other_lints(MORE) == ["rule tables: No log directive defined"]
    assert lint.other_lints("") == []
