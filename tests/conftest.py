"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class SmallFs:
    """A size-limited tmpfs mounted at :attr:`path`, which a test can fill up and free."""

    path: Path

    @property
    def filler(self) -> Path:
        return self.path / "filler"

    def fill(self) -> None:
        """Write :attr:`filler` until the filesystem is full to the last byte."""
        with open(self.filler, "ab", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 1024)
            except OSError:
                pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


def _mount(path: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``path``; the reason it cannot, or None."""
    if os.geteuid() != 0:
        return "needs root to mount a size-limited tmpfs"
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        path.rmdir()
        return f"mount failed: {res.stderr.strip()}"
    return None


@pytest.fixture
def small_fs() -> Iterator[Callable[[str], SmallFs]]:
    """``small_fs(size)`` mounts a tmpfs of ``size`` (e.g. "256k") for this test and
    unmounts it afterwards; skips the test (with the reason) where it cannot mount one."""
    mounted: list[Path] = []

    def make(size: str) -> SmallFs:
        where = Path("/tmp") / f"hmasd-full-{uuid.uuid4().hex[:8]}"
        reason = _mount(where, size)
        if reason:
            pytest.skip(reason)
        mounted.append(where)
        return SmallFs(where)

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()
