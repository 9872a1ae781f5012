"""The parts of :mod:`hmasd.tracking`, each alone: skill counts, row buffers and writers,
reward means, update and episode statistics. ``test_tracking.py`` drives them together
through the Tracker."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hmasd.tracking import tags
from hmasd.tracking.episodes import EpisodeStats, host_columns
from hmasd.tracking.exports import DetailedRows, Rows, jsonable, write_csv
from hmasd.tracking.rewards import RewardMeans
from hmasd.tracking.skills import SkillCounts, usage
from hmasd.tracking.updates import UpdateRecord, UpdateStats

N_AGENTS, N_TEAM, N_IND = 2, 3, 4


# ---------------------------------------------------------------------- skills
def decide(sc: SkillCounts, team: list[int], ind: list[list[int]], switched: list[bool]) -> None:
    sc.add(torch.tensor(team), torch.tensor(ind), torch.tensor(switched))


def test_skill_spans_reset_independently() -> None:
    sc = SkillCounts(N_AGENTS, N_TEAM, N_IND)
    decide(sc, [0, 2], [[1, 1], [3, 1]], [True, False])
    assert sc.take_recent() == [1, 0, 1]
    assert sc.take_recent() == [0, 0, 0]  # taken: the update span restarts
    decide(sc, [2], [[0, 1]], [True])
    assert sc.switches_total() == 2
    team, ind, switches = sc.take_interval()  # the export span still holds both decisions
    assert team == [1, 0, 2] and switches == 2
    assert ind == [[1, 1, 0, 1], [0, 3, 0, 0]]  # agent 0 chose 1, 3, 0; agent 1 chose 1 thrice
    assert sc.take_recent() == [0, 0, 1]  # an export does not take the update span
    decide(sc, [1], [[2, 2]], [False])
    assert sc.take_interval()[0] == [0, 1, 0]
    assert sc.cum_team == [1, 1, 2] and sc.switches_total() == 2
    assert sc.cumulative()["team_skills"] == {"0": 1, "1": 1, "2": 2}


def test_skill_state_resumes_mid_interval() -> None:
    a = SkillCounts(N_AGENTS, N_TEAM, N_IND)
    decide(a, [0], [[1, 2]], [True])
    a.take_interval()
    decide(a, [2, 2], [[0, 0], [3, 3]], [False, True])
    b = SkillCounts(N_AGENTS, N_TEAM, N_IND)
    b.load_state_dict(a.state_dict())
    for sc in (a, b):
        decide(sc, [1], [[1, 1]], [True])
    assert b.take_recent() == a.take_recent() == [1, 1, 2]
    assert b.take_interval() == a.take_interval()
    assert b.cumulative() == a.cumulative()
    with pytest.raises(ValueError, match="skill or agent counts"):
        SkillCounts(N_AGENTS, N_TEAM + 1, N_IND).load_state_dict(a.state_dict())


def test_usage_diversities() -> None:
    u = usage([2, 2, 2], [[4, 0, 0, 0], [1, 1, 1, 1]], 3)
    assert u["diversity"] == pytest.approx(1.0)
    assert u["individual_diversity"] == pytest.approx(0.5)  # mean of 0 and 1
    assert u["individual_skills"]["agent_0"] == {"0": 4, "1": 0, "2": 0, "3": 0}


# ---------------------------------------------------------------------- row buffers, writers
def test_rows_join_chunks_in_order_and_resume() -> None:
    rows = Rows(("a", "b"))
    assert {k: len(v) for k, v in rows.data().items()} == {"a": 0, "b": 0}
    rows.append({"a": np.array([1, 2]), "b": np.array([0.5, 1.5]), "ignored": 9})
    rows.append({"a": 3, "b": 2.5})  # a scalar chunk is one row
    assert rows.n == 3
    again = Rows(("a", "b"))
    again.load_state_dict(rows.state_dict())
    for r in (rows, again):
        np.testing.assert_array_equal(r.data()["a"], [1, 2, 3])
        assert r.data()["a"].dtype.kind == "i"
    rows.clear()
    assert rows.n == 0 and not rows.chunks


def test_csv_numbers_read_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    values = np.array([1 / 3, 1e-300, 2.0**60, math.nan])
    write_csv(path, ("v", "i"), {"v": values, "i": np.array([0, 1, -2, 3])})
    lines = path.read_text().splitlines()
    assert lines[0] == "v,i" and lines[3].endswith(",-2")
    back = pd.read_csv(path, float_precision="round_trip")
    np.testing.assert_array_equal(back["v"].to_numpy(), values)  # NaN == NaN here
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_detailed_rows_number_envs_and_agents(tmp_path: Path) -> None:
    det = DetailedRows()
    det.add_step(4, torch.arange(6, dtype=torch.float64).reshape(3, 2))  # 2 envs
    det.add_step(8, torch.zeros(3, 2, dtype=torch.float64))
    det.add_decision(4, torch.tensor([1, 0]), torch.tensor([[2, 3], [0, 1]]))
    assert det.pending() == {"reward_components_detailed": 4, "skill_traces": 4}
    resumed = DetailedRows()
    resumed.load_state_dict(det.state_dict())
    resumed.write(tmp_path, 8)
    steps = pd.read_csv(tmp_path / "reward_components_detailed_step_8.csv")
    assert steps["env_step"].tolist() == [4, 4, 8, 8] and steps["env_id"].tolist() == [0, 1] * 2
    assert steps["team_disc_component"].tolist()[:2] == [2.0, 3.0]
    traces = pd.read_csv(tmp_path / "skill_traces_step_8.csv")
    assert traces[["env_id", "agent", "team_skill", "ind_skill"]].values.tolist() == [
        [0, 0, 1, 2], [0, 1, 1, 3], [1, 0, 0, 0], [1, 1, 0, 1]]


def test_jsonable_makes_strict_json() -> None:
    out = jsonable({"a": math.nan, 1: [math.inf, torch.tensor([1.5])], "p": Path("/x"),
                    "n": np.int64(3)})
    assert out == {"a": None, "1": [None, [1.5]], "p": "/x", "n": 3}


# ---------------------------------------------------------------------- reward means
def test_reward_means_are_per_transition_since_the_last_take() -> None:
    rm = RewardMeans()
    assert all(math.isnan(v) for v in rm.take())
    rm.add(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]), torch.tensor([[1.0, 3.0]] * 2))
    rm.add(torch.tensor([5.0]), torch.tensor([-3.0]), torch.tensor([[0.0, 0.0]]))
    assert rm.take() == (3.0, -1.0, pytest.approx(4 / 3))  # 3 transitions; agents averaged
    rm.add(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([[0.0, 0.0]]))
    assert rm.take()[0] == 2.0


# ---------------------------------------------------------------------- update statistics
def record(u: int, collect: float = 1.0, wall: float | None = None) -> UpdateRecord:
    return UpdateRecord(u, 100, collect, 1.0, 0.5, 0.5 * u, u, 100 * u,
                        2.0 * u if wall is None else wall)


def test_update_rolling_windows_and_totals() -> None:
    st = UpdateStats()
    for u in range(1, 13):
        out = st.add(record(u, collect=float(u)))
    assert out[tags.TOTAL_UPDATES] == 12
    assert out[tags.AVG_COLLECTION_TIME] == pytest.approx(np.mean(range(3, 13)))  # last 10
    assert out[tags.ENV_STEPS_PER_SECOND] == pytest.approx(100 / 2.0)
    s = st.summary()
    assert s["mean_collection_time_s"] == pytest.approx(6.5) and s["max_lag"] == 12
    assert s["mean_lag"] == pytest.approx(0.5 * 6.5)
    # No time elapsed: no efficiency into the rolling mean, no throughput point.
    out = st.add(UpdateRecord(13, 100, 0.0, 0.0, 0.0, 0.0, 0, 1300, 24.0))
    assert math.isnan(st.recent_eff[-1]) and out[tags.AVG_EFFICIENCY] == pytest.approx(
        np.mean([100 / (u + 1.0) for u in range(4, 13)]))
    assert tags.ENV_STEPS_PER_SECOND not in out
    assert st.summary()["mean_sync_efficiency"] == pytest.approx(
        np.mean([100 / (u + 1.0) for u in range(1, 13)]))


def test_update_stats_resume() -> None:
    a = UpdateStats()
    for u in range(1, 5):
        a.add(record(u))
    b = UpdateStats()
    b.load_state_dict(a.state_dict())
    assert b.add(record(5, collect=3.0)) == a.add(record(5, collect=3.0))
    assert b.summary() == a.summary()


# ---------------------------------------------------------------------- episodes
def test_episodes_are_numbered_over_the_run() -> None:
    st = EpisodeStats()
    assert st.add(np.arange(8.0)) == 1
    assert st.add(np.array([-1.0, 20.0, 3.0])) == 9
    assert st.completed == 11 and st.best_return == 20.0
    assert st.recent_mean() == pytest.approx(np.mean([1, 2, 3, 4, 5, 6, 7, -1, 20, 3]))


def test_host_columns_accept_numpy_and_name_what_is_missing() -> None:
    eps = {"env_id": np.array([0, 1]), "return": torch.tensor([1.0, 2.0]),
           "length": np.array([5, 5]), "env_component": np.zeros(2),
           "team_disc_component": np.zeros(2), "ind_disc_component": np.zeros(2),
           "coverage": np.array([0.5, 0.25])}
    cols = host_columns(eps)
    assert set(cols) == {*eps} and cols["coverage"].dtype == np.float64
    del eps["env_component"], eps["length"]
    with pytest.raises(KeyError, match="length, env_component"):
        host_columns(eps)
