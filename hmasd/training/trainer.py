"""The training entry point: ``train(cfg, mode, seed, run_dir)``.

CleanRL order, one update per loop iteration:

    seed -> build env(s), agent, tracker -> [resume] ->
    loop: collect a batch (schedule) -> update (agent) -> log -> eval/best -> export
          -> periodic checkpoint
    -> final eval -> best/final checkpoints -> tracker summary -> train_summary.json

Sync and async share everything here; they differ only in the schedule object
(:class:`~hmasd.training.sync.SyncSchedule` / :class:`~hmasd.training.async_.AsyncSchedule`)
that hands back the next batch. ``train_summary.json`` is written last: its presence means
the run finished.
"""

from __future__ import annotations

import logging
import math
import resource
import shutil
import sys
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hmasd.config import MODES, Config, derived, dump, to_dict
from hmasd.errors import ConfigError, StoppedError
from hmasd.io import atomic_path, atomic_write_json
from hmasd.seeding import GROUP_STREAM, derive_seed, resolve_device, seed_everything
from hmasd.training import checkpoint as ckpt
from hmasd.training.async_ import AsyncSchedule
from hmasd.training.evaluate import evaluate_agent, make_env
from hmasd.training.rollout import Collector, Dims
from hmasd.training.signals import StopRequest
from hmasd.training.sync import SyncSchedule

log = logging.getLogger(__name__)


@dataclass
class UpdateStats:
    """What one update measured about its batch (policy lag in versions)."""

    stale_fraction: float
    mean_lag: float
    max_lag: int
    update_time: float
    losses: dict[str, float]


@dataclass
class Progress:
    """Counters of a run, saved in checkpoints so a resumed run continues them."""

    env_step: int = 0
    updates: int = 0
    elapsed: float = 0.0
    """Wall seconds spent by earlier processes of this run (resume)."""
    best_eval: float | None = None
    last_eval: dict[str, Any] | None = None
    last_eval_step: int = -1
    stale_sum: float = 0.0
    lag_sum: float = 0.0
    max_lag: int = 0
    collect_time: float = 0.0
    update_time: float = 0.0


def batch_lag(batch_version: torch.Tensor, current: int) -> tuple[float, float, int]:
    """Stale fraction, mean and max lag of samples stamped ``batch_version`` against the
    learner's ``current`` version (lag counts policy versions, one per update)."""
    lag = current - batch_version
    n = lag.numel()
    return float((lag > 0).sum()) / n, float(lag.sum()) / n, int(lag.max())


def update_phase(agent: Any, batch: Any) -> UpdateStats:
    """Measure the batch's staleness and update the agent on it (the agent stops a
    non-finite loss before its optimiser step: :meth:`HMASDAgent.update`)."""
    current = int(agent.policy_version)
    stale, mean_lag, max_lag = batch_lag(batch.version, current)
    t0 = time.perf_counter()
    losses = agent.update(batch)
    if batch.obs.is_cuda:
        torch.cuda.synchronize(batch.obs.device)
    dt = time.perf_counter() - t0
    return UpdateStats(stale, mean_lag, max_lag, dt, losses)


