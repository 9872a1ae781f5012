"""A signal stops training with a resumable checkpoint, and the resumed run ends exactly
like the uninterrupted one (weights, optimisers, schedule state and exports)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hmasd.agent.hmasd import HMASDAgent
from hmasd.errors import EXIT_STOPPED, StoppedError
from hmasd.training.checkpoint import final_path, latest_checkpoint, load_checkpoint, periodic_path
from hmasd.training.trainer import train

from .helpers import TINY, assert_same_state, tiny_config
from .test_resume import assert_same_exports


def signalling_agent(sig: int, at_update: int) -> type:
    """The real agent, which sends ``sig`` to its own process in the middle of its
    ``at_update``-th update (1-based): a signal arriving at an arbitrary point of a run."""

    class Signalling(HMASDAgent):
        def update(self, batch):  # type: ignore[no-untyped-def]
            if self.policy_version + 1 == at_update:
                os.kill(os.getpid(), sig)
            return super().update(batch)

    return Signalling


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("uninterrupted")
    return {mode: root / mode for mode in ("sync", "async") if train(tiny_config(), mode, 0,
                                                                     root / mode)}


@pytest.mark.parametrize(
    ("mode", "sig", "at_update"),
    [
        ("sync", signal.SIGTERM, 1),
        ("async", signal.SIGTERM, 2),
        ("sync", signal.SIGUSR1, 2),
        ("async", signal.SIGUSR1, 1),
        ("sync", signal.SIGINT, 1),
        ("async", signal.SIGINT, 2),
    ],
)
def test_signal_stops_with_a_checkpoint_and_resume_is_bit_identical(
    full_runs: dict[str, Path], tmp_path: Path, mode: str, sig: int, at_update: int
) -> None:
    cfg = tiny_config()
    steps = at_update * cfg.train.batch_size
    with pytest.raises(StoppedError) as exc:
        train(cfg, mode, 0, tmp_path, agent_cls=signalling_agent(sig, at_update))
    msg = str(exc.value)
    assert signal.Signals(sig).name in msg and f"env step {steps}" in msg and "\n" not in msg
    # The update in progress finished; its checkpoint is the newest; nothing else is lost.
    assert latest_checkpoint(tmp_path, mode) == periodic_path(tmp_path, mode, steps)
    assert not (tmp_path / "train_summary.json").exists()
    assert signal.getsignal(sig) is not None  # handlers restored on the way out
    summary = train(cfg, mode, 0, tmp_path, resume_from=latest_checkpoint(tmp_path, mode))
    assert summary["env_steps"] == 96
    a = load_checkpoint(final_path(full_runs[mode], mode))
    b = load_checkpoint(final_path(tmp_path, mode))
    assert_same_state(a["agent"], b["agent"])
    assert_same_state(a["schedule"], b["schedule"], "schedule")
    assert assert_same_exports(full_runs[mode], tmp_path) >= 2


def test_handlers_are_restored_after_a_run(tmp_path: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    train(tiny_config(), "sync", 0, tmp_path)
    assert {s: signal.getsignal(s) for s in before} == before


def test_sigterm_to_the_cli_exits_75_and_resume_latest_finishes(tmp_path: Path) -> None:
    """A real process: SIGTERM from outside once training runs; one line, exit 75; then
    `--resume-latest` finishes the run."""
    out = tmp_path / "run"
    sets = [f"--set={sec}.{k}={v}" for sec, vals in TINY.items() for k, v in vals.items()]
    argv = [sys.executable, "-m", "hmasd", "train", "--config", "smoke", "--mode", "async",
            "--seed", "0", "--out", str(out), *sets, "--set", "train.total_env_steps=9600",
            "--set", "train.checkpoint_interval=4800", "--set", "train.eval_interval=4800",
            "--resume-latest"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "tb").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # some updates in
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STOPPED, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hmasd: stopped by SIGTERM at env step "), err
    ckpt = latest_checkpoint(out, "async")
    assert ckpt is not None and str(ckpt) in last
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(final_path(out, "async"))["env_step"] == 9600


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler installed for ``sig`` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")
def test_a_signal_during_start_up_stops_after_the_first_update(tmp_path: Path) -> None:
    """SIGUSR1 while `hmasd train` still imports torch (a SLURM warning can come that
    early): the run does one update, checkpoints and exits 75, instead of dying."""
    out = tmp_path / "run"
    sets = [f"--set={sec}.{k}={v}" for sec, vals in TINY.items() for k, v in vals.items()]
    argv = [sys.executable, "-m", "hmasd", "train", "--config", "smoke", "--mode", "sync",
            "--seed", "0", "--out", str(out), *sets, "--resume-latest"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _catches(proc.pid, signal.SIGUSR1):
        assert proc.poll() is None and time.monotonic() < deadline, "no handler installed"
        time.sleep(0.005)
    assert not (out / "tb").exists()  # still starting up
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STOPPED, err
    steps = tiny_config().train.batch_size
    assert f"hmasd: stopped by SIGUSR1 at env step {steps} (update 1 of" in err, err
    assert latest_checkpoint(out, "sync") == periodic_path(out, "sync", steps)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_signals_at_random_moments_resume_bit_identical(tmp_path: Path, mode: str) -> None:
    """SIGTERM from a timer thread at seeded random moments of a 10-update run (collection,
    update, logging, checkpointing: wherever the main thread is). Each stopped run resumes
    and ends like the uninterrupted one; most of the moments fall within training."""
    cfg = tiny_config(train={"total_env_steps": 320, "checkpoint_interval": 64,
                             "eval_interval": 160})
    full = tmp_path / "full"
    duration = train(cfg, mode, 0, full)["wall_time_s"]  # the run itself, without start-up
    rng = random.Random(f"{mode}-signals")
    stopped_at = []
    # A timer that fires after train() returned (handlers restored) must not end pytest.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        for i in range(3):
            out = tmp_path / f"run{i}"
            timer = threading.Timer(rng.uniform(0.1, 0.9) * duration, os.kill,
                                    (os.getpid(), signal.SIGTERM))
            timer.start()
            try:
                train(cfg, mode, 0, out)
            except StoppedError as exc:
                stopped_at.append(int(str(exc).split("env step ")[1].split()[0]))
                timer.join()
                train(cfg, mode, 0, out, resume_from=latest_checkpoint(out, mode))
            finally:
                timer.join()
            a = load_checkpoint(final_path(full, mode))
            b = load_checkpoint(final_path(out, mode))
            assert_same_state(a["agent"], b["agent"])
            assert assert_same_exports(full, out) >= 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"{mode}: stopped at env steps {stopped_at} of 320")
    assert len(stopped_at) >= 2, stopped_at
