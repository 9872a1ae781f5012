"""Atomic file writes: each file is written whole or not at all (temp file, then rename).

A full disk (or quota) during a write raises :class:`~hmasd.errors.StorageError` naming the
file; the temp file is removed and the file it would have replaced stays as it was, so a
rerun after freeing space completes with the same results.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from hmasd.errors import StorageError

NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        _raise_if_full(exc, path)
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; results are shared between users and jobs.
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except OSError as exc:
        _raise_if_full(exc, path)
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _raise_if_full(exc: OSError, path: Path) -> None:
    # Some writers (pyarrow) report the OS error in their message only.
    if exc.errno in NO_SPACE or "No space left on device" in str(exc):
        raise StorageError(
            f"{path}: no space left on the device; nothing was written (a previous "
            "version of the file is intact)"
        ) from None


def atomic_write(path: str | Path, writer: Callable[[IO[Any]], None], mode: str = "w") -> None:
    """Call ``writer(file)`` on a temp file, fsync it, then rename it onto ``path``."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        writer(fh)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
