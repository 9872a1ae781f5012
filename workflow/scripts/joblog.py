"""Shared by the Snakemake scripts here: send a job's whole output to its `log:` file, and
report an error a user can act on as one line there."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from hmasd.errors import HMASDError, one_line


@contextlib.contextmanager
def redirect_to(log: str | Path) -> Iterator[None]:
    """Point this process's stdout and stderr at ``log`` at the file-descriptor level, so
    tracebacks, warnings from C code and `logging` to stderr all land in the job's log."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            # The job's own output again (the SLURM log of a cluster job).
            for fd, original in zip((1, 2), saved, strict=True):
                os.dup2(original, fd)
                os.close(original)


def run_logged(log: str | Path, job: Callable[[], int]) -> int:
    """Run ``job`` with its output in ``log``. An error a user can act on (``HMASDError``:
    a full disk, a malformed export) is one line ``hmasd: error: ...`` naming the file,
    exit code 2; anything else keeps its traceback (a bug)."""
    with redirect_to(log):
        try:
            return job()
        except HMASDError as exc:
            print(f"hmasd: error: {one_line(exc, limit=None)}", file=sys.stderr)
            return 2
