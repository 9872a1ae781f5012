"""The ``hmasd`` console script: flags of the seed, one-line errors, outputs of each command."""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hmasd import cli
from hmasd.errors import ConfigError

HMASD = Path(sys.executable).parent / "hmasd"
CMD = [str(HMASD)] if HMASD.exists() else [sys.executable, "-m", "hmasd.cli"]

# The smallest real run: 2 updates of 32 transitions, every output written.
TINY = [
    "--set", "train.num_envs=4",
    "--set", "train.batch_size=32",
    "--set", "train.total_env_steps=64",
    "--set", "train.checkpoint_interval=32",
    "--set", "train.eval_interval=64",
    "--set", "env.max_steps=16",
    "--set", "env.n_users=12",
    "--set", "agent.ppo_epochs=1",
    "--set", "agent.skill_interval=4",
    "--set", "tracking.export_interval=32",
]  # fmt: skip


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CMD, *args], capture_output=True, text=True, timeout=240, cwd=cwd, check=False
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("hmasd: error: ")]
    assert len(errors) == 1, proc.stderr
    assert errors[0] == lines[-1]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


# ------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text", ["INFO", "info", "Debug", "warning", "WARN", "error"])
def test_log_level_any_case(text: str) -> None:
    args = cli.build_parser().parse_args(
        ["train", "--config", "smoke", "--out", "x", "--log-level", text]
    )
    assert args.log_level in cli.LOG_LEVELS
    assert args.log_level.lower().startswith(text.lower()[:4])


def test_bad_log_level_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["train", "--config", "s", "--out", "x", "--log-level", "x"])
    assert exc.value.code == 2
    assert "invalid log level" in capsys.readouterr().err


def test_train_flags_of_the_seed() -> None:
    args = cli.build_parser().parse_args(
        shlex.split(
            "train --config default --mode async --seed 3 --out d --detailed-logging "
            "--export-interval 500 --model-path m.pt --set agent.lr=3e-4"
        )
    )
    assert (args.mode, args.seed, args.export_interval) == ("async", 3, 500)
    assert args.detailed_logging and args.model_path == Path("m.pt")
    assert args.set == ["agent.lr=3e-4"]


def test_set_values_are_yaml_typed() -> None:
    got = cli.parse_sets(
        ["train.num_envs=8", "agent.lr=3e-4", "agent.value_norm=false", "env.scenario=mesh"]
    )
    assert got == {
        "train": {"num_envs": 8},
        "agent": {"lr": 3e-4, "value_norm": False},
        "env": {"scenario": "mesh"},
    }


@pytest.mark.parametrize("item", ["num_envs=8", "train.num_envs", "train.=3", "a.b.c=1", "x.y="])
def test_set_malformed(item: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        cli.parse_sets([item])


def test_set_override_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="train.learning_rate"):
        cli.load_config("smoke", ["train.learning_rate=1"], {})
    with pytest.raises(ConfigError, match="env.n_users"):
        cli.load_config("smoke", ["env.n_users=many"], {})
    cfg = cli.load_config("smoke", ["train.num_envs=2"], {"tracking": {"export_interval": 9}})
    assert cfg.train.num_envs == 2 and cfg.tracking.export_interval == 9


def test_default_eval_out() -> None:
    ckpt = Path("results/runs/c/sync/seed0/models/hmasd_sync_enhanced_tracking_final.pt")
    assert cli.default_eval_out(ckpt) == Path(
        "results/runs/c/sync/seed0/eval/hmasd_sync_enhanced_tracking_final.json"
    )


# ------------------------------------------------------------------------- one-line errors


def test_unknown_config_name_is_one_line(tmp_path: Path) -> None:
    proc = run("train", "--config", "no_such_preset", "--out", str(tmp_path / "r"))
    assert_one_line_error(proc, "no_such_preset")
    assert not (tmp_path / "r").exists()


def test_invalid_yaml_key_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rate: 0.1\n")
    proc = run("train", "--config", str(bad), "--out", str(tmp_path / "r"), "--log-level", "INFO")
    assert_one_line_error(proc, "bad.yaml", "train.learning_rate")


def test_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    proc = run("eval", "--model-path", str(tmp_path / "none.pt"), "--episodes", "1")
    assert_one_line_error(proc, "none.pt", "not found")


