"""Fixtures of the DAG tests: one completed smoke run shared by the session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import SMOKE, copy_repo, copy_tree, snakemake


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A repository copy in which the whole smoke DAG has run (local, 2 cores)."""
    root = copy_repo(tmp_path_factory.mktemp("smoke") / "repo")
    start = time.perf_counter()
    snakemake(root, "--cores", "2", "--configfile", SMOKE)
    wall = time.perf_counter() - start
    (root.parent / "wall_s.txt").write_text(f"{wall:.1f}\n")
    print(f"\nsmoke DAG wall time: {wall:.1f} s")
    yield root


@pytest.fixture
def smoke_copy(smoke_run: Path, tmp_path: Path) -> Path:
    """A private copy of the completed smoke run that a test may edit."""
    return copy_tree(smoke_run, tmp_path / "repo")
