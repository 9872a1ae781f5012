"""Evaluation: full episodes of the trained policy (sampled, or deterministic by config),
batched across envs.

Used twice: periodically during training (:func:`run_episodes` on the live agent, on an env
with its own seed, so the best checkpoint can be kept), and eval-only from a checkpoint
(:func:`evaluate`, ``hmasd eval``), which writes the eval JSON and the ``Eval/*`` tags.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hmasd.config import Config, EnvConfig, from_dict
from hmasd.errors import CheckpointError, ConfigError, TrainingError
from hmasd.io import atomic_write_json
from hmasd.seeding import resolve_device, seed_everything
from hmasd.training.checkpoint import load_checkpoint, one_line

# Per-episode columns of the eval JSON, in order (env episode metrics of the same names).
EPISODE_KEYS = (
    "return",
    "length",
    "throughput_mbps",
    "connected_users",
    "coverage",
    "mean_sinr_db",
    "fairness",
)


def derive_seed(seed: int, stream: int) -> int:
    """A decorrelated 31-bit seed for sub-stream ``stream`` of run ``seed``."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0] & 0x7FFFFFFF)


EVAL_STREAM = 0xE7A1


def make_env(cfg: EnvConfig, num_envs: int, device: torch.device, seed: int) -> Any:
    from hmasd.env.uav_env import UAVBaseStationEnv

    return UAVBaseStationEnv(cfg, num_envs, device=device, seed=seed)


@torch.no_grad()
def run_episodes(
    agent: Any, env: Any, skill_interval: int, deterministic: bool = False
) -> dict[str, list[float]]:
    """Run one full episode in every env of ``env``: sampled skills and actions, or the
    most likely ones with ``deterministic`` (``train.eval_deterministic``).

    Returns ``{metric: [value per env]}`` for every episode metric the env reports (at
    least ``return`` and ``length``), in env order.
    """
    obs, state = env.reset()
    B = obs.shape[0]
    dev = obs.device
    h_init = agent.initial_hidden(B)
    hidden = h_init
    start = torch.ones(B, dtype=torch.bool, device=dev)
    window = torch.zeros(B, dtype=torch.long, device=dev)
    team = torch.zeros(B, dtype=torch.long, device=dev)
    ind = torch.zeros(obs.shape[:2], dtype=torch.long, device=dev)
    finished = torch.zeros(B, dtype=torch.bool, device=dev)
    result: dict[str, torch.Tensor] = {}
    max_steps = int(getattr(getattr(env, "cfg", None), "max_steps", 10**6))
    for _ in range(max_steps + 1):
        need = start | (window >= skill_interval)
        if bool(need.any()):
            sk = agent.choose_skills(state, obs, deterministic=deterministic)
            team = torch.where(need, sk.team, team)
            ind = torch.where(need[:, None], sk.ind, ind)
            window = torch.where(need, 0, window)
        hidden = torch.where(start[:, None, None], h_init, hidden)
        act = agent.act(obs, state, team, ind, hidden, start, deterministic=deterministic)
        out = env.step(act.action)
        newly = out.done & ~finished
        if bool(newly.any()):
            for key, value in out.episode.items():
                prev = result.get(key, torch.zeros_like(value, dtype=torch.float32))
                result[key] = torch.where(newly, value.float(), prev)
            finished = finished | out.done
            if bool(finished.all()):
                return {key: value.tolist() for key, value in result.items()}
        obs, state, hidden = out.obs, out.state, act.hidden
        start = out.done
        window = window + 1
    raise TrainingError(f"evaluation: an episode did not end within {max_steps + 1} steps")


def summarise(per_env: dict[str, list[float]]) -> dict[str, Any]:
    """Mean/std of the returns and means of the performance metrics, plus per-episode rows."""
    returns = per_env["return"]
    rows = []
    for i in range(len(returns)):
        row: dict[str, Any] = {"episode": i}
        for key in EPISODE_KEYS:
            if key in per_env:
                value = per_env[key][i]
                row[key] = int(value) if key == "length" else float(value)
        rows.append(row)

    def mean(key: str) -> float:
        return float(statistics.fmean(per_env[key])) if key in per_env else math.nan

    return {
        "episodes": len(returns),
        "mean_reward": mean("return"),
        "std_reward": float(np.std(returns)),
        "mean_throughput_mbps": mean("throughput_mbps"),
        "mean_connected_users": mean("connected_users"),
        "mean_coverage": mean("coverage"),
        "per_episode": rows,
    }


def evaluate_agent(
    agent: Any, cfg: Config, episodes: int, seed: int, device: torch.device
) -> dict[str, Any]:
    """Evaluate a live agent on a fresh env seeded with ``seed`` (same episodes every call,
    so evaluations during training are comparable). Leaves the global RNGs untouched."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        env = make_env(cfg.env, episodes, device, seed)
        per_env = run_episodes(
            agent, env, cfg.agent.skill_interval, cfg.train.eval_deterministic
        )
    return summarise(per_env)


def evaluate(
    checkpoint: Path,
    episodes: int,
    out_json: Path,
    seed: int = 0,
    tb_dir: Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Eval-only run of a checkpoint: ``episodes`` deterministic episodes, batched.

    Writes ``out_json`` atomically (see ``docs/design.md``) and, with ``tb_dir``, the
    ``Eval/MeanReward`` and ``Eval/StdReward`` tags at the checkpoint's env step.
    """
    if episodes <= 0:
        raise ConfigError(f"--episodes must be > 0, got {episodes}")
    checkpoint = Path(checkpoint)
    dev = resolve_device(device)
    data = load_checkpoint(checkpoint, map_location=dev)
    try:
        cfg = from_dict(data["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{checkpoint}: invalid config inside checkpoint ({exc})") from None
    from hmasd.agent import HMASDAgent

    seed_everything(seed, cfg.train.deterministic)
    env = make_env(cfg.env, episodes, dev, derive_seed(seed, EVAL_STREAM))
    agent = HMASDAgent(cfg.agent, env.n_agents, env.obs_dim, env.state_dim, env.action_dim, dev)
    try:
        agent.load_state_dict(data["agent"])
    except Exception as exc:
        raise CheckpointError(
            f"{checkpoint}: agent weights do not fit the config inside it "
            f"({type(exc).__name__}: {one_line(exc)})"
        ) from None
    summary = summarise(
        run_episodes(agent, env, cfg.agent.skill_interval, cfg.train.eval_deterministic)
    )
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "config_name": data.get("config_name"),
        "mode": data["mode"],
        "seed": seed,
        "env_step": int(data["env_step"]),
        "policy_version": int(data["policy_version"]),
        **summary,
    }
    atomic_write_json(out_json, result)
    if tb_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(tb_dir))
        writer.add_scalar("Eval/MeanReward", result["mean_reward"], result["env_step"])
        writer.add_scalar("Eval/StdReward", result["std_reward"], result["env_step"])
        writer.close()
    return result
