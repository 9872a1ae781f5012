"""A full disk gives one clear line naming the file, loses nothing already written, and a
rerun after freeing space completes. Runs on a size-limited tmpfs (needs root and mount;
skipped with the reason otherwise)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hmasd.cli import main
from hmasd.errors import StorageError
from hmasd.io import atomic_write_text
from hmasd.training.checkpoint import load_checkpoint, save_checkpoint


def _mount(path: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``path``; the reason it cannot, or None."""
    if os.geteuid() != 0:
        return "needs root to mount a size-limited tmpfs"
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                         capture_output=True, text=True)
    return None if res.returncode == 0 else f"mount failed: {res.stderr.strip()}"


@pytest.fixture
def small_fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = Path("/tmp") / f"hmasd-full-{uuid.uuid4().hex[:8]}"
    reason = _mount(where, "256k")
    if reason:
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


def _fill(fs: Path) -> Path:
    """Fill ``fs`` to the last byte; returns the filler file."""
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 1024)
        except OSError:
            pass
    return filler


def test_a_full_disk_keeps_the_previous_file_and_names_the_file(small_fs: Path) -> None:
    table = small_fs / "tables" / "sync_vs_async.md"
    atomic_write_text(table, "old table\n")
    filler = _fill(small_fs)
    with pytest.raises(StorageError) as exc:
        atomic_write_text(table, "new table " * 10_000)
    msg = str(exc.value)
    assert str(table) in msg and "no space left" in msg and "\n" not in msg
    assert table.read_text() == "old table\n"
    assert [p.name for p in table.parent.iterdir()] == [table.name]  # no temp file left
    filler.unlink()
    atomic_write_text(table, "new table\n")
    assert table.read_text() == "new table\n"


def _payload(step: int, size: int) -> dict:
    return {"config": {}, "mode": "sync", "seed": 0, "env_step": step, "policy_version": step,
            "agent": {"w": torch.zeros(size)}}


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(small_fs: Path) -> None:
    path = small_fs / "models" / "ckpt.pt"
    save_checkpoint(path, _payload(1, 10))
    filler = _fill(small_fs)
    with pytest.raises(StorageError, match="ckpt.pt: no space left"):
        save_checkpoint(path, _payload(2, 100_000))
    assert load_checkpoint(path)["env_step"] == 1
    filler.unlink()
    save_checkpoint(path, _payload(2, 1000))
    assert load_checkpoint(path)["env_step"] == 2


def test_hmasd_train_on_a_full_disk_is_one_line_exit_2(small_fs: Path, capfd) -> None:
    out = small_fs / "run"
    code = main(["train", "--config", "smoke", "--mode", "sync", "--seed", "0",
                 "--out", str(out), "--set", "train.total_env_steps=320"])
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("hmasd: error: ") and "no space left on the device" in err[-1]
    assert "Traceback" not in "\n".join(err)
