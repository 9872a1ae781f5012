"""``sync_training_summary.json`` merges the trainer's run summary with the tracker's totals;
where both report a quantity they use one name, and this checks the two values agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hmasd.tracking import Tracker
from hmasd.training.trainer import train

from .helpers import tiny_config

# Quantities both report, under the trainer's names.
SHARED = {"mode", "env_steps", "updates", "policy_version", "mean_collection_time_s",
          "mean_update_time_s", "mean_stale_fraction", "mean_lag", "max_lag", "final_eval"}


def test_tracker_and_trainer_name_each_quantity_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, dict[str, Any]] = {}
    close = Tracker.close

    def spy(self: Tracker, summary: dict[str, Any] | None = None) -> None:
        seen["tracker"], seen["trainer"] = self.summary(), dict(summary or {})
        close(self, summary)

    monkeypatch.setattr(Tracker, "close", spy)
    # Async, so that staleness and lag are not all zeros on both sides.
    cfg = tiny_config(train={"total_env_steps": 64}, tracking={"tensorboard": False})
    train(cfg, "async", 0, tmp_path)
    tracker, trainer = seen["tracker"], seen["trainer"]

    assert set(tracker) & set(trainer) == SHARED
    assert trainer["mean_lag"] > 0 and trainer["mean_stale_fraction"] > 0
    for key in SHARED - {"final_eval"}:
        assert tracker[key] == trainer[key], key
    assert tracker["final_eval"].items() <= trainer["final_eval"].items()

    written = json.loads((tmp_path / "paper_data" / "sync_training_summary.json").read_text())
    assert set(written) == set(trainer) | set(tracker)
    assert written["mean_lag"] == trainer["mean_lag"]
