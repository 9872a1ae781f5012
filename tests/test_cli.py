"""The ``hmasd`` console script: flags of the seed, one-line errors, outputs of each command.

Errors and outputs are checked in-process through ``hmasd.cli.main`` (no interpreter start
per test); the console script itself, ``python -m hmasd`` and the progress bar on a
terminal run as subprocesses."""

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
from hmasd.commands.common import load_config, parse_sets
from hmasd.commands.eval import default_eval_out
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


def assert_one_line_error(code: int, stderr: str, *needles: str) -> str:
    """Exit 2, no traceback, and exactly one ``hmasd: error:`` line, the last one, that
    holds every needle."""
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("hmasd: error: ")]
    assert len(errors) == 1, stderr
    assert errors[0] == lines[-1]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def main_error(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``hmasd ARGS`` in-process: its exit code and what it wrote to stderr."""
    capfd.readouterr()
    code = cli.main(list(args))
    return code, capfd.readouterr().err


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
    got = parse_sets(
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
        parse_sets([item])


def test_set_override_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="train.learning_rate"):
        load_config("smoke", ["train.learning_rate=1"], {})
    with pytest.raises(ConfigError, match="env.n_users"):
        load_config("smoke", ["env.n_users=many"], {})
    cfg = load_config("smoke", ["train.num_envs=2"], {"tracking": {"export_interval": 9}})
    assert cfg.train.num_envs == 2 and cfg.tracking.export_interval == 9


def test_default_eval_out() -> None:
    ckpt = Path("results/runs/c/sync/seed0/models/hmasd_sync_enhanced_tracking_final.pt")
    assert default_eval_out(ckpt) == Path(
        "results/runs/c/sync/seed0/eval/hmasd_sync_enhanced_tracking_final.json"
    )


# ------------------------------------------------------------------------- one-line errors


def test_unknown_config_name_is_one_line(tmp_path: Path, capfd) -> None:
    out = str(tmp_path / "r")
    code, err = main_error(capfd, "train", "--config", "no_such_preset", "--out", out)
    assert_one_line_error(code, err, "no_such_preset")
    assert not (tmp_path / "r").exists()


def test_console_script_reports_one_line(tmp_path: Path) -> None:
    """The installed ``hmasd`` script and ``python -m hmasd``: the same one line, exit 2."""
    for cmd in (CMD, [sys.executable, "-m", "hmasd"]):
        proc = subprocess.run(
            [*cmd, "train", "--config", "no_such_preset", "--out", str(tmp_path / "r")],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert_one_line_error(proc.returncode, proc.stderr, "no_such_preset", "presets: ")


def test_invalid_yaml_key_names_file_and_key(tmp_path: Path, capfd) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rate: 0.1\n")
    code, err = main_error(
        capfd, "train", "--config", str(bad), "--out", str(tmp_path / "r"), "--log-level", "INFO"
    )
    assert_one_line_error(code, err, "bad.yaml", "train.learning_rate")


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("agent: {lr: .nan}", "'agent.lr' must be finite, got nan"),
        ("agent: {gamma: .inf}", "'agent.gamma' must be finite, got inf"),
        ("env: {dt_s: -.inf}", "'env.dt_s' must be finite, got -inf"),
        ("agent: {lr: 0}", "'agent.lr' must be > 0, got 0.0"),
        ("agent: {gae_lambda: 1.5}", "'agent.gae_lambda' must be in [0, 1], got 1.5"),
        ("train: {torch_threads: -1}", "'train.torch_threads' must be >= 0, got -1"),
        (
            "train: {total_env_steps: 10, batch_size: 80, num_envs: 4}",
            "'train.total_env_steps' (10) must be at least 'train.batch_size' (80)",
        ),
    ],
)
def test_bad_values_are_one_line_naming_file_and_key(
    tmp_path: Path, capfd, yaml_text: str, needle: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_text + "\n")
    code, err = main_error(capfd, "train", "--config", str(bad), "--out", str(tmp_path / "r"))
    line = assert_one_line_error(code, err, needle)
    assert line.startswith(f"hmasd: error: {bad}: ")
    assert not (tmp_path / "r").exists()


def test_nan_override_is_one_line(tmp_path: Path, capfd) -> None:
    code, err = main_error(
        capfd, "baseline", "--policy", "hover", "--config", "smoke", "--set", "agent.lr=.nan"
    )
    assert_one_line_error(code, err, "'agent.lr' must be finite, got nan")


def test_missing_checkpoint_is_one_line(tmp_path: Path, capfd) -> None:
    ckpt = str(tmp_path / "none.pt")
    code, err = main_error(capfd, "eval", "--model-path", ckpt, "--episodes", "1")
    assert_one_line_error(code, err, "none.pt", "not found")


def test_train_out_that_is_a_file_is_one_line(tmp_path: Path, capfd) -> None:
    out = tmp_path / "taken"
    out.write_text("not a run dir")
    code, err = main_error(capfd, "train", "--config", "smoke", "--out", str(out))
    assert_one_line_error(code, err, f"--out {out}: exists and is not a directory")
    code, err = main_error(capfd, "train", "--config", "smoke", "--out", str(out / "run"))
    assert_one_line_error(code, err, f"{out} is a file, not a directory")
    assert out.read_text() == "not a run dir"


def test_eval_and_baseline_out_that_is_a_directory_is_one_line(tmp_path: Path, capfd) -> None:
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"never read: --out is checked first")
    code, err = main_error(capfd, "eval", "--model-path", str(ckpt), "--out", str(tmp_path))
    assert_one_line_error(code, err, f"--out {tmp_path}: is a directory")
    code, err = main_error(
        capfd, "baseline", "--policy", "hover", "--config", "smoke", "--out", str(tmp_path)
    )
    assert_one_line_error(code, err, f"--out {tmp_path}: is a directory")


@pytest.mark.parametrize("command", ["eval", "train"])
def test_model_path_that_is_a_directory_is_one_line(tmp_path: Path, capfd, command: str) -> None:
    args = ["--config", "smoke", "--out", str(tmp_path / "r")] if command == "train" else []
    code, err = main_error(capfd, command, "--model-path", str(tmp_path), *args)
    assert_one_line_error(code, err, f"--model-path {tmp_path}: is a directory")


def test_budget_not_a_multiple_of_the_batch_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """100 steps of 32: 3 whole batches (96 steps) run, and one warning names both keys."""
    tiny = [a if a != "train.total_env_steps=64" else "train.total_env_steps=100" for a in TINY]
    with caplog.at_level("WARNING", logger="hmasd"):
        code = cli.main(["train", "--config", "smoke", "--out", str(tmp_path / "r"), *tiny])
    assert code == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "'train.total_env_steps' (100) is not a multiple of 'train.batch_size' (32): "
        "training runs 96 env steps (3 updates)"
    ]
    assert json.loads((tmp_path / "r" / "train_summary.json").read_text())["env_steps"] == 96


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
    code = cli.main(["eval", "--model-path", str(ckpt), "--episodes", "3", "--tb-dir", str(tb)])
    assert code == 0
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
        mean = sum(r["return"] for r in pol["per_episode"]) / 3
        assert pol["mean_reward"] == pytest.approx(mean)
    assert any(tb.iterdir())


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_damaged_checkpoint_is_one_line(
    trained: Path, tmp_path: Path, capfd, damage: str
) -> None:
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
    code, err = main_error(capfd, "eval", "--model-path", str(bad), "--episodes", "1")
    assert_one_line_error(code, err, bad.name)


def test_mismatched_checkpoint_is_one_line(trained: Path, tmp_path: Path, capfd) -> None:
    ckpt = trained / "models" / "hmasd_sync_enhanced_tracking_32.pt"
    code, err = main_error(
        capfd, "train", "--config", "smoke", "--out", str(tmp_path / "r"),
        "--model-path", str(ckpt), *TINY, "--set", "env.n_uavs=3",
    )  # fmt: skip
    assert_one_line_error(code, err, ckpt.name, "env.n_uavs")


def test_baseline_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    code = cli.main([
        "baseline", "--policy", "hover", "--config", "smoke", "--episodes", "2", "--seed", "1",
        "--out", str(out), "--set", "env.max_steps=10",
    ])  # fmt: skip
    assert code == 0
    res = json.loads(out.read_text())
    got = (res["policy"], res["config_name"], res["seed"], res["episodes"])
    assert got == ("hover", "smoke", 1, 2)
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
