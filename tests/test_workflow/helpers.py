"""Helpers for the Snakemake DAG tests.

Every test works on a copy of the repository under a temporary directory (never on the real
tree): the files git knows about (tracked, or untracked and not ignored) are copied with
their mtimes. ``PYTHONPATH`` points at the copy, so the ``hmasd`` and ``analysis`` code the
jobs import is the copy's, and edits made by a test are the code that runs.

The fixtures (conftest.py) share one completed smoke run (``config/smoke.yaml``) across the
session (``smoke_run``); tests that change files take their own copy of it (``smoke_copy``).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hmasd.codehash import normalized

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
SMOKE = "config/smoke.yaml"


def repo_files() -> list[str]:
    """Files git would put in a commit now (tracked + untracked, minus ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted(f for f in out.split("\0") if f and (REPO / f).is_file())


def copy_repo(dest: Path) -> Path:
    """Copy the repository's files (mtimes kept) into ``dest``."""
    for rel in repo_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def job_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(root)
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


def snakemake(
    root: Path, *args: str, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``snakemake ARGS`` in ``root``; fail the test with its output if ``check``."""
    proc = subprocess.run(
        [SNAKEMAKE, *args],
        cwd=root,
        env=job_env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: dict[str, str]


_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def parse_jobs(text: str) -> list[Job]:
    """Jobs of a ``snakemake --dry-run`` listing (rule name and wildcards of each)."""
    jobs: list[Job] = []
    for line in text.splitlines():
        if m := _RULE.match(line):
            jobs.append(Job(m.group(1), {}))
        elif (m := _WILDCARDS.match(line)) and jobs:
            jobs[-1].wildcards.update(
                kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv
            )
    return jobs


def planned(root: Path, *args: str) -> list[Job]:
    """Jobs a dry run of the smoke grid would run now."""
    proc = snakemake(root, "--dry-run", *args, "--configfile", SMOKE)
    return parse_jobs(proc.stdout + proc.stderr)


def rules_of(jobs: list[Job]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return counts


def copy_tree(src: Path, dest: Path) -> Path:
    """Copy a completed workdir (results, .snakemake metadata, mtimes) to ``dest``."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def touch_later(path: Path) -> None:
    """Make ``path`` newer than every output (mtime resolution is coarse on some fs)."""
    now = time.time() + 5
    os.utime(path, (now, now))


def write_later(path: Path, text: str) -> None:
    """Write ``path`` and date it after every output, as a real edit would be."""
    path.write_text(text)
    touch_later(path)


def edit_without_meaning(path: Path) -> None:
    """Reword the module docstring (or add one), add comments and blank lines: the edits a
    researcher makes without changing what the code does. Checked, so that a slip here
    fails loudly instead of passing as "reruns nothing"."""
    text = path.read_text()
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and first.col_offset == 0
        and not lines[first.end_lineno - 1][first.end_col_offset :].strip()
    ):
        doc = repr(first.value.value + " (Reworded by a test.)")
        lines[first.lineno - 1 : first.end_lineno] = [doc + "\n"]
    else:
        lines.insert(0, '"""Documented by a test."""\n')
    new = "# A comment added by a test.\n\n" + "".join(lines) + "\n\n# And one at the end.\n"
    assert normalized(new) == normalized(text), path
    write_later(path, new)


def change_a_constant(path: Path) -> None:
    """Add 1 to the first module-level numeric constant (``NAME = 30.0`` -> ``31.0``)."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    for node in ast.parse(text).body:
        value = getattr(node, "value", None)
        if (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and isinstance(value, ast.Constant)
            and type(value.value) in (int, float)
            and value.lineno == value.end_lineno
        ):
            line = lines[value.lineno - 1]
            lines[value.lineno - 1] = (
                line[: value.col_offset] + repr(value.value + 1) + line[value.end_col_offset :]
            )
            new = "".join(lines)
            assert normalized(new) != normalized(text)
            write_later(path, new)
            return
    raise AssertionError(f"{path}: no module-level numeric constant to change")
