"""workflow/scripts/train.py: resume only an interrupted attempt of the same config and code
(the code as the rule's semantic fingerprint, ``params.code``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .helpers import REPO

SCRIPTS = REPO / "workflow" / "scripts"


@pytest.fixture(scope="module")
def train_script() -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))  # the script imports its sibling joblog.py
    try:
        spec = importlib.util.spec_from_file_location("wf_train_script", SCRIPTS / "train.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for rel in ("models/hmasd_async_tracking_128.pt", "tb/events", "paper_data/a.csv"):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text("x")
    (run / "config.yaml").write_text("x")
    (run / "eval").mkdir()
    (run / "eval" / "final.json").write_text("{}")
    return run


def test_fingerprint_follows_config_values_and_code(train_script, tmp_path: Path) -> None:
    config = tmp_path / "smoke.yaml"
    config.write_text("train:\n  num_envs: 4\n  batch_size: 64\nagent: {lr: 0.0001}\n")
    fp = train_script.fingerprint(config, "code-a")
    assert len(fp) == 64
    # Layout, comments, key order and a touch: the same values, the same run.
    config.write_text("# resolved\nagent:\n  lr: 1.0e-4\ntrain: {batch_size: 64, num_envs: 4}\n")
    assert train_script.fingerprint(config, "code-a") == fp
    # Another value, or code of another meaning: another run.
    assert train_script.fingerprint(config, "code-b") != fp
    config.write_text("train:\n  num_envs: 8\n  batch_size: 64\nagent: {lr: 0.0001}\n")
    assert train_script.fingerprint(config, "code-a") != fp


def test_fingerprint_follows_the_torch_version(train_script, tmp_path, monkeypatch) -> None:
    config = tmp_path / "smoke.yaml"
    config.write_text("train: {num_envs: 4}\n")
    fp = train_script.fingerprint(config, "code")
    monkeypatch.setattr(train_script, "version", lambda name: "0.0.0")
    assert train_script.fingerprint(config, "code") != fp


@pytest.mark.parametrize("status", ["running", "done"])
def test_an_attempt_with_same_fingerprint_resumes(train_script, tmp_path, status) -> None:
    """Interrupted, or finished but failed afterwards (Snakemake then deleted its outputs):
    the run goes on from its newest checkpoint."""
    run = _run_dir(tmp_path)
    (run / ".train_attempt.json").write_text(json.dumps({"fingerprint": "f", "status": status}))
    assert train_script.prepare_run_dir(run, "f") is True
    assert (run / "models" / "hmasd_async_tracking_128.pt").exists()
    assert (run / "tb" / "events").exists()


@pytest.mark.parametrize(
    "previous",
    [
        None,  # no attempt file: e.g. a run dir from before, or a hand-made one
        {"fingerprint": "old", "status": "running"},  # config or code changed since the kill
        "not json",
    ],
)
def test_anything_else_starts_fresh(train_script, tmp_path: Path, previous) -> None:
    run = _run_dir(tmp_path)
    if previous is not None:
        text = previous if isinstance(previous, str) else json.dumps(previous)
        (run / ".train_attempt.json").write_text(text)
    assert train_script.prepare_run_dir(run, "f") is False
    assert not (run / "models").exists()
    assert not (run / "tb").exists() and not (run / "paper_data").exists()
    assert not (run / "config.yaml").exists()
    assert (run / "eval" / "final.json").exists()  # the evaluate rule's, not ours
    attempt = json.loads((run / ".train_attempt.json").read_text())
    assert attempt["fingerprint"] == "f" and attempt["status"] == "running"