def machine_info() -> dict[str, Any]:
    """What bit-for-bit reproducibility depends on besides config and seed: the CPU (its
    instruction set picks the BLAS kernels), the torch version and the thread count (which
    orders float reductions)."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model
            )
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


class _Reporter:
    """tqdm bar on a terminal, plain log lines every few updates otherwise."""

    def __init__(self, total: int, initial: int, num_updates: int) -> None:
        self.bar = None
        # Owns the bar and the logging redirect, so close() undoes both in reverse order.
        self.resources = ExitStack()
        if sys.stderr.isatty():
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            # A pty that reports a 0 x 0 size (`script`, some CI runners) would make tqdm
            # draw an empty bar (0 columns) or hide it (a bar below row 0 is off screen).
            size = shutil.get_terminal_size((100, 20))
            self.bar = self.resources.enter_context(
                tqdm(
                    total=total,
                    initial=initial,
                    unit="step",
                    unit_scale=True,
                    ncols=size.columns or 100,
                    nrows=size.lines or 20,
                )
            )
            # Log lines (evals, exports) print above the bar instead of through it.
            self.resources.enter_context(logging_redirect_tqdm())
        self.every = max(1, num_updates // 20)
        self.last = initial

    def update(self, p: Progress, sps: float, recent: deque[float]) -> None:
        reward = sum(recent) / len(recent) if recent else math.nan
        if self.bar is not None:
            self.bar.update(p.env_step - self.last)
            self.bar.set_postfix(sps=f"{sps:.0f}", reward=f"{reward:.3f}", v=p.updates)
        elif p.updates % self.every == 0:
            log.info(
                "update %d: env_step %d, %.0f env-steps/s, recent reward %.3f",
                p.updates,
                p.env_step,
                sps,
                reward,
            )
        self.last = p.env_step

    def close(self) -> None:
        self.resources.close()


class Run:
    """Everything one training process holds: envs, agent, schedule, tracker, counters."""

    def __init__(
        self,
        cfg: Config,
        mode: str,
        seed: int,
        run_dir: Path,
        device: torch.device,
        agent_cls: type | None,
        start_step: int,
        config_name: str | None = None,
    ) -> None:
        from hmasd.agent import HMASDAgent
        from hmasd.tracking import Tracker

        t, d = cfg.train, derived(cfg)
        self.cfg, self.mode, self.seed, self.run_dir, self.device = cfg, mode, seed, run_dir, device
        self.derived = d
        self.config_name = config_name
        # One batched env of num_envs in both modes, seeded alike: the async groups are
        # blocks of its rows, so async with one group starts from exactly the sync envs.
        e = make_env(cfg.env, t.num_envs, device, derive_seed(seed, GROUP_STREAM))
        cls = agent_cls or HMASDAgent
        self.agent = cls(
            cfg.agent,
            e.n_agents,
            e.obs_dim,
            e.state_dim,
            e.action_dim,
            device,
            correction=t.async_correction,
        )
        hidden_dim = int(self.agent.initial_hidden(1).shape[-1])
        dims = Dims(e.n_agents, e.obs_dim, e.state_dim, e.action_dim, hidden_dim)
        self.tracker = Tracker(
            run_dir,
            cfg.tracking,
            mode,
            e.n_agents,
            cfg.agent.n_team_skills,
            cfg.agent.n_ind_skills,
            # The first step this process can log: on resume the checkpoint's own step was
            # logged before it was saved, so TensorBoard must keep it.
            start_step=start_step + 1 if start_step > 0 else 0,
        )
        self.recent: deque[float] = deque(maxlen=10)
        col = Collector(cfg.agent, self.tracker, self.recent)
        if mode == "sync":
            self.schedule: SyncSchedule | AsyncSchedule = SyncSchedule(
                self.agent, e, col, d.rollout_len, dims, device
            )
        else:
            self.schedule = AsyncSchedule(
                self.agent, e, col, t.async_groups, d.rollout_len, dims, device
            )
        self.p = Progress()
        self.last_sps = math.nan  # env-steps/s of the last update (progress bar, log lines)

    # ---------------------------------------------------------------- checkpoints
    def payload(self) -> dict[str, Any]:
        return {
            "config": to_dict(self.cfg),
            "config_name": self.config_name,
            "mode": self.mode,
            "seed": self.seed,
            "env_step": self.p.env_step,
            "policy_version": int(self.agent.policy_version),
            "agent": self.agent.state_dict(),
            "env": [env.state_dict() for env in self.schedule.envs],
            "tracker": self.tracker.state_dict(),
            "rng": ckpt.rng_state(),
            "schedule": self.schedule.state_dict(),
            "progress": vars(self.p).copy(),
            "recent_returns": list(self.recent),
        }

    def restore(self, path: Path, data: dict[str, Any]) -> None:
        try:
            self.agent.load_state_dict(data["agent"])
            envs = self.schedule.envs
            if len(data["env"]) != len(envs):
                raise ValueError("number of env groups differs")
            for env, sd in zip(envs, data["env"], strict=True):
                env.load_state_dict(sd)
            self.schedule.load_state_dict(data["schedule"])
            self.tracker.load_state_dict(data["tracker"])
            self.p = Progress(**data["progress"])
            self.recent.extend(data.get("recent_returns", []))
            ckpt.set_rng_state(data["rng"])
        except (
            ckpt.CheckpointError,
            KeyError,
            ValueError,
            RuntimeError,
            TypeError,
            IndexError,
            AttributeError,
        ) as exc:
            raise ckpt.CheckpointError(
                f"{path}: checkpoint does not fit this run ({type(exc).__name__}: "
                f"{ckpt.one_line(exc)})"
            ) from None

    def save(self, path: Path) -> None:
        ckpt.save_checkpoint(path, self.payload())
        log.debug("checkpoint %s", path)

    def stop_checkpoint(self, t_start: float) -> Path:
        """The periodic checkpoint of the current env step (what ``--resume-latest`` picks
        up), written when a signal stops the run; TensorBoard is flushed. Rows pending for
        the next export travel in the checkpoint, so the resumed run writes the same
        export files as an uninterrupted one."""
        p = self.p
        path = ckpt.periodic_path(self.run_dir, self.mode, p.env_step)
        p.elapsed, saved = p.elapsed + time.perf_counter() - t_start, p.elapsed
        self.save(path)
        p.elapsed = saved
        self.tracker.flush()
        return path

    # ---------------------------------------------------------------- evaluation
    def evaluate(self) -> dict[str, Any]:
        """Evaluate both policies; the headline one (``train.eval_policy``) feeds
        ``Eval/MeanReward`` and picks the best checkpoint."""
        t = self.cfg.train
        res = evaluate_agent(self.agent, self.cfg, t.eval_episodes, self.seed, self.device)
        head = res[t.eval_policy]
        self.tracker.log_eval(self.p.env_step, head["mean_reward"], head["std_reward"])
        self.tracker.log_scalars(
            self.p.env_step,
            {f"Eval/{pol.capitalize()}/MeanReward": r["mean_reward"] for pol, r in res.items()},
        )
        self.p.last_eval_step = self.p.env_step
        # The headline's mean and std at the top (the tracker reports them under the same
        # names), every policy's summary below.
        self.p.last_eval = {
            "policy": t.eval_policy,
            "mean_reward": head["mean_reward"],
            "std_reward": head["std_reward"],
            "policies": {
                pol: {k: v for k, v in r.items() if k != "per_episode"} for pol, r in res.items()
            },
        }
        log.info(
            "eval at env_step %d: mean return %s",
            self.p.env_step,
            ", ".join(f"{pol} {r['mean_reward']:.3f}" for pol, r in res.items()),
        )
        if self.p.best_eval is None or head["mean_reward"] > self.p.best_eval:
            self.p.best_eval = head["mean_reward"]
            self.save(ckpt.best_so_far_path(self.run_dir, self.mode))
        return res

    # ---------------------------------------------------------------- one update
    def step(self, t_start: float) -> None:
        """Collect one batch, update on it, log, evaluate/checkpoint when due."""
        p, t, tracker = self.p, self.cfg.train, self.tracker
        from hmasd.tracking import UpdateRecord

        prev_step = p.env_step
        t0 = time.perf_counter()
        batch, p.env_step = self.schedule.next_batch(p.env_step)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        collection_time = time.perf_counter() - t0
        stats = update_phase(self.agent, batch)
        p.updates += 1
        p.collect_time += collection_time
        p.update_time += stats.update_time
        p.stale_sum += stats.stale_fraction
        p.lag_sum += stats.mean_lag
        p.max_lag = max(p.max_lag, stats.max_lag)
        wall = p.elapsed + time.perf_counter() - t_start
        record = UpdateRecord(
            policy_version=int(self.agent.policy_version),
            samples_collected=int(batch.num_steps),
            collection_time=collection_time,
            update_time=stats.update_time,
            stale_fraction=stats.stale_fraction,
            mean_lag=stats.mean_lag,
            max_lag=stats.max_lag,
            env_steps=p.env_step,
            wall_time=wall,
            measures=stats.losses,
        )
        tracker.log_update(p.env_step, record, stats.losses)
        self.last_sps = (p.env_step - prev_step) / max(collection_time + stats.update_time, 1e-9)
        if p.env_step // t.eval_interval > prev_step // t.eval_interval:
            self.evaluate()
        tracker.maybe_export(p.env_step)
        if p.env_step // t.checkpoint_interval > prev_step // t.checkpoint_interval:
            # Elapsed is saved as of now so a resumed run's wall clock carries on.
            p.elapsed, saved = wall, p.elapsed
            self.save(ckpt.periodic_path(self.run_dir, self.mode, p.env_step))
            p.elapsed = saved


def _check(cfg: Config, mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


def train(
    cfg: Config,
    mode: str,
    seed: int,
    run_dir: Path,
    *,
    resume_from: Path | None = None,
    agent_cls: type | None = None,
    config_name: str | None = None,
    stop: StopRequest | None = None,
) -> dict[str, Any]:
    """Train HMASD under the ``sync`` or ``async`` schedule; returns the run summary.

    ``resume_from``: a checkpoint of this run (same config shapes, mode and seed) to
    continue from; the run then ends with the same weights and exports as if it had never
    stopped (CPU). ``agent_cls``: an :class:`~hmasd.agent.HMASDAgent` subclass (tests).
    ``config_name``: recorded in checkpoints and the summary (eval JSONs carry it on).
    ``stop``: a :class:`StopRequest` the caller entered before start-up (``hmasd train``
    does, so that a signal during its imports and set-up is honoured after the first
    update); by default the training loop enters its own.
    Writes ``run_dir/{config.yaml, models/, tb/, paper_data/, train_summary.json}``.
    """
    _check(cfg, mode)
    seed_everything(seed, cfg.train.deterministic)
    if cfg.train.torch_threads > 0:
        torch.set_num_threads(cfg.train.torch_threads)
    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"'train.device' is {cfg.train.device!r} but CUDA is not available")
    run_dir = Path(run_dir)
    data = None
    if resume_from is not None:
        data = ckpt.load_checkpoint(resume_from, map_location=device)
        ckpt.check_compatible(Path(resume_from), data, to_dict(cfg), mode, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump(cfg, run_dir / "config.yaml")
    summary_path = run_dir / "train_summary.json"
    if summary_path.exists():
        summary_path.unlink()  # a rerun is not finished until it writes a new one

    start = int(data["env_step"]) if data else 0
    run = Run(cfg, mode, seed, run_dir, device, agent_cls, start, config_name)
    if data is not None:
        run.restore(Path(resume_from), data)
        log.info("resumed from %s at env_step %d", resume_from, run.p.env_step)
    p, d = run.p, run.derived
    reporter = _Reporter(d.num_updates * cfg.train.batch_size, p.env_step, d.num_updates)
    t_start = time.perf_counter()
    stopped_by = ""
    try:
        # A scheduler's or the user's signal lets the update in progress finish, then
        # stops with a resumable checkpoint (hmasd.training.signals).
        with ExitStack() as stack:
            if stop is None:
                stop = stack.enter_context(StopRequest())
            while p.updates < d.num_updates:
                run.step(t_start)
                reporter.update(p, run.last_sps, run.recent)
                if stop.requested and p.updates < d.num_updates:
                    stopped_by = stop.name
                    break
    finally:
        reporter.close()
    if stopped_by:
        path = run.stop_checkpoint(t_start)
        message = (
            f"stopped by {stopped_by} at env step {p.env_step} (update {p.updates} of "
            f"{d.num_updates}): checkpoint {path}; `hmasd train ... --resume-latest` goes "
            "on from there"
        )
        log.warning("%s", message)
        raise StoppedError(message)
    train_wall = p.elapsed + time.perf_counter() - t_start

    # Final evaluation (unless one just ran at this step), then best/final checkpoints.
    if p.last_eval_step != p.env_step:
        run.evaluate()
    best = ckpt.best_so_far_path(run_dir, mode)
    if not best.exists():
        run.save(best)
    with atomic_path(ckpt.best_path(run_dir, mode)) as tmp:
        shutil.copyfile(best, tmp)
    p.elapsed += time.perf_counter() - t_start
    run.save(ckpt.final_path(run_dir, mode))
    n = max(p.updates, 1)
    summary = {
        "config_name": config_name,
        "mode": mode,
        "seed": seed,
        "env_steps": p.env_step,
        "updates": p.updates,
        "policy_version": int(run.agent.policy_version),
        "wall_time_s": p.elapsed,
        # End to end (collection, update, logging, eval, checkpoints) over this run's wall
        # time, and collection + update only.
        "env_steps_per_s": p.env_step / max(train_wall, 1e-9),
        "env_steps_per_s_collect_update": p.env_step / max(p.collect_time + p.update_time, 1e-9),
        "mean_collection_time_s": p.collect_time / n,
        "mean_update_time_s": p.update_time / n,
        "mean_stale_fraction": p.stale_sum / n,
        "mean_lag": p.lag_sum / n,
        "max_lag": p.max_lag,
        "best_eval_mean_reward": p.best_eval,
        "final_eval": p.last_eval,
        "peak_rss_mb": peak_rss_mb(),
        "device": str(device),
        "machine": machine_info(),
        "resumed_from": str(resume_from) if resume_from is not None else None,
    }
    if device.type == "cuda":
        summary["cuda_max_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    run.tracker.close(summary)
    atomic_write_json(summary_path, summary)
    return summary
