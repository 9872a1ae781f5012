"""Checkpoint files: names as the seed had them, atomic writes, one-line load errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from hmasd.config import Config, to_dict
from hmasd.errors import CheckpointError
from hmasd.training import checkpoint as C


def _payload(**extra: object) -> dict:
    data = {
        "config": to_dict(Config()),
        "mode": "sync",
        "seed": 0,
        "env_step": 64,
        "policy_version": 1,
        "agent": {"w": torch.arange(3.0)},
    }
    data.update(extra)
    return data


def test_file_names_follow_the_seed(tmp_path: Path) -> None:
    assert C.best_path(tmp_path, "sync").name == "hmasd_sync_enhanced_tracking.pt"
    assert C.final_path(tmp_path, "sync").name == "hmasd_sync_enhanced_tracking_final.pt"
    assert C.periodic_path(tmp_path, "sync", 320000).name == (
        "hmasd_sync_enhanced_tracking_320000.pt"
    )
    assert C.best_path(tmp_path, "async").name == "hmasd_async_tracking.pt"
    assert C.final_path(tmp_path, "async").name == "hmasd_async_tracking_final.pt"
    assert C.periodic_path(tmp_path, "async", 128).parent == tmp_path / "models"


def test_latest_checkpoint_picks_highest_step_not_best_or_final(tmp_path: Path) -> None:
    assert C.latest_checkpoint(tmp_path, "sync") is None
    models = tmp_path / "models"
    models.mkdir()
    for name in (
        "hmasd_sync_enhanced_tracking.pt",
        "hmasd_sync_enhanced_tracking_final.pt",
        "hmasd_sync_enhanced_tracking_900.pt",
        "hmasd_sync_enhanced_tracking_10000.pt",  # numerically, not lexically, newest
        "hmasd_async_tracking_99999.pt",
        ".hmasd_sync_enhanced_tracking_20000.pt.abc.tmp",
    ):
        (models / name).write_bytes(b"x")
    assert C.latest_checkpoint(tmp_path, "sync") == models / "hmasd_sync_enhanced_tracking_10000.pt"
    assert C.latest_checkpoint(tmp_path, "async") == models / "hmasd_async_tracking_99999.pt"


def test_round_trip_and_rng_state_restores_draws(tmp_path: Path) -> None:
    path = tmp_path / "models" / "a.pt"
    rng = C.rng_state()
    first = torch.rand(3)
    C.save_checkpoint(path, _payload(rng=rng))
    assert not list(path.parent.glob(".*tmp"))
    data = C.load_checkpoint(path)
    assert data["env_step"] == 64 and torch.equal(data["agent"]["w"], torch.arange(3.0))
    C.set_rng_state(data["rng"])
    assert torch.equal(torch.rand(3), first)


def _assert_one_line(exc: pytest.ExceptionInfo, *needles: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as exc:
        C.load_checkpoint(tmp_path / "nope.pt")
    _assert_one_line(exc, "nope.pt", "not found")


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.pt"
    C.save_checkpoint(path, _payload())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError) as exc:
        C.load_checkpoint(path)
    _assert_one_line(exc, "t.pt", "corrupt or truncated")


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, pickle.dumps([1, 2]) + b"\x00"])
def test_garbage_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as exc:
        C.load_checkpoint(path)
    _assert_one_line(exc, "g.pt")


def test_torch_file_that_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError) as exc:
        C.load_checkpoint(path)
    _assert_one_line(exc, "other.pt", "not an hmasd checkpoint")


def test_future_format_and_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "f.pt"
    C.save_checkpoint(path, _payload(format_version=99))
    with pytest.raises(CheckpointError, match="format 99"):
        C.load_checkpoint(path)
    data = _payload()
    del data["agent"]
    C.save_checkpoint(path, data)
    with pytest.raises(CheckpointError, match="lacks agent"):
        C.load_checkpoint(path)


def test_compatibility_names_the_key(tmp_path: Path) -> None:
    data = _payload()
    same = to_dict(Config())
    C.check_compatible(tmp_path, data, same, "sync", 0)
    # Budget and cadence may change on resume; shapes and maths may not.
    longer = to_dict(Config())
    longer["train"]["total_env_steps"] *= 2
    longer["tracking"]["export_interval"] = 7
    C.check_compatible(tmp_path, data, longer, "sync", 0)
    other = to_dict(Config())
    other["env"]["n_uavs"] = 3
    with pytest.raises(CheckpointError, match=r"'env.n_uavs' = 5, the run asks for 3"):
        C.check_compatible(tmp_path, data, other, "sync", 0)
    with pytest.raises(CheckpointError, match="sync run, not async"):
        C.check_compatible(tmp_path, data, same, "async", 0)
    with pytest.raises(CheckpointError, match="seed 0, not 3"):
        C.check_compatible(tmp_path, data, same, "sync", 3)
