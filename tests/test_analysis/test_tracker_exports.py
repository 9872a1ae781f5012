"""The real Tracker's exports consolidate: the column contract holds end to end."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from analysis.consolidate import consolidate
from analysis.schema import read
from hmasd.config import Config, TrackingConfig, dump
from hmasd.tracking import Tracker, UpdateRecord

B, N_AGENTS, N_TEAM, N_IND, T, EP_LEN = 4, 3, 3, 3, 8, 16


def _drive(run: Path, mode: str, updates: int = 6) -> dict[str, int]:
    """A small schedule through a real Tracker: 4 envs x 8 steps per update, skills every
    4 steps, 16-step episodes, exports every 2 updates. Returns the rows it logged."""
    g = torch.Generator().manual_seed(0)
    cfg = TrackingConfig(export_interval=2 * B * T, tensorboard=False, progress_figure=False)
    tr = Tracker(run, cfg, mode, N_AGENTS, N_TEAM, N_IND)
    step, episodes = 0, 0
    for u in range(1, updates + 1):
        for t in range(T):
            step += B
            if t % 4 == 0:
                tr.log_skills(step, torch.randint(0, N_TEAM, (B,), generator=g),
                              torch.randint(0, N_IND, (B, N_AGENTS), generator=g),
                              torch.rand(B, generator=g) < 0.5)
            tr.log_step_rewards(step, torch.rand(B, generator=g), -torch.rand(B, generator=g),
                                -torch.rand(B, N_AGENTS, generator=g))
        if (u * T) % EP_LEN == 0:
            env_c = torch.rand(B, generator=g)
            tr.log_episodes(step, u, {
                "env_id": torch.arange(B), "return": env_c, "length": torch.full((B,), EP_LEN),
                "env_component": env_c, "team_disc_component": -torch.rand(B, generator=g),
                "ind_disc_component": -torch.rand(B, generator=g),
                "throughput_mbps": 50 * torch.rand(B, generator=g),
                "connected_users": 40 * torch.rand(B, generator=g),
                "coverage": torch.rand(B, generator=g)})
            episodes += B
        lag = 0.0 if mode == "sync" else 1.0
        tr.log_update(step, UpdateRecord(u, B * T, 0.5, 0.25, lag / 2, lag, lag, step, u * 0.75),
                      {"losses/low/policy": 0.1})
        tr.maybe_export(step)
    tr.close({"mode": mode})
    # What the trainer writes besides the tracker: the run's config and summary.
    dump(Config(), run / "config.yaml")
    (run / "train_summary.json").write_text(json.dumps({"mode": mode}))
    return {"episodes": episodes, "sync_metrics": updates, "reward_components": updates}


def test_tracker_exports_consolidate(tmp_path: Path) -> None:
    runs = tmp_path / "results" / "runs" / "real"
    logged = {m: _drive(runs / m / "seed0", m) for m in ("sync", "async")}
    consolidate([runs / m / "seed0" for m in logged], [], [], [], tmp_path / "c")
    for name in ("episodes", "sync_metrics", "reward_components"):
        df = read(tmp_path / "c", name).to_pandas()
        for mode, rows in logged.items():
            assert (df["mode"] == mode).sum() == rows[name], (name, mode)
    ep = read(tmp_path / "c", "episodes").to_pandas()
    assert ep["mean_sinr_db"].isna().all()  # not logged -> "nan" in the CSV -> NaN
    su = read(tmp_path / "c", "skill_usage").to_pandas()
    team = su[(su["kind"] == "team") & (su["mode"] == "sync")]
    # 6 updates x 2 decisions x 4 envs team-skill choices in total.
    assert team["count"].sum() == 6 * 2 * B
    sm = read(tmp_path / "c", "sync_metrics").to_pandas()
    assert (sm.loc[sm["mode"] == "sync", "stale_fraction"] == 0).all()
    assert (sm.loc[sm["mode"] == "async", "max_lag"] == 1).all()
