"""Fixtures of the analysis tests: a results tree and its consolidated datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.consolidate import consolidate

from .fixtures import Tree, make_tree


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return make_tree(tmp_path / "results")


@pytest.fixture(scope="module")
def consolidated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Consolidated datasets of a 2 configs x 2 modes x 3 seeds tree (built once)."""
    root = tmp_path_factory.mktemp("analysis")
    tree = make_tree(root / "results", seeds=(0, 1, 2))
    out = root / "results" / "consolidated"
    consolidate(**tree.inputs(), out_dir=out)
    return out
