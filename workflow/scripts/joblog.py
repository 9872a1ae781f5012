"""Shared by the Snakemake scripts here: send a job's whole output to its `log:` file."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def redirect_to(log: str | Path) -> Iterator[None]:
    """Point this process's stdout and stderr at ``log`` at the file-descriptor level, so
    tracebacks, warnings from C code and `logging` to stderr all land in the job's log."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(log, "w") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