# ------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = run(
        "train", "--config", "smoke", "--mode", "sync", "--seed", "0", "--out", str(out),
        "--log-level", "info", *TINY,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_train_leaves_every_output(trained: Path) -> None:
    models = trained / "models"
    names = {p.name for p in models.iterdir()}
    assert {
        "hmasd_sync_enhanced_tracking.pt",
        "hmasd_sync_enhanced_tracking_final.pt",
        "hmasd_sync_enhanced_tracking_32.pt",
        "hmasd_sync_enhanced_tracking_64.pt",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert (trained / "config.yaml").is_file()
    assert any((trained / "tb").iterdir())
    assert any((trained / "paper_data").iterdir())
    summary = json.loads((trained / "train_summary.json").read_text())
    assert summary["env_steps"] == 64 and summary["updates"] == 2
    assert summary["mean_stale_fraction"] == 0.0


def test_eval_writes_json_with_episode_rows(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "models" / "hmasd_sync_enhanced_tracking_final.pt"
    tb = tmp_path / "tb"
    proc = run("eval", "--model-path", str(ckpt), "--episodes", "3", "--tb-dir", str(tb))
    assert proc.returncode == 0, proc.stderr
    res = json.loads((trained / "eval" / "hmasd_sync_enhanced_tracking_final.json").read_text())
    assert res["episodes"] == 3 and res["headline"] == "deterministic"
    assert (res["mode"], res["env_step"], res["policy_version"]) == ("sync", 64, 2)
    assert set(res["policies"]) == {"deterministic", "stochastic"}
    for pol in res["policies"].values():
        assert len(pol["per_episode"]) == 3
        row = pol["per_episode"][0]
        for key in (
            "episode",
            "return",
            "length",
            "throughput_mbps",
            "connected_users",
            "coverage",
            "mean_sinr_db",
            "fairness",
        ):
            assert key in row
        assert row["length"] == 16
        assert pol["mean_reward"] == pytest.approx(sum(r["return"] for r in pol["per_episode"]) / 3)
    assert any(tb.iterdir())


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_damaged_checkpoint_is_one_line(trained: Path, tmp_path: Path, damage: str) -> None:
    src = trained / "models" / "hmasd_sync_enhanced_tracking_32.pt"
    bad = tmp_path / f"{damage}.pt"
    raw = src.read_bytes()
    if damage == "truncate":
        bad.write_bytes(raw[: len(raw) // 3])
    elif damage == "garbage":
        bad.write_bytes(b"\x80\x04not a checkpoint" * 50)
    else:
        import torch

        torch.save({"model": {"w": torch.zeros(2)}}, bad)
    proc = run("eval", "--model-path", str(bad), "--episodes", "1")
    assert_one_line_error(proc, bad.name)


def test_mismatched_checkpoint_is_one_line(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "models" / "hmasd_sync_enhanced_tracking_32.pt"
    proc = run(
        "train", "--config", "smoke", "--out", str(tmp_path / "r"), "--model-path", str(ckpt),
        *TINY, "--set", "env.n_uavs=3",
    )  # fmt: skip
    assert_one_line_error(proc, ckpt.name, "env.n_uavs")


def test_baseline_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    proc = run(
        "baseline", "--policy", "hover", "--config", "smoke", "--episodes", "2", "--seed", "1",
        "--out", str(out), "--set", "env.max_steps=10",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert (res["policy"], res["episodes"], res["seed"]) == ("hover", 2, 1)
    assert [r["length"] for r in res["per_episode"]] == [10, 10]


# --------------------------------------------------------------------- progress bar


def _train_output(out: Path, tty: bool) -> str:
    """Run a tiny train with stderr on a pseudo-terminal (``tty``) or a pipe; its stderr."""
    args = ["train", "--config", "smoke", "--seed", "0", "--out", str(out), *TINY]
    if not tty:
        return run(*args).stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*CMD, *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO once the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=240) == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    on_tty = _train_output(tmp_path / "tty", tty=True)
    # tqdm's bar: percentage, the bar's pipe, the step count out of the total, our postfix.
    assert "100%|" in on_tty and "64.0/64.0" in on_tty and "sps=" in on_tty, on_tty
    # Log lines replace the erased bar (tqdm.write: CR, blanks, CR) on a line of their own,
    # instead of being glued to the end of the bar.
    exported = r"\d{4}-\d\d-\d\d [\d:,]+ INFO hmasd.tracking: exported"
    assert re.search(rf"(^|\r){exported}", on_tty, re.M), on_tty
    assert not re.search(rf"\]{exported}", on_tty), on_tty
    piped = _train_output(tmp_path / "pipe", tty=False)
    assert "%|" not in piped and "\r" not in piped, piped
