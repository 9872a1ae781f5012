"""A disk that fills up under the DAG: the failing job's log is one line naming the file,
nothing upstream is touched, and `snakemake` after freeing space completes with the same
tables. Needs root to mount a small tmpfs (``small_fs``, tests/conftest.py); skipped with
the reason otherwise.

Snakemake deletes a job's old outputs before it runs the job, so a rule's previous outputs
do not survive its rerun at the DAG level; that the file a failed write would have
replaced stays intact is tests/test_disk_full.py's (checkpoints, exports, Parquet, tables).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import SMOKE, snakemake

pytestmark = pytest.mark.slow

TABLES = ("sync_vs_async.csv", "sync_vs_async.md", "sync_vs_async.tex")


def _snapshot(root: Path, sub: str) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under ``root/sub``."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted((root / sub).rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("rule", "folder"), [("consolidate", "consolidated"),
                                              ("tables", "tables")])
def test_a_full_disk_fails_one_job_with_one_line_and_the_rerun_completes(
    smoke_copy: Path, small_fs, rule: str, folder: str
) -> None:
    root = smoke_copy
    tables = {name: (root / "results" / "tables" / name).read_bytes() for name in TABLES}
    # The rule's outputs are gone and their folder is now on a 512 KiB filesystem, full
    # to the last byte (its old outputs would not help: Snakemake deletes them first).
    fs = small_fs("512k")
    target = root / "results" / folder
    shutil.rmtree(target)
    (fs.path / folder).mkdir()
    target.symlink_to(fs.path / folder, target_is_directory=True)
    upstream = _snapshot(root, "results/runs")
    fs.fill()

    res = snakemake(root, "--cores", "2", "--configfile", SMOKE, check=False)
    assert res.returncode != 0, res.stderr[-3000:]
    log = (root / "results" / "logs" / rule / f"{rule}.log").read_text().strip()
    last = log.splitlines()[-1]
    assert last.startswith(f"hmasd: error: results/{folder}/"), log
    assert "no space left on the device" in last
    assert "Traceback" not in log
    assert _snapshot(root, "results/runs") == upstream  # training and evaluation untouched

    fs.free()
    snakemake(root, "--cores", "2", "--configfile", SMOKE)
    for name, data in tables.items():
        assert (root / "results" / "tables" / name).read_bytes() == data, name
