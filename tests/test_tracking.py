"""The tracker writes every TensorBoard tag and export, bounded and resumable.

A synthetic but realistic sync schedule drives a real :class:`Tracker`: 4 envs x 8 steps per
update (32 env steps), skill decisions every 4 steps, 16-step episodes (all 4 envs finish
together, every second update), an evaluation every third update. Event files are read back
with TensorBoard's own reader; exports with pandas.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hmasd.config import TrackingConfig
from hmasd.tracking import (
    DETAILED_REWARD_COLUMNS,
    EPISODE_COLUMNS,
    REWARD_COLUMNS,
    SKILL_TRACE_COLUMNS,
    SYNC_COLUMNS,
    History,
    Tracker,
    UpdateRecord,
    normalized_entropy,
)
from hmasd.tracking.plots import running_mean

B, N_AGENTS, N_TEAM, N_IND = 4, 3, 3, 3
T = 8  # steps per env per update
STEPS_PER_UPDATE = B * T
K = 4  # skill interval
EP_LEN = 16
LOSS_TAGS = ("losses/low/policy", "losses/high/value", "disc/team_accuracy")

REQUIRED_TAGS = (
    "Training/Episode_Reward",
    "Training/Episode_Length",
    "Training/Avg_Reward_10ep",
    "Training/Skill_Diversity_Recent",
    "Training/Episodes_Completed",
    "Training/Skill_Switches_Total",
    "Sync/Total_Updates",
    "Sync/Current_Policy_Version",
    "Sync/Avg_Efficiency_10updates",
    "Sync/Avg_Collection_Time_10updates",
    "Sync/Avg_Update_Time_10updates",
    "Performance/Episode_System_Throughput_Mbps",
    "Performance/Episode_Connected_Users",
    "Performance/Episode_Coverage_Ratio",
    "Eval/MeanReward",
    "Eval/StdReward",
    "Sync/Stale_Fraction",
    "Sync/Mean_Policy_Lag",
    "Sync/Max_Policy_Lag",
    "Performance/Env_Steps_Per_Second",
    "Reward/Env_Component",
    "Reward/Team_Disc_Component",
    "Reward/Ind_Disc_Component",
)
EPISODE_TAGS = {
    "Training/Episode_Reward",
    "Training/Episode_Length",
    "Training/Avg_Reward_10ep",
    "Training/Episodes_Completed",
    "Performance/Episode_System_Throughput_Mbps",
    "Performance/Episode_Connected_Users",
    "Performance/Episode_Coverage_Ratio",
}
EVAL_TAGS = {"Eval/MeanReward", "Eval/StdReward"}


def cfg(**kw: object) -> TrackingConfig:
    base = {"export_interval": 2 * STEPS_PER_UPDATE, "progress_figure": False}
    return TrackingConfig(**{**base, **kw})


def make(run: Path, c: TrackingConfig, start_step: int = 0) -> Tracker:
    return Tracker(run, c, "sync", N_AGENTS, N_TEAM, N_IND, start_step=start_step)


def episodes(g: torch.Generator, e: int) -> dict[str, torch.Tensor]:
    env_c = 100 + 20 * torch.rand(e, generator=g)
    return {
        "env_id": torch.arange(e),
        "return": env_c.clone(),  # lambda_e = 1
        "length": torch.full((e,), EP_LEN),
        "env_component": env_c,
        "team_disc_component": -torch.rand(e, generator=g),
        "ind_disc_component": -2 * torch.rand(e, generator=g),
        "throughput_mbps": 50 * torch.rand(e, generator=g),
        "connected_users": 40 * torch.rand(e, generator=g),
        "coverage": torch.rand(e, generator=g),
        "mean_sinr_db": 10 * torch.rand(e, generator=g),
        "fairness": torch.rand(e, generator=g),
        "connectivity_ratio": torch.ones(e),
        "mean_hops": torch.ones(e),
    }


def drive(tr: Tracker, first: int, last: int, device: str = "cpu") -> int:
    """Log updates ``first..last-1`` of the schedule; every number depends only on the
    update index, so a resumed tracker replays exactly. Returns the env step reached."""
    env_step = first * STEPS_PER_UPDATE
    for u in range(first, last):
        g = torch.Generator().manual_seed(1000 + u)
        for t in range(T):
            step_in_run = u * T + t
            if step_in_run % K == 0:
                team = torch.randint(N_TEAM, (B,), generator=g)
                ind = torch.randint(N_IND, (B, N_AGENTS), generator=g)
                switched = torch.rand(B, generator=g) < 0.5
                tr.log_skills(env_step, team.to(device), ind.to(device), switched.to(device))
            env_step += B
            env_c, team_c = torch.rand(B, generator=g), -torch.rand(B, generator=g)
            ind_c = -torch.rand(B, N_AGENTS, generator=g)
            tr.log_step_rewards(env_step, env_c.to(device), team_c.to(device), ind_c.to(device))
            if (step_in_run + 1) % EP_LEN == 0:
                eps = {k: v.to(device) for k, v in episodes(g, B).items()}
                tr.log_episodes(env_step, u, eps)
        record = UpdateRecord(
            policy_version=u + 1,
            samples_collected=STEPS_PER_UPDATE,
            collection_time=0.5 + 0.01 * u,
            update_time=0.1,
            stale_fraction=0.0,
            mean_lag=0.0,
            max_lag=0.0,
            env_steps=env_step,
            wall_time=0.6 * (u + 1),
        )
        losses = {tag: float(torch.rand((), generator=g)) for tag in LOSS_TAGS}
        tr.log_update(env_step, record, losses)
        tr.log_scalars(env_step, {"charts/SPS": 64.0})
        if u % 3 == 2:
            tr.log_eval(env_step, 110.0 + u, 3.0)
        tr.maybe_export(env_step)
    return env_step


def scalars(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]
    }


def no_temp_files(d: Path) -> bool:
    return not [p for p in d.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


# ---------------------------------------------------------------------- pure maths
def test_sync_efficiency_matches_the_seed() -> None:
    rec = UpdateRecord(1, 1024, 15.6, 2.3, 0.0, 0.0, 0.0, 1024, 17.9)
    assert rec.sync_efficiency == pytest.approx(1024 / 17.9)
    assert round(rec.sync_efficiency, 1) == 57.2
    assert round(UpdateRecord(2, 1024, 14.8, 2.1, 0, 0, 0, 2048, 35.8).sync_efficiency, 1) == 60.6
    assert math.isnan(UpdateRecord(1, 1024, 0.0, 0.0, 0, 0, 0, 1024, 0.0).sync_efficiency)


def test_normalized_entropy_known_values() -> None:
    assert normalized_entropy([5, 5, 5]) == pytest.approx(1.0)
    assert normalized_entropy([245, 0, 0]) == 0.0
    assert normalized_entropy([0, 0, 0]) == 0.0
    assert normalized_entropy([7]) == 0.0
    # p = (1/4, 3/4): H = 0.811278 bits, log base 2 = the 2 bins
    assert normalized_entropy([1, 3]) == pytest.approx(0.8112781245)
    assert 0.0 < normalized_entropy([245, 189, 210]) < 1.0


def test_history_is_bounded_and_covers_the_run() -> None:
    h = History(2, cap=8)
    for i in range(1000):
        h.add((i, 2.0 * i))
        assert len(h.points) <= 8
    a = h.array()
    assert a.shape[1] == 2 and 4 <= len(a) <= 8
    assert a[0, 0] < 100 and a[-1, 0] > 700  # spans the run, not just its tail
    np.testing.assert_allclose(a[:, 1], 2 * a[:, 0])  # pairwise means keep linear relations


def test_running_mean() -> None:
    np.testing.assert_allclose(running_mean(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])
    assert running_mean(np.array([])).size == 0


# ---------------------------------------------------------------------- TensorBoard
def test_every_required_tag_with_expected_points(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg())
    n_updates = 6
    end = drive(tr, 0, n_updates)
    tr.close({"env_steps": end})
    data = scalars(tmp_path / "tb")
    n_episode_calls = n_updates * T // EP_LEN
    n_evals = sum(1 for u in range(n_updates) if u % 3 == 2)
    for tag in (*REQUIRED_TAGS, *LOSS_TAGS, "charts/SPS"):
        assert tag in data, tag
        want = (
            n_episode_calls if tag in EPISODE_TAGS else n_evals if tag in EVAL_TAGS else n_updates
        )
        assert len(data[tag]) == want, tag
        steps = [s for s, _ in data[tag]]
        assert steps == sorted(set(steps)) and steps[-1] <= end, tag
    # Global step = env steps; values as logged.
    assert data["Sync/Total_Updates"] == [
        ((u + 1) * STEPS_PER_UPDATE, float(u + 1)) for u in range(n_updates)
    ]
    assert [v for _, v in data["Training/Episodes_Completed"]] == [4.0, 8.0, 12.0]
    assert data["Training/Episode_Length"][0] == (EP_LEN * B, float(EP_LEN))
    eff = [v for _, v in data["Sync/Avg_Efficiency_10updates"]]
    assert eff[0] == pytest.approx(32 / 0.6)
    sps = [v for _, v in data["Performance/Env_Steps_Per_Second"]]
    np.testing.assert_allclose(sps, 32 / 0.6, rtol=1e-5)
    for _, v in data["Training/Skill_Diversity_Recent"]:
        assert 0.0 <= v <= 1.0


def test_episode_tags_are_means_over_the_call(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(export=False))
    eps = episodes(torch.Generator().manual_seed(0), 5)
    tr.log_episodes(80, 3, eps)
    tr.close({})
    data = scalars(tmp_path / "tb")
    ((step, value),) = data["Training/Episode_Reward"]
    assert step == 80 and value == pytest.approx(float(eps["return"].mean()), rel=1e-6)
    assert data["Performance/Episode_Coverage_Ratio"][0][1] == pytest.approx(
        float(eps["coverage"].mean()), rel=1e-6
    )
    assert data["Training/Episodes_Completed"] == [(80, 5.0)]
    assert not (tmp_path / "paper_data").exists()


# ---------------------------------------------------------------------- exports
def test_exports_have_exact_columns_and_rows_since_previous_export(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(detailed_logging=True))
    end = drive(tr, 0, 7)  # exports at 64, 128, 192; update 7 (224) is pending at close
    tr.close({"env_steps": end, "mode": "sync"})
    d = tmp_path / "paper_data"
    steps = [64, 128, 192, 224]
    rows_eps = {64: 4, 128: 4, 192: 4, 224: 0}
    rows_upd = {64: 2, 128: 2, 192: 2, 224: 1}
    total_eps = 0
    for s in steps:
        ep = pd.read_csv(d / f"episode_rewards_step_{s}.csv")
        assert list(ep.columns) == list(EPISODE_COLUMNS)
        assert len(ep) == rows_eps[s]
        assert list(ep["episode"]) == list(range(total_eps + 1, total_eps + 1 + len(ep)))
        total_eps += len(ep)
        if len(ep):
            np.testing.assert_allclose(
                ep["total_reward"],
                ep["env_component"] + ep["team_disc_component"] + ep["ind_disc_component"],
            )
        sy = pd.read_csv(d / f"sync_metrics_step_{s}.csv")
        assert list(sy.columns) == list(SYNC_COLUMNS) and len(sy) == rows_upd[s]
        np.testing.assert_allclose(
            sy["sync_efficiency"],
            sy["samples_collected"] / (sy["collection_time"] + sy["update_time"]),
        )
        rc = pd.read_csv(d / f"reward_components_step_{s}.csv")
        assert list(rc.columns) == list(REWARD_COLUMNS) and len(rc) == rows_upd[s]
        np.testing.assert_allclose(
            rc["total"], rc[["env_component", "team_disc_component", "ind_disc_component"]].sum(1)
        )
        assert ((rc["env_component"] > 0) & (rc["env_component"] < 1)).all()
        # Detailed: one row per env per step; traces one row per env x agent per decision.
        det = pd.read_csv(d / f"reward_components_detailed_step_{s}.csv")
        assert list(det.columns) == list(DETAILED_REWARD_COLUMNS)
        assert len(det) == rows_upd[s] * T * B
        tr_ = pd.read_csv(d / f"skill_traces_step_{s}.csv")
        assert list(tr_.columns) == list(SKILL_TRACE_COLUMNS)
        assert len(tr_) == rows_upd[s] * (T // K) * B * N_AGENTS
        usage = json.loads((d / f"skill_usage_step_{s}.json").read_text())
        assert sum(usage["team_skills"].values()) == rows_upd[s] * (T // K) * B
        assert usage["total_steps"] == s
        assert set(usage["individual_skills"]) == {f"agent_{i}" for i in range(N_AGENTS)}
        assert 0.0 <= usage["diversity"] <= 1.0 and 0.0 <= usage["individual_diversity"] <= 1.0
    # Per-update reward means equal the detailed rows' means for that update.
    det = pd.read_csv(d / "reward_components_detailed_step_64.csv")
    rc = pd.read_csv(d / "reward_components_step_64.csv")
    first = det[det["env_step"] <= STEPS_PER_UPDATE]
    assert rc["ind_disc_component"][0] == pytest.approx(first["ind_disc_component"].mean())
    assert (d / "sync_training_summary.json").exists()
    assert not list(d.glob("sync_training_progress_step_*.png"))  # figure off in cfg()
    assert no_temp_files(tmp_path)


def test_total_reward_is_the_sum_of_the_components(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg())
    eps = {
        "env_id": torch.tensor([0]),
        "return": torch.tensor([120.0], dtype=torch.float64),
        "length": torch.tensor([89]),
        "env_component": torch.tensor([120.0], dtype=torch.float64),
        "team_disc_component": torch.tensor([3.2], dtype=torch.float64),
        "ind_disc_component": torch.tensor([2.14], dtype=torch.float64),
    }
    tr.log_episodes(89, 0, eps)
    tr.close({})
    (path,) = (tmp_path / "paper_data").glob("episode_rewards_step_*.csv")
    assert path.name == "episode_rewards_step_89.csv"  # close: pending rows at last step
    row = pd.read_csv(path).iloc[0]
    assert row["total_reward"] == pytest.approx(125.34)
    assert (row["episode"], row["env_id"], row["episode_length"]) == (1, 0, 89)
    assert math.isnan(row["throughput_mbps"])  # metric not given: NaN, column still there


def test_skill_usage_counts_and_diversity(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(export_interval=100))
    # Uniform team skills, every agent always individual skill 1, 2 switches.
    tr.log_skills(10, torch.tensor([0, 1, 2]), torch.ones(3, N_AGENTS, dtype=torch.long),
                  torch.tensor([True, False, True]))
    assert tr.maybe_export(99) is False
    assert tr.maybe_export(100) is True
    tr.log_skills(110, torch.tensor([2, 2]), torch.zeros(2, N_AGENTS, dtype=torch.long),
                  torch.tensor([True, True]))
    tr.close({})
    d = tmp_path / "paper_data"
    a = json.loads((d / "skill_usage_step_100.json").read_text())
    assert a["team_skills"] == {"0": 1, "1": 1, "2": 1}
    assert a["individual_skills"]["agent_2"] == {"0": 0, "1": 3, "2": 0}
    assert a["skill_switches"] == 2 and a["total_steps"] == 100 and a["sync_updates"] == 0
    assert a["diversity"] == pytest.approx(1.0) and a["individual_diversity"] == 0.0
    b = json.loads((d / "skill_usage_step_110.json").read_text())
    assert b["team_skills"] == {"0": 0, "1": 0, "2": 2} and b["diversity"] == 0.0
    assert b["cumulative"]["team_skills"] == {"0": 1, "1": 1, "2": 3}
    assert b["cumulative"]["skill_switches"] == 4
    summary = json.loads((d / "sync_training_summary.json").read_text())
    assert summary["skill_switches_total"] == 4


def test_summary_file_holds_each_key_once_with_the_callers_values(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(tensorboard=False))
    end = drive(tr, 0, 3)  # evaluations at update 2 only
    own = tr.summary()
    assert own["updates"] == 3 and own["env_steps"] == end
    assert own["final_eval"] == {"mean_reward": 112.0, "std_reward": 3.0}
    tr.close({"seed": 7, "mean_lag": 0.25, "updates": 3})
    out = json.loads((tmp_path / "paper_data" / "sync_training_summary.json").read_text())
    assert list(out)[:3] == ["seed", "mean_lag", "updates"]  # the caller's summary first
    assert out["mean_lag"] == 0.25 and own["mean_lag"] == 0.0  # the caller's value is kept
    assert set(out) == set(own) | {"seed"}  # no nested copy, no second name


def test_progress_figure_is_a_png(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(progress_figure=True))
    drive(tr, 0, 2)
    tr.close({})
    png = tmp_path / "paper_data" / "sync_training_progress_step_64.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # six drawn panels, not a blank canvas
    assert no_temp_files(tmp_path)


def test_export_off_writes_no_paper_data(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(export=False, detailed_logging=True))
    drive(tr, 0, 3)
    assert all(v == 0 for v in tr.pending_rows().values())  # nothing buffered either
    tr.close({"x": 1})
    assert not (tmp_path / "paper_data").exists()
    assert (tmp_path / "tb").exists()


def test_tensorboard_off_writes_no_events(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(tensorboard=False))
    drive(tr, 0, 2)
    tr.close({})
    assert not (tmp_path / "tb").exists()
    assert (tmp_path / "paper_data" / "episode_rewards_step_64.csv").exists()


def test_missing_episode_key_names_it(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(tensorboard=False))
    eps = episodes(torch.Generator().manual_seed(0), 2)
    del eps["length"]
    with pytest.raises(KeyError, match="length"):
        tr.log_episodes(16, 0, eps)


def test_memory_stays_bounded_over_many_exports(tmp_path: Path) -> None:
    # One update per export interval, 200 intervals, detailed logging on.
    c = cfg(export_interval=STEPS_PER_UPDATE, tensorboard=False, detailed_logging=True)
    tr = make(tmp_path, c)
    per_interval = {
        "episode_rewards": B,
        "sync_metrics": 1,
        "reward_components": 1,
        "reward_components_detailed": T * B,
        "skill_traces": (T // K) * B * N_AGENTS,
    }
    for u in range(200):
        drive(tr, u, u + 1)
        pending = tr.pending_rows()
        assert all(v == 0 for v in pending.values()), (u, pending)
        assert not tr.detail_rows.steps and not tr.detail_rows.decisions
        assert not tr.episode_rows.chunks
        assert all(len(h.points) <= h.cap for h in tr.progress.series.values())
    # Before an export, at most one interval's rows are held.
    tr = make(tmp_path / "b", dataclasses.replace(c, export_interval=10**9))
    drive(tr, 0, 1)
    pending = tr.pending_rows()
    for key, most in per_interval.items():
        assert pending[key] <= most, key
    assert len(list((tmp_path / "paper_data").glob("episode_rewards_step_*.csv"))) == 200


# ---------------------------------------------------------------------- resume
def test_resume_continues_counting_and_exports_like_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    a = make(full, cfg(detailed_logging=True))
    end = drive(a, 0, 6)
    a.close({"env_steps": end})

    b = make(part, cfg(detailed_logging=True))
    drive(b, 0, 3)  # checkpoint after update 3 (env step 96), mid export interval
    torch.save(b.state_dict(), tmp_path / "tracker.pt")
    drive(b, 3, 4)  # the killed job ran on past the checkpoint...
    b.tb.flush()  # ...and its events reached the disk
    del b

    state = torch.load(tmp_path / "tracker.pt", weights_only=True)
    c = make(part, cfg(detailed_logging=True), start_step=96)
    c.load_state_dict(state)
    assert c.update_stats.updates == 3 and c.episodes.completed == 4
    assert c.last_export_step == 64
    end_c = drive(c, 3, 6)
    c.close({"env_steps": end_c})

    names = sorted(p.name for p in (full / "paper_data").iterdir())
    assert names == sorted(p.name for p in (part / "paper_data").iterdir())
    for name in names:
        x, y = full / "paper_data" / name, part / "paper_data" / name
        if name.endswith(".csv"):
            fx, fy = pd.read_csv(x), pd.read_csv(y)
            keep = [col for col in fx.columns if col != "timestamp"]
            pd.testing.assert_frame_equal(fx[keep], fy[keep], obj=name)
        elif name.endswith(".json"):
            assert json.loads(x.read_text()) == json.loads(y.read_text()), name
    # TensorBoard: the resumed session purged the killed job's points after step 96.
    data = scalars(part / "tb")
    assert data["Sync/Total_Updates"] == [
        ((u + 1) * STEPS_PER_UPDATE, float(u + 1)) for u in range(6)
    ]
    assert [s for s, _ in data["Training/Episode_Reward"]] == [64, 128, 192]


# The flat layout checkpoints hold (each part of the tracker contributes its own keys): a
# renamed or colliding key would make the checkpoints of earlier runs unloadable.
STATE_KEYS = {
    "env_step", "last_export_step", "last_eval",  # tracker
    "episodes_completed", "recent_returns", "best_return",  # episode statistics
    "updates", "policy_version", "recent_eff", "recent_collect", "recent_update",
    "last_update_at", "totals",  # update statistics
    "cum_team", "cum_ind", "cum_switches", "team_recent", "team_interval", "ind_interval",
    "switch_interval",  # skill counts
    "reward_sum", "reward_n",  # reward means
    "histories",  # progress figure
    "episodes", "sync", "rewards", "step_rows", "trace_rows",  # pending export rows
}


def test_state_dict_keeps_the_checkpoint_layout(tmp_path: Path) -> None:
    tr = make(tmp_path, cfg(tensorboard=False, detailed_logging=True))
    drive(tr, 0, 1)
    state = tr.state_dict()
    assert set(state) == STATE_KEYS
    assert set(state["histories"]) == {"episode", "components", "sync", "team"}
    assert list(state["sync"]) == list(SYNC_COLUMNS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_export_like_cpu(tmp_path: Path) -> None:
    """Device accumulators: CUDA inputs give the CPU run's exports; a CPU-saved state
    resumes onto CUDA inputs."""
    runs = {}
    for device in ("cpu", "cuda"):
        run = tmp_path / device
        tr = make(run, cfg(detailed_logging=True))
        drive(tr, 0, 3, device)
        state = tr.state_dict()
        tr = make(run, cfg(detailed_logging=True), start_step=96)
        tr.load_state_dict(state)
        drive(tr, 3, 5, device)
        tr.close({})
        runs[device] = run / "paper_data"
    for path in sorted(runs["cpu"].glob("*.csv")):
        a, b = pd.read_csv(path), pd.read_csv(runs["cuda"] / path.name)
        keep = [col for col in a.columns if col != "timestamp"]
        pd.testing.assert_frame_equal(a[keep], b[keep], obj=path.name)
