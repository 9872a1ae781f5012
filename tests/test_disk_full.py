"""A full disk gives one clear line naming the file, loses nothing already written, and a
rerun after freeing space completes: tables, checkpoints, exports, Parquet and `hmasd
train`. Runs on a size-limited tmpfs (``small_fs`` of tests/conftest.py: needs root and
mount, skipped with the reason otherwise); tests/test_workflow/test_disk_full_dag.py does
the same through Snakemake."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from analysis.consolidate import write_table
from hmasd.cli import main
from hmasd.errors import StorageError
from hmasd.io import atomic_write_text
from hmasd.tracking.exports import write_csv
from hmasd.training.checkpoint import load_checkpoint, save_checkpoint


def test_a_full_disk_keeps_the_previous_file_and_names_the_file(small_fs) -> None:
    fs = small_fs("256k")
    table = fs.path / "tables" / "sync_vs_async.md"
    atomic_write_text(table, "old table\n")
    fs.fill()
    with pytest.raises(StorageError) as exc:
        atomic_write_text(table, "new table " * 10_000)
    msg = str(exc.value)
    assert str(table) in msg and "no space left" in msg and "\n" not in msg
    assert table.read_text() == "old table\n"
    assert [p.name for p in table.parent.iterdir()] == [table.name]  # no temp file left
    fs.free()
    atomic_write_text(table, "new table\n")
    assert table.read_text() == "new table\n"


def _payload(step: int, size: int) -> dict:
    return {"config": {}, "mode": "sync", "seed": 0, "env_step": step, "policy_version": step,
            "agent": {"w": torch.zeros(size)}}


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(small_fs) -> None:
    fs = small_fs("256k")
    path = fs.path / "models" / "ckpt.pt"
    save_checkpoint(path, _payload(1, 10))
    fs.fill()
    with pytest.raises(StorageError, match="ckpt.pt: no space left"):
        save_checkpoint(path, _payload(2, 100_000))
    assert load_checkpoint(path)["env_step"] == 1
    fs.free()
    save_checkpoint(path, _payload(2, 1000))
    assert load_checkpoint(path)["env_step"] == 2


def test_hmasd_train_on_a_full_disk_is_one_line_exit_2(small_fs, capfd) -> None:
    out = small_fs("256k").path / "run"
    code = main(["train", "--config", "smoke", "--mode", "sync", "--seed", "0",
                 "--out", str(out), "--set", "train.total_env_steps=320"])
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("hmasd: error: ") and "no space left on the device" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_a_full_disk_during_an_export_keeps_the_previous_export(small_fs) -> None:
    fs = small_fs("256k")
    path = fs.path / "paper_data" / "sync_metrics_step_160.csv"
    write_csv(path, ["env_steps", "reward"], {"env_steps": np.arange(3), "reward": np.ones(3)})
    before = path.read_bytes()
    fs.fill()
    big = {"env_steps": np.arange(50_000), "reward": np.linspace(0, 1, 50_000)}
    with pytest.raises(StorageError, match="sync_metrics_step_160.csv: no space left"):
        write_csv(path, ["env_steps", "reward"], big)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    fs.free()
    rows = {"env_steps": np.arange(5000), "reward": np.linspace(0, 1, 5000)}
    write_csv(path, ["env_steps", "reward"], rows)
    assert len(path.read_text().splitlines()) == 5001


def test_a_full_disk_during_consolidation_keeps_the_previous_parquet(small_fs) -> None:
    fs = small_fs("256k")
    path = fs.path / "consolidated" / "episodes.parquet"
    write_table(pa.table({"x": [1, 2, 3]}), path)
    fs.fill()
    rng = np.random.default_rng(0)
    big = pa.table({"x": rng.random(200_000)})  # incompressible
    with pytest.raises(StorageError, match="episodes.parquet: no space left"):
        write_table(big, path)
    assert pq.read_table(path).column("x").to_pylist() == [1, 2, 3]
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    fs.free()
    write_table(pa.table({"x": rng.random(1000)}), path)
    assert pq.read_table(path).num_rows == 1000
