"""Time one HMASD update (all networks, all PPO epochs) at the default sizes.

Default hyperparameters: 32 envs x 32 steps = 1024 transitions per update, 5 agents,
15 PPO epochs, 1 minibatch, obs/state sizes of the default env (80/80). The batch holds
random tensors with the real structure (a skill decision every k steps, one episode end in
the middle, so the GRU replay takes its reset path). Prints ms per update for the GRU and
the MLP actor, with the floating-point work of one update (``FlopCounterMode``) and the
machine's measured fp32 matmul rate at the same thread count: their ratio is the least time
any implementation of this update can take here, so it bounds end-to-end throughput.

    .venv/bin/python benchmarks/update_time.py [--device cpu] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from hmasd.agent import Batch, HMASDAgent
from hmasd.config import AgentConfig


def synthetic_batch(
    cfg: AgentConfig, T: int, B: int, n: int, obs_dim: int, state_dim: int, device: torch.device
) -> Batch:
    g = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(device)

    def skills(high: int, *shape: int) -> torch.Tensor:
        return torch.randint(0, high, shape, generator=g).to(device)

    t = torch.arange(T, device=device)[:, None].expand(T, B)
    done = torch.zeros(T, B, dtype=torch.bool, device=device)
    done[T // 2] = True
    start = torch.zeros_like(done)
    start[0] = True
    start[T // 2 + 1 :] = False
    start[T // 2 + 1] = True
    decision = (t % cfg.skill_interval == 0) | start
    n_z, n_Z = cfg.n_ind_skills, cfg.n_team_skills
    return Batch(
        obs=rand(T, B, n, obs_dim),
        state=rand(T, B, state_dim),
        team_skill=skills(n_Z, T, B),
        ind_skill=skills(n_z, T, B, n),
        action=rand(T, B, n, 3),
        logp=rand(T, B, n) - 3.0,
        value=rand(T, B, n),
        env_reward=rand(T, B),
        team_disc_logq=-rand(T, B).abs(),
        ind_disc_logq=-rand(T, B, n).abs(),
        reward=rand(T, B, n),
        done=done,
        next_obs=rand(T, B, n, obs_dim),
        next_state=rand(T, B, state_dim),
        episode_start=start,
        hidden0=torch.zeros(B, n, cfg.hidden_dim, device=device),
        version=torch.zeros(T, B, dtype=torch.long, device=device),
        decision=decision,
        hl_logp=torch.where(decision, rand(T, B) - 5.0, 0.0),
        hl_value_state=torch.where(decision, rand(T, B), 0.0),
        hl_value_obs=torch.where(decision[..., None], rand(T, B, n), 0.0),
        hl_version=torch.where(decision, 0, -1),
        last_state=rand(B, state_dim),
        last_obs=rand(B, n, obs_dim),
        last_team_skill=skills(n_Z, B),
        last_ind_skill=skills(n_z, B, n),
        last_done=done[-1],
    )


def matmul_gflops(device: torch.device, size: int = 1024, repeats: int = 20) -> float:
    """Sustained fp32 matmul rate (GFLOP/s): the ceiling for the update's dense layers."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - t0) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--rollout-len", type=int, default=32)
    parser.add_argument("--n-agents", type=int, default=5)
    parser.add_argument("--obs-dim", type=int, default=80)
    parser.add_argument("--state-dim", type=int, default=80)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    T, B, n = args.rollout_len, args.num_envs, args.n_agents
    print(
        f"update of {T * B} transitions (T={T}, B={B}, n={n}), device {device}, "
        f"{torch.get_num_threads()} threads"
    )
    peak = matmul_gflops(device)
    print(f"fp32 matmul (1024^3): {peak:.0f} GFLOP/s")
    for actor in ("gru", "mlp"):
        torch.manual_seed(0)
        cfg = dataclasses.replace(AgentConfig(), actor=actor)
        agent = HMASDAgent(cfg, n, args.obs_dim, args.state_dim, 3, device)
        batch = synthetic_batch(cfg, T, B, n, args.obs_dim, args.state_dim, device)
        agent.update(batch)  # warm-up
        with FlopCounterMode(display=False) as counter:
            agent.update(batch)
        gflop = counter.get_total_flops() / 1e9
        times = []
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            agent.update(batch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append((time.perf_counter() - t0) * 1000)
        print(
            f"  actor={actor}: {statistics.median(times):7.1f} ms/update median, "
            f"{min(times):7.1f} min ({cfg.ppo_epochs} epochs x {cfg.num_minibatches} "
            f"minibatch, {agent.optimizer_steps} optimiser steps total)"
        )
        floor_ms = gflop / peak * 1000
        print(
            f"    {gflop:.1f} GFLOP/update; at {peak:.0f} GFLOP/s that is >= {floor_ms:.0f} ms, "
            f"so at most {T * B / (floor_ms / 1000):,.0f} env-steps/s end to end even with "
            f"free collection; achieved {gflop / statistics.median(times) * 1000:.0f} GFLOP/s"
        )


if __name__ == "__main__":
    main()
