"""PettingZoo ParallelEnv adapter over one env."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from hmasd.env.pettingzoo import parallel_env
from hmasd.errors import ConfigError


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_steps": 25},
        {"max_steps": 25, "n_uavs": 2, "scenario": "cooperative_network", "user_obs": "relative"},
        {"max_steps": 25, "n_uavs": 1, "n_users": 5, "user_mobility": "random_waypoint"},
    ],
)
def test_parallel_api_test_passes(kwargs: dict) -> None:
    env = parallel_env(seed=3, **kwargs)
    parallel_api_test(env, num_cycles=60)


def test_episode_spaces_and_truncation() -> None:
    env = parallel_env(max_steps=4, n_uavs=3, seed=1, render_mode="ansi")
    obs, infos = env.reset(seed=7)
    assert env.agents == ["uav_0", "uav_1", "uav_2"]
    space = env.observation_space("uav_0")
    assert obs["uav_1"].dtype == np.float32 and space.contains(obs["uav_1"])
    assert env.action_space("uav_2").shape == (3,)
    assert env.state().shape == env.state_space.shape
    for t in range(4):
        actions = {a: env.action_space(a).sample() for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        assert len(set(rewards.values())) == 1  # team reward
        assert not any(terms.values())
        assert all(truncs.values()) == (t == 3)
        assert "coverage" in infos["uav_0"]["metrics"]
    assert env.agents == [] and infos["uav_0"]["episode"]["length"] == 4
    assert "uav_0" in env.render()
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_reset_seed_reproduces_episode() -> None:
    env = parallel_env(max_steps=5)
    first, _ = env.reset(seed=11)
    env.reset(seed=12)
    again, _ = env.reset(seed=11)
    assert all(np.array_equal(first[a], again[a]) for a in first)


def test_bad_kwargs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="env.n_drones"):
        parallel_env(n_drones=3)
    with pytest.raises(ConfigError, match="env.n_users"):
        parallel_env(n_users=-1)
    with pytest.raises(ConfigError, match="render_mode"):
        parallel_env(render_mode="human")
