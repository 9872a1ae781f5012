"""Evaluation of a trained agent: full episodes of the stochastic AND the deterministic
policy, batched across envs.

Both are recorded every time: ``stochastic`` samples skills and actions as in training,
``deterministic`` takes the argmax skills (greedy decoding) and the Gaussian-mean actions,
as the baselines act deterministically. ``train.eval_policy`` names the headline one (best
checkpoint, ``Eval/MeanReward``). Each policy runs on its own fresh envs from
:func:`~hmasd.env.episodes.eval_env` at the same seed, so the two, and the baselines at
that seed, play the same episodes (paired comparisons).

Used twice: periodically during training (:func:`evaluate_agent` on the live agent, so the
best checkpoint can be kept), and eval-only from a checkpoint (:func:`evaluate`,
``hmasd eval``), which writes the eval JSON and the ``Eval/*`` tags.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import torch

from hmasd.config import Config, EnvConfig, EvalPolicy, from_dict
from hmasd.env.episodes import eval_env, run_episodes, summarise
from hmasd.errors import CheckpointError, ConfigError, one_line
from hmasd.io import atomic_write_json
from hmasd.seeding import resolve_device, seed_everything
from hmasd.training.checkpoint import load_checkpoint
from hmasd.training.policy_groups import PolicyGroups
from hmasd.training.rollout import RunningState, act_step

EVAL_POLICIES: tuple[str, ...] = typing.get_args(EvalPolicy)
"""Policies every evaluation records: ``deterministic`` and ``stochastic``."""


def make_env(cfg: EnvConfig, num_envs: int, device: torch.device, seed: int) -> Any:
    """A training env of ``num_envs`` envs."""
    from hmasd.env.uav_env import UAVBaseStationEnv

    return UAVBaseStationEnv(cfg, num_envs, device=device, seed=seed)


@torch.no_grad()
def agent_episodes(
    agent: Any, cfg: Config, episodes: int, seed: int, device: torch.device, deterministic: bool
) -> dict[str, list[float]]:
    """One episode in each of ``episodes`` fresh eval envs, stepped by :func:`act_step` (the
    training code path, with its skill clock). Sampling draws from the global torch RNG,
    which is seeded here and restored afterwards, so every call plays the same episodes
    and training is not perturbed."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        env = eval_env(cfg.env, episodes, seed, device)
        obs, state = env.observe()
        rs = RunningState.initial(obs, state, agent.initial_hidden(episodes))
        k = cfg.agent.skill_interval
        policy = PolicyGroups.single(agent)
        return run_episodes(env, lambda: act_step(policy, env, rs, k, deterministic).env)


def evaluate_agent(
    agent: Any, cfg: Config, episodes: int, seed: int, device: torch.device
) -> dict[str, dict[str, Any]]:
    """``{policy: summary}`` for both :data:`EVAL_POLICIES` (see :func:`summarise`)."""
    return {
        policy: summarise(
            agent_episodes(agent, cfg, episodes, seed, device, policy == "deterministic")
        )
        for policy in EVAL_POLICIES
    }


def evaluate(
    checkpoint: Path,
    episodes: int,
    out_json: Path,
    seed: int = 0,
    tb_dir: Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Eval-only run of a checkpoint: ``episodes`` episodes of each policy, batched.

    Writes ``out_json`` atomically: the checkpoint's identity, ``headline`` (the config's
    ``train.eval_policy``) and ``policies: {deterministic: summary, stochastic: summary}``.
    With ``tb_dir``, also ``Eval/MeanReward`` / ``Eval/StdReward`` (headline policy) at the
    checkpoint's env step.
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
    from hmasd.agent.hmasd import HMASDAgent

    seed_everything(seed, cfg.train.deterministic)
    probe = make_env(cfg.env, 1, dev, 0)
    agent = HMASDAgent(
        cfg.agent,
        probe.n_agents,
        probe.obs_dim,
        probe.state_dim,
        probe.action_dim,
        dev,
        trainable=False,  # acting only: no optimisers (their import costs seconds)
    )
    try:
        agent.load_state_dict(data["agent"])
    except Exception as exc:
        raise CheckpointError(
            f"{checkpoint}: agent weights do not fit the config inside it "
            f"({type(exc).__name__}: {one_line(exc)})"
        ) from None
    policies = evaluate_agent(agent, cfg, episodes, seed, dev)
    headline = cfg.train.eval_policy
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "config_name": data.get("config_name"),
        "mode": data["mode"],
        "seed": seed,
        "env_step": int(data["env_step"]),
        "policy_version": int(data["policy_version"]),
        "episodes": episodes,
        "headline": headline,
        "policies": policies,
    }
    atomic_write_json(out_json, result)
    if tb_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(tb_dir))
        writer.add_scalar("Eval/MeanReward", policies[headline]["mean_reward"], result["env_step"])
        writer.add_scalar("Eval/StdReward", policies[headline]["std_reward"], result["env_step"])
        writer.close()
    return result
