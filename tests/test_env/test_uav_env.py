"""UAVBaseStationEnv: API contract, invariants and radio sanity."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from hmasd.config import EnvConfig
from hmasd.env import channel
from hmasd.env.uav_env import METRICS, StepResult, UAVBaseStationEnv
from hmasd.errors import CheckpointError, ConfigError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make(num_envs: int = 4, seed: int = 0, device: str = "cpu", **kw) -> UAVBaseStationEnv:
    return UAVBaseStationEnv(EnvConfig(**kw), num_envs, device=device, seed=seed)


def random_actions(env: UAVBaseStationEnv, gen: torch.Generator) -> torch.Tensor:
    shape = (env.num_envs, env.n_agents, 3)
    return (torch.rand(shape, generator=gen) * 2 - 1).to(env.device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_envs", [1, 3, 16])
@pytest.mark.parametrize("n_uavs", [1, 2, 5])
@pytest.mark.parametrize("user_obs", ["density_map", "relative"])
def test_shapes_dtypes_device(device: str, num_envs: int, n_uavs: int, user_obs: str) -> None:
    env = make(num_envs, device=device, n_uavs=n_uavs, n_users=12, user_obs=user_obs)
    B, n = num_envs, n_uavs
    assert (env.n_agents, env.action_dim, env.num_envs) == (n, 3, B)
    users = 2 * 12 if user_obs == "relative" else 8 * 8
    assert env.obs_dim == 6 + 3 * (n - 1) + users + 1
    assert env.state_dim == 6 * n + users + 1
    obs, state = env.reset()
    assert obs.shape == (B, n, env.obs_dim) and state.shape == (B, env.state_dim)
    out = env.step(torch.zeros(B, n, 3, device=device))
    assert isinstance(out, StepResult)
    for t, shape in [
        (out.obs, (B, n, env.obs_dim)),
        (out.terminal_obs, (B, n, env.obs_dim)),
        (out.state, (B, env.state_dim)),
        (out.terminal_state, (B, env.state_dim)),
        (out.reward, (B,)),
    ]:
        assert t.shape == shape and t.dtype == torch.float32
        assert t.device.type == device
        assert bool(torch.isfinite(t).all())
    assert out.done.shape == (B,) and out.done.dtype == torch.bool
    assert set(out.metrics) == set(METRICS)
    assert set(out.episode) == set(METRICS) | {"return", "length"}
    for v in (*out.metrics.values(), *out.episode.values()):
        assert v.shape == (B,) and v.device.type == device


def test_observations_are_normalised() -> None:
    gen = torch.Generator().manual_seed(1)
    for user_obs in ("density_map", "relative"):
        env = make(8, user_obs=user_obs, uav_start="random", user_mobility="random_waypoint")
        obs, state = env.reset()
        for _ in range(30):
            out = env.step(random_actions(env, gen) * 5)
            for t in (out.obs, out.state, out.terminal_obs, out.terminal_state):
                assert float(t.min()) >= -1.0 and float(t.max()) <= 1.0


def test_reset_env_index_leaves_others_untouched() -> None:
    env = make(5, user_mobility="random_waypoint")
    gen = torch.Generator().manual_seed(0)
    for _ in range(7):
        env.step(random_actions(env, gen))
    before = {k: v.clone() for k, v in env.state_dict().items() if isinstance(v, torch.Tensor)}
    obs_before, _ = env._observe()
    obs, state = env.reset(env_index=2)
    after = env.state_dict()
    others = torch.tensor([0, 1, 3, 4])
    for key in ("uav_pos", "user_pos", "user_target", "user_anchor", "t", "ep_return"):
        assert torch.equal(before[key][others], after[key][others]), key
        assert not torch.equal(before[key][2], after[key][2]) or key == "ep_return", key
    assert torch.equal(before["ep_metrics"][:, others], after["ep_metrics"][:, others])
    assert int(after["t"][2]) == 0 and float(after["ep_return"][2]) == 0.0
    assert torch.equal(obs[others], obs_before[others])
    # A LongTensor and a bool mask also work.
    env.reset(env_index=torch.tensor([0, 4]))
    assert env.t.tolist() == [0, 7, 0, 7, 0]
    env.reset(env_index=torch.tensor([False, True, False, False, False]))
    assert env.t.tolist() == [0, 0, 0, 7, 0]


def test_actions_clipped_and_positions_bounded() -> None:
    cfg = EnvConfig()
    env = make(6)
    start = env.uav_pos.clone()
    env.step(torch.full((6, cfg.n_uavs, 3), 1e6))
    # Clipped to [-1, 1] before scaling: one max-speed step per axis.
    expect = torch.minimum(start + cfg.max_speed_mps * cfg.dt_s, env._hi)
    assert torch.allclose(env.uav_pos, expect)
    gen = torch.Generator().manual_seed(3)
    for _ in range(60):
        env.step(random_actions(env, gen) * 1e6)
        pos = env.uav_pos
        assert float(pos[..., :2].min()) >= 0.0 and float(pos[..., :2].max()) <= cfg.area_size_m
        assert float(pos[..., 2].min()) >= cfg.min_altitude_m
        assert float(pos[..., 2].max()) <= cfg.max_altitude_m


def test_wrong_action_shape_is_an_error() -> None:
    env = make(2)
    with pytest.raises(ValueError, match="actions must have shape"):
        env.step(torch.zeros(env.n_agents, 3))


@pytest.mark.parametrize("scenario", ["base_station", "cooperative_network"])
def test_reward_bounded_and_metric_ranges(scenario: str) -> None:
    cfg = EnvConfig(scenario=scenario)
    env = UAVBaseStationEnv(cfg, 8, seed=4)
    gen = torch.Generator().manual_seed(4)
    hi = cfg.w_coverage + cfg.w_sinr + cfg.w_throughput
    lo = 0.0
    if scenario == "cooperative_network":
        hi += cfg.w_connectivity
        lo -= cfg.w_hops
    for _ in range(40):
        out = env.step(random_actions(env, gen))
        assert float(out.reward.min()) >= lo - 1e-6 and float(out.reward.max()) <= hi + 1e-6
        m = out.metrics
        assert bool((m["coverage"] >= 0).all() and (m["coverage"] <= 1).all())
        assert bool((m["fairness"] >= 0).all() and (m["fairness"] <= 1 + 1e-5).all())
        assert bool((m["connected_users"] <= cfg.n_users).all())
        assert bool((m["connected_users"] <= cfg.n_uavs * cfg.max_users_per_uav).all())
        assert torch.allclose(m["coverage"], m["connected_users"] / cfg.n_users)
        assert bool((m["throughput_mbps"] >= 0).all())
        assert bool((m["connectivity_ratio"] >= 0).all() and (m["connectivity_ratio"] <= 1).all())
        assert bool((m["mean_hops"] <= cfg.max_hops).all())
        if scenario == "base_station":
            assert bool((m["connectivity_ratio"] == 1).all() and (m["mean_hops"] == 1).all())


def run(env: UAVBaseStationEnv, steps: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    trace = []
    for _ in range(steps):
        out = env.step(random_actions(env, gen))
        trace += [out.obs.clone(), out.state.clone(), out.reward.clone(), out.done.clone()]
    return trace


def test_determinism_same_seed_same_trajectory() -> None:
    kw = dict(max_steps=15, user_mobility="random_waypoint", uav_start="random")
    a = run(make(3, seed=11, **kw), 40, seed=5)
    b = run(make(3, seed=11, **kw), 40, seed=5)
    c = run(make(3, seed=12, **kw), 40, seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("mobility", ["static", "random_waypoint"])
def test_state_dict_round_trip_continues_identically(mobility: str) -> None:
    kw = dict(max_steps=10, user_mobility=mobility, scenario="cooperative_network")
    env = make(3, seed=1, **kw)
    run(env, 13, seed=2)
    sd = env.state_dict()
    rest = run(env, 25, seed=3)  # crosses two episode resets (generator in use)
    other = make(3, seed=99, **kw)
    other.load_state_dict(sd)
    again = run(other, 25, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(rest, again, strict=True))


def test_load_state_dict_rejects_other_shapes() -> None:
    sd = make(3).state_dict()
    with pytest.raises(CheckpointError, match="num_envs"):
        make(4).load_state_dict(sd)
    with pytest.raises(CheckpointError, match="n_uavs"):
        make(3, n_uavs=2).load_state_dict(sd)


def test_episode_ends_at_max_steps_with_means_and_auto_reset() -> None:
    env = make(2, max_steps=6, seed=3)
    gen = torch.Generator().manual_seed(0)
    rewards, steps = [], []
    for t in range(6):
        out = env.step(random_actions(env, gen))
        rewards.append(out.reward)
        steps.append(out.metrics)
        assert bool(out.done.all()) == (t == 5)
        if t < 5:
            assert torch.equal(out.obs, out.terminal_obs)
    assert torch.equal(out.episode["length"], torch.tensor([6, 6]))
    assert torch.allclose(out.episode["return"], torch.stack(rewards).sum(0))
    for name in METRICS:
        mean = torch.stack([m[name] for m in steps]).mean(0)
        assert torch.allclose(out.episode[name], mean, rtol=1e-5, atol=1e-5), name
    # Pre-reset observation ends at step fraction 1; the new episode starts at 0.
    assert torch.all(out.terminal_obs[..., -1] == 1.0) and torch.all(out.obs[..., -1] == 0.0)
    assert not torch.equal(out.obs, out.terminal_obs)
    assert env.t.tolist() == [0, 0]
    out = env.step(torch.zeros(2, env.n_agents, 3))
    assert not bool(out.done.any()) and float(out.episode["length"][0]) == 1


@pytest.mark.parametrize("scenario", ["base_station", "cooperative_network"])
@pytest.mark.parametrize("model", ["free_space", "3gpp_36777", "al_hourani"])
@pytest.mark.parametrize("layout", ["uniform", "clustered", "hotspot"])
@pytest.mark.parametrize("mobility", ["static", "random_waypoint"])
def test_all_configurations_run(scenario: str, model: str, layout: str, mobility: str) -> None:
    env = make(
        3, scenario=scenario, channel_model=model, user_layout=layout, user_mobility=mobility,
        max_steps=5, n_users=20,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        out = env.step(random_actions(env, gen))
        for t in (out.obs, out.state, out.reward, *out.metrics.values()):
            assert bool(torch.isfinite(t).all())
    assert bool(out.done.all()) is False  # step 6 is the first of episode 2


def test_users_move_at_configured_speed_and_stay_in_area() -> None:
    env = make(4, user_mobility="random_waypoint", user_speed_mps=2.0, user_layout="uniform")
    before = env.user_pos.clone()
    env.step(torch.zeros(4, env.n_agents, 3))
    moved = (env.user_pos - before).norm(dim=-1)
    assert float(moved.max()) <= 2.0 + 1e-4 and float(moved.mean()) > 1.9
    for _ in range(50):
        env.step(torch.zeros(4, env.n_agents, 3))
    assert float(env.user_pos.min()) >= 0 and float(env.user_pos.max()) <= 1000.0
    static = make(2)
    before = static.user_pos.clone()
    static.step(torch.zeros(2, static.n_agents, 3))
    assert torch.equal(before, static.user_pos)


def test_layouts_differ_in_spread() -> None:
    """Clustered users sit closer to their cluster than uniform users to anything."""
    spread = {}
    for layout in ("uniform", "clustered", "hotspot"):
        env = make(64, user_layout=layout)
        users = env.user_pos
        d = (users[:, :, None] - users[:, None]).norm(dim=-1)
        d = d + torch.eye(users.shape[1]) * 1e9
        spread[layout] = float(d.min(-1).values.mean())  # mean nearest-neighbour distance
    assert spread["clustered"] < spread["uniform"] and spread["hotspot"] < spread["uniform"]


def test_uav_start_center_and_random() -> None:
    cfg = EnvConfig()
    env = make(32)
    off = (env.uav_pos[..., :2] - cfg.area_size_m / 2).abs()
    assert float(off.max()) <= cfg.start_spread_m
    assert bool((env.uav_pos[..., 2] == cfg.min_altitude_m).all())
    env = make(32, uav_start="random")
    assert float((env.uav_pos[..., :2] - cfg.area_size_m / 2).abs().max()) > 300


def test_density_map_counts_users() -> None:
    env = make(2, n_users=10, density_map_size=4)
    users = torch.zeros(2, 10, 2)
    users[0] = torch.tensor([10.0, 10.0])  # all in cell (0, 0)
    users[1, :5] = torch.tensor([990.0, 10.0])  # cell x=3, y=0
    users[1, 5:] = torch.tensor([10.0, 990.0])  # cell x=0, y=3
    _, state = env.set_positions(user_pos=users)
    dens = state[:, 6 * env.n_agents : 6 * env.n_agents + 16]
    assert dens[0, 0] == 1.0 and float(dens[0, 1:].sum()) == 0.0
    half = math.log1p(5) / math.log1p(10)
    assert dens[1, 3] == pytest.approx(half) and dens[1, 12] == pytest.approx(half)
    assert float(dens[1].sum()) == pytest.approx(2 * half)


# ----------------------------------------------------------------------------------------
# Radio sanity


def place(env: UAVBaseStationEnv, uavs: list[list[float]], users: list[list[float]]) -> StepResult:
    env.set_positions(
        uav_pos=torch.tensor([uavs], dtype=torch.float32),
        user_pos=torch.tensor([users], dtype=torch.float32),
    )
    return env.step(torch.zeros(1, env.n_agents, 3))


@pytest.mark.parametrize("model", ["free_space", "3gpp_36777", "al_hourani"])
def test_uav_right_above_isolated_user_serves_it(model: str) -> None:
    env = make(1, n_uavs=2, n_users=1, channel_model=model)
    out = place(env, [[200.0, 200.0, 60.0], [950.0, 950.0, 150.0]], [[200.0, 200.0]])
    assert float(out.metrics["connected_users"][0]) == 1.0
    assert float(out.metrics["coverage"][0]) == 1.0
    assert float(out.metrics["mean_sinr_db"][0]) > 20.0
    assert float(out.metrics["fairness"][0]) == pytest.approx(1.0)
    # Co-located UAVs: the interferer is as strong as the server, SINR <= 0 dB: not served
    # at a threshold of 3 dB.
    env = make(1, n_uavs=2, n_users=1, channel_model=model, sinr_threshold_db=3.0)
    out = place(env, [[200.0, 200.0, 60.0], [200.0, 200.0, 60.0]], [[200.0, 200.0]])
    assert float(out.metrics["connected_users"][0]) == 0.0
    assert float(out.metrics["throughput_mbps"][0]) == 0.0
    assert float(out.metrics["mean_sinr_db"][0]) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("model", ["free_space", "3gpp_36777", "al_hourani"])
def test_env_sinr_and_rate_match_channel_functions(model: str) -> None:
    """One UAV, no interference: SINR = P_tx - PL(channel.path_loss_db) - noise, and the
    throughput is sum over served users of (B / n_served) log2(1 + SINR)."""
    cfg = EnvConfig(n_uavs=1, n_users=4, channel_model=model, environment="dense_urban")
    env = UAVBaseStationEnv(cfg, 1)
    users = [[500.0, 500.0], [560.0, 500.0], [500.0, 700.0], [800.0, 900.0]]
    out = place(env, [[500.0, 500.0, 90.0]], users)
    snr_db = []
    for x, y in users:
        r = math.hypot(x - 500.0, y - 500.0)
        pl = channel.path_loss_db(model, r, 90.0, cfg.carrier_hz, cfg.environment)
        snr_db.append(cfg.tx_power_dbm - pl - cfg.noise_dbm)
    served = [s for s in snr_db if s >= cfg.sinr_threshold_db]
    assert float(out.metrics["connected_users"][0]) == len(served) >= 2
    assert float(out.metrics["mean_sinr_db"][0]) == pytest.approx(
        sum(served) / len(served), abs=1e-3
    )
    bw = cfg.bandwidth_hz / 1e6 / len(served)
    tp = sum(bw * math.log2(1 + 10 ** (s / 10)) for s in served)
    assert float(out.metrics["throughput_mbps"][0]) == pytest.approx(tp, rel=1e-4)


def test_max_users_per_uav_keeps_strongest_links() -> None:
    cfg = EnvConfig(n_uavs=1, n_users=8, max_users_per_uav=3, channel_model="free_space")
    env = UAVBaseStationEnv(cfg, 1)
    # Users at increasing distance: the three nearest are the strongest.
    users = [[500.0 + 20.0 * i, 500.0] for i in range(8)]
    out = place(env, [[500.0, 500.0, 50.0]], users)
    assert float(out.metrics["connected_users"][0]) == 3.0
    snr = [
        cfg.tx_power_dbm - channel.fspl_db(math.hypot(20.0 * i, 50.0), cfg.carrier_hz)
        - cfg.noise_dbm
        for i in range(3)
    ]  # fmt: skip
    assert float(out.metrics["mean_sinr_db"][0]) == pytest.approx(sum(snr) / 3, abs=1e-3)


@pytest.mark.parametrize("num_envs", [1, 7])
@pytest.mark.parametrize("n_uavs", [2, 4])
def test_max_users_per_uav_respected_in_crowds(num_envs: int, n_uavs: int) -> None:
    most = {}
    for cap in (4, 60):
        env = make(num_envs, n_uavs=n_uavs, n_users=60, max_users_per_uav=cap,
                   user_layout="hotspot", sinr_threshold_db=-20.0, seed=2)  # fmt: skip
        gen = torch.Generator().manual_seed(0)
        most[cap] = 0.0
        for _ in range(10):
            out = env.step(random_actions(env, gen))
            per_uav = env.radio.served.sum(-1)  # (B, n): users each UAV served this step
            most[cap] = max(most[cap], float(per_uav.max()))
            assert bool((out.metrics["connected_users"] <= cap * n_uavs).all())
    assert most[4] == 4.0 and most[60] > 4.0  # the cap binds, and only because of the cap


def coop(**kw) -> UAVBaseStationEnv:
    return make(1, scenario="cooperative_network", n_uavs=4, n_users=4, backhaul_range_m=200.0,
                channel_model="free_space", **kw)  # fmt: skip


CHAIN = [[650.0, 500.0, 100.0], [800.0, 500.0, 100.0], [950.0, 500.0, 100.0],
         [100.0, 100.0, 100.0]]  # fmt: skip
UNDER = [[x, y] for x, y, _ in CHAIN]  # one user under each UAV


def test_cooperative_hops_and_disconnected_uav() -> None:
    """Chain BS(500,500,25) - 650 - 800 - 950: hops 1, 2, 3; the UAV at (100,100) is out of
    range of everything, so it is disconnected and its user is not served."""
    env = coop()
    out = place(env, CHAIN, UNDER)
    hops, linked = env.radio.hops(env.uav_pos)
    assert hops[0, :3].tolist() == [1.0, 2.0, 3.0] and linked[0].tolist() == [1, 1, 1, 0]
    assert float(out.metrics["connectivity_ratio"][0]) == 0.75
    assert float(out.metrics["mean_hops"][0]) == pytest.approx(2.0)
    assert float(out.metrics["connected_users"][0]) == 3.0
    # The same geometry in base_station serves all four users.
    env = make(1, n_uavs=4, n_users=4, channel_model="free_space")
    assert float(place(env, CHAIN, UNDER).metrics["connected_users"][0]) == 4.0


@pytest.mark.parametrize("max_hops", [1, 2, 3])
def test_cooperative_hops_never_exceed_max_hops(max_hops: int) -> None:
    env = coop(max_hops=max_hops)
    out = place(env, CHAIN, UNDER)
    hops, linked = env.radio.hops(env.uav_pos)
    assert bool((hops[linked.bool()] <= max_hops).all())
    assert float(out.metrics["connectivity_ratio"][0]) == max_hops / 4
    assert float(out.metrics["connected_users"][0]) == max_hops
    gen = torch.Generator().manual_seed(0)
    env = make(16, scenario="cooperative_network", max_hops=max_hops, uav_start="random",
               backhaul_range_m=300.0)  # fmt: skip
    for _ in range(5):
        out = env.step(random_actions(env, gen))
        assert bool((out.metrics["mean_hops"] <= max_hops).all())


def test_backhaul_caps_throughput_per_hop() -> None:
    """Each UAV delivers at most backhaul_rate / hops (half-duplex relaying)."""
    env = coop(backhaul_rate_mbps=1.0)
    out = place(env, CHAIN, UNDER)
    assert float(out.metrics["throughput_mbps"][0]) == pytest.approx(1.0 + 1 / 2 + 1 / 3, rel=1e-5)
    free = coop(backhaul_rate_mbps=1e6)
    assert float(place(free, CHAIN, UNDER).metrics["throughput_mbps"][0]) > 50  # uncapped


def test_constructor_rejects_what_config_cannot_check() -> None:
    with pytest.raises(ConfigError, match="channel_model"):
        UAVBaseStationEnv(EnvConfig(channel_model="two_ray"), 2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_users"):
        UAVBaseStationEnv(EnvConfig(n_users=-3), 2)
    with pytest.raises(ConfigError, match="3gpp_36777"):
        UAVBaseStationEnv(EnvConfig(channel_model="3gpp_36777", min_altitude_m=10.0), 2)
    with pytest.raises(ConfigError, match="num_envs"):
        UAVBaseStationEnv(EnvConfig(), 0)
    with pytest.raises(ConfigError, match="start_spread_m"):
        UAVBaseStationEnv(dataclasses.replace(EnvConfig(), start_spread_m=-1.0), 2)


def test_own_generator_isolated_from_global_rng() -> None:
    torch.manual_seed(0)
    a = make(2, seed=5)
    torch.manual_seed(123)
    torch.rand(100)
    b = make(2, seed=5)
    assert torch.equal(a.user_pos, b.user_pos) and torch.equal(a.uav_pos, b.uav_pos)


def test_observations_carry_the_velocity_flown() -> None:
    env = make(2, n_uavs=2, n_users=12)
    obs, state = env.reset()
    assert float(obs[..., 3:6].abs().max()) == 0.0  # at rest at an episode start
    act = torch.zeros(2, 2, 3)
    act[..., 0] = 0.5
    act[:, 1, 1] = -2.0  # clipped to -1
    out = env.step(act)
    vel = torch.tensor([[0.5, 0.0, 0.0], [0.5, -1.0, 0.0]])
    torch.testing.assert_close(out.obs[..., 3:6], vel.expand(2, 2, 3))
    torch.testing.assert_close(out.state[:, 6:12], vel.reshape(1, 6).expand(2, 6))
    # A wall stops the UAV: the observed velocity is what it flew, not what it asked.
    env.set_positions(uav_pos=torch.tensor([[[5.0, 500.0, 100.0]] * 2] * 2))
    act = torch.zeros(2, 2, 3)
    act[..., 0] = -1.0
    out = env.step(act)
    expected = -5.0 / (env.cfg.max_speed_mps * env.cfg.dt_s)
    torch.testing.assert_close(out.obs[..., 3], torch.full((2, 2), expected))
