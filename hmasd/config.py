"""All hyperparameters of a run, in one typed, frozen config loaded from YAML.

YAML keys map 1:1 onto the dataclass fields below (sections ``env``, ``agent``, ``train``,
``tracking``). Unknown keys and wrong types are errors that name the key. Derived sizes
(rollout length, number of updates, ...) come from :func:`derived`, never from YAML.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from hmasd.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "configs"

Scenario = Literal["base_station", "cooperative_network"]
ChannelModel = Literal["free_space", "3gpp_36777", "al_hourani"]
Environment = Literal["suburban", "urban", "dense_urban", "highrise_urban"]
UserLayout = Literal["uniform", "clustered", "hotspot"]
UserMobility = Literal["static", "random_waypoint"]
UavStart = Literal["center", "random"]
UserObs = Literal["relative", "density_map", "nearest", "egocentric"]
Actor = Literal["gru", "mlp"]
Mode = Literal["sync", "async"]
EvalPolicy = Literal["deterministic", "stochastic"]
AsyncCorrection = Literal["none", "decoupled"]

LAG_LEVELS = 8
"""Policy-lag levels (0 .. 7, the paper grid's 8 async groups) whose staleness statistics
each update records (``staleness/*_lag{L}``, ``sync_metrics`` columns); larger lags pool
into the last level."""

# UAV heights for which TR 36.777 Tables B-1/B-2 give the UMa-AV formulas the channel uses
# (hmasd/env/channel.py clamps to them; a config whose altitudes leave them is refused).
TR36777_MIN_HEIGHT_M = 22.5
TR36777_MAX_HEIGHT_M = 300.0

MODES: tuple[Mode, ...] = typing.get_args(Mode)
"""Training schedules, in the order tables and figures list them."""
# File-name prefix of each mode's checkpoints (the seed script's names for sync). Defined
# here, not in hmasd/training/checkpoint.py, so the DAG reads it without importing torch.
MODEL_PREFIX: dict[Mode, str] = {
    "sync": "hmasd_sync_enhanced_tracking",
    "async": "hmasd_async_tracking",
}


@dataclass(frozen=True)
class EnvConfig:
    """Multi-UAV aerial base-station environment."""

    scenario: Scenario = "base_station"
    """`base_station`: UAVs serve users directly; `cooperative_network`: UAVs relay to the BS."""
    n_uavs: int = 5
    """Number of UAVs (agents)."""
    n_users: int = 50
    """Number of ground users."""
    area_size_m: float = 1000.0
    """Side of the square service area, metres."""
    min_altitude_m: float = 50.0
    """Lowest UAV altitude, metres."""
    max_altitude_m: float = 150.0
    """Highest UAV altitude, metres."""
    max_speed_mps: float = 30.0
    """UAV speed at action magnitude 1, metres per second (per axis)."""
    dt_s: float = 1.0
    """Duration of one env step, seconds."""
    max_steps: int = 200
    """Episode length in steps (the original used 5000)."""
    uav_start: UavStart = "center"
    """UAVs start clustered near the area centre (`center`) or uniformly at random."""
    start_spread_m: float = 150.0
    """Half-width of the square around the centre in which UAVs start (`center`)."""
    user_layout: UserLayout = "clustered"
    """Ground-user placement: `uniform`, `clustered` (Gaussian clusters) or `hotspot`."""
    n_clusters: int = 4
    """Number of user clusters (`clustered`) or hotspots (`hotspot`)."""
    cluster_std_m: float = 60.0
    """Standard deviation of a user cluster, metres."""
    user_mobility: UserMobility = "static"
    """`static` users, or `random_waypoint` movement."""
    user_speed_mps: float = 1.5
    """Ground-user speed under `random_waypoint`, metres per second."""
    channel_model: ChannelModel = "al_hourani"
    """Air-to-ground path-loss model."""
    environment: Environment = "urban"
    """Propagation environment for `al_hourani`."""
    carrier_hz: float = 2.4e9
    """Carrier frequency, Hz."""
    bandwidth_hz: float = 20e6
    """Bandwidth of one UAV cell, Hz; shared equally by the users it serves."""
    tx_power_dbm: float = 20.0
    """UAV transmit power, dBm."""
    noise_dbm: float = -104.0
    """Noise power over the bandwidth, dBm."""
    sinr_threshold_db: float = 0.0
    """A user is served when its SINR is at least this, dB."""
    max_users_per_uav: int = 10
    """Most users one UAV serves (strongest links first)."""
    max_hops: int = 3
    """`cooperative_network`: most hops from a UAV to the ground base station."""
    backhaul_range_m: float = 500.0
    """`cooperative_network`: longest UAV-UAV / UAV-BS link, metres."""
    backhaul_rate_mbps: float = 100.0
    """`cooperative_network`: capacity of one backhaul link, Mbps."""
    user_obs: UserObs = "density_map"
    """How an agent sees users. Agent-centric: `nearest` (the `nearest_users` closest users
    relative to the UAV, with who serves them) or `egocentric` (user and unserved-user
    density maps centred on the UAV); both add the UAV's own served count and SINR.
    Shared views (the same for every agent): `density_map` (absolute user density map) or
    `relative` (every user's offset, in user order)."""
    density_map_size: int = 8
    """Cells per side of the user density maps (absolute and egocentric)."""
    nearest_users: int = 10
    """`nearest`: how many of the closest users each UAV observes."""
    # Team-reward weights are ~10x the normalised terms so the env reward (~10 per step)
    # dominates the intrinsic terms lambda_D log q_D + lambda_d log q_d (~ -0.7 per step at
    # chance); at weight 1 the agent spent its budget making skills discriminable.
    w_coverage: float = 10.0
    """Team-reward weight of the coverage ratio (connected / n_users)."""
    w_sinr: float = 2.0
    """Team-reward weight of normalised mean SINR of served users."""
    w_throughput: float = 5.0
    """Team-reward weight of normalised system throughput."""
    w_connectivity: float = 5.0
    """Team-reward weight of the UAV connectivity ratio (`cooperative_network` only)."""
    w_hops: float = 1.0
    """Team-reward penalty weight of normalised mean hops (`cooperative_network` only)."""


@dataclass(frozen=True)
class AgentConfig:
    """HMASD networks and PPO at both levels; paper defaults."""

    n_team_skills: int = 3
    """n_Z: number of team skills Z."""
    n_ind_skills: int = 3
    """n_z: number of individual skills z_i."""
    skill_interval: int = 10
    """k: the coordinator re-chooses skills every k env steps (the original's and the
    paper's coordination_ring value; the DAG's grid uses 25, see docs/study.md). A skill
    window is never cut by the schedule: the rollout length (train.batch_size /
    train.num_envs) and env.max_steps must be multiples of k, so every rollout and async
    turn starts at a window boundary."""
    hidden_dim: int = 64
    """Width of every hidden layer."""
    actor: Actor = "gru"
    """Skill-discoverer actor: MLP -> GRU -> MLP (`gru`) or a plain MLP (`mlp`)."""
    transformer_layers: int = 1
    """Encoder and decoder layers of the skill coordinator."""
    transformer_heads: int = 2
    """Attention heads of the skill coordinator."""
    lr: float = 1e-4
    """Adam learning rate, every network."""
    adam_eps: float = 1e-5
    """Adam epsilon."""
    clip_coef: float = 0.2
    """PPO clipping range for ratios and values."""
    ppo_epochs: int = 15
    """PPO epochs per update."""
    num_minibatches: int = 1
    """Minibatches per PPO epoch (low level splits by env so sequences stay whole)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    huber_delta: float = 10.0
    """Huber delta of the clipped value loss."""
    value_norm: bool = True
    """Normalise value targets with running statistics."""
    lambda_e: float = 1.0
    """Weight of the env (team) reward in the low-level reward."""
    lambda_D: float = 0.1
    """Weight of log q_D(Z | s') in the low-level reward."""
    lambda_d: float = 0.5
    """Weight of log q_d(z_i | o_i', Z) in the low-level reward."""
    lambda_h: float = 0.001
    """Entropy bonus of the skill coordinator."""
    lambda_l: float = 0.01
    """Entropy bonus of the skill discoverer."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip."""
    init_log_std: float = -0.5
    """Initial log standard deviation of the Gaussian action head."""


@dataclass(frozen=True)
class TrainConfig:
    """Schedule of a training run."""

    num_envs: int = 32
    """Parallel environments stepped in one batched call (the paper's 32 rollout threads)."""
    batch_size: int = 960
    """Env transitions per update: num_envs x rollout_len, exactly, in both modes. 960 = 32
    envs x 30 steps, the size closest to the original's 1024 whose rollout holds whole
    skill windows (3 of k = 10; 1024 would give 32-step rollouts and cut every fourth
    window to 2 steps)."""
    total_env_steps: int = 200_000
    """Training budget in env transitions (all envs counted); at least ``batch_size``. When
    it is not a multiple of ``batch_size``, training stops after the last whole batch
    (``hmasd train`` logs one warning naming both keys and the steps that run)."""
    async_groups: int = 4
    """async: envs are stepped in this many groups, each on its own policy snapshot; a
    group turn lasts rollout_len steps, and snapshots lag 0..G-1 versions (1: no lag)."""
    async_correction: AsyncCorrection = "none"
    """How updates treat stale samples: `none` (PPO clipped around the behaviour policy, the
    original) or `decoupled` (clipped around the learner at the update's start, the
    behaviour policy entering as a truncated importance weight; Hilton et al. 2021). Equal
    to `none` bit for bit where no sample is stale (sync)."""
    device: str = "auto"
    """`auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`."""
    deterministic: bool = True
    """Deterministic torch kernels (same config + seed on CPU -> same numbers)."""
    torch_threads: int = 0
    """torch intra-op threads; 0 leaves torch's default."""
    checkpoint_interval: int = 50_000
    """Write a periodic checkpoint every this many env steps."""
    eval_interval: int = 50_000
    """Evaluate (and keep the best checkpoint) every this many env steps."""
    eval_episodes: int = 5
    """Episodes per periodic evaluation."""
    eval_policy: EvalPolicy = "deterministic"
    """Headline policy of evaluations, which picks the best checkpoint and feeds
    `Eval/MeanReward`: `deterministic` (argmax skills, mean actions; what the baselines
    do: they act deterministically) or `stochastic` (sampled, as in training). Every
    evaluation records both."""


@dataclass(frozen=True)
class TrackingConfig:
    """TensorBoard and `paper_data/` exports."""

    export: bool = True
    """Write `paper_data/` exports."""
    export_interval: int = 20_000
    """Export every this many env steps."""
    tensorboard: bool = True
    """Write TensorBoard events under `tb/`."""
    detailed_logging: bool = False
    """Also export per-step reward components and per-agent skill traces."""
    progress_figure: bool = True
    """Render `sync_training_progress_step_N.png` at each export."""


@dataclass(frozen=True)
class Config:
    """A whole run: env, agent, schedule and tracking."""

    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


SECTIONS: dict[str, type] = {
    "env": EnvConfig,
    "agent": AgentConfig,
    "train": TrainConfig,
    "tracking": TrackingConfig,
}


@dataclass(frozen=True)
class Derived:
    """Sizes computed once from a config (never set in YAML)."""

    rollout_len: int
    """Sync: steps per env per update (batch_size / num_envs)."""
    num_updates: int
    """Updates that fit in the env-step budget."""
    group_size: int
    """async: envs per group."""


def derived(cfg: Config) -> Derived:
    t = cfg.train
    return Derived(
        rollout_len=t.batch_size // t.num_envs,
        num_updates=max(1, t.total_env_steps // t.batch_size),
        group_size=t.num_envs // t.async_groups,
    )


# --------------------------------------------------------------------------------------
# Validation


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return value in typing.get_args(annotation)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (types.UnionType, typing.Union):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    return isinstance(value, annotation)


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


def _build_section(cls: type, values: Mapping[str, Any], where: str, base: Any) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(
                f"unknown key '{where}.{key}' (allowed: {', '.join(sorted(names))})"
            )
        annotation = hints[key]
        if not _type_ok(value, annotation):
            raise ConfigError(
                f"'{where}.{key}' must be {_describe(annotation)}, got {value!r}"
            )
        if annotation is float:
            value = float(value)
        out[key] = value
    return dataclasses.replace(base, **out)


@dataclass(frozen=True)
class Range:
    """An interval of allowed values; ``None`` bounds are open to infinity."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """True: ``low`` itself is excluded (``> low``); False: ``>= low``."""
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
UNIT = Range(0, 1)

# The range of every key that has one (``section.key``). Every float must also be finite;
# keys not listed (dBm levels, reward weights, init_log_std) may take any finite value.
RANGES: dict[str, Range] = {
    "env.n_uavs": POSITIVE,
    "env.n_users": POSITIVE,
    "env.area_size_m": POSITIVE,
    "env.min_altitude_m": POSITIVE,
    "env.max_altitude_m": POSITIVE,
    "env.max_speed_mps": POSITIVE,
    "env.dt_s": POSITIVE,
    "env.max_steps": POSITIVE,
    "env.start_spread_m": NON_NEGATIVE,
    "env.n_clusters": POSITIVE,
    "env.cluster_std_m": POSITIVE,
    "env.user_speed_mps": NON_NEGATIVE,
    "env.carrier_hz": POSITIVE,
    "env.bandwidth_hz": POSITIVE,
    "env.max_users_per_uav": POSITIVE,
    "env.max_hops": POSITIVE,
    "env.backhaul_range_m": POSITIVE,
    "env.backhaul_rate_mbps": POSITIVE,
    "env.density_map_size": POSITIVE,
    "env.nearest_users": POSITIVE,
    "agent.n_team_skills": POSITIVE,
    "agent.n_ind_skills": POSITIVE,
    "agent.skill_interval": POSITIVE,
    "agent.hidden_dim": POSITIVE,
    "agent.transformer_layers": POSITIVE,
    "agent.transformer_heads": POSITIVE,
    "agent.lr": POSITIVE,
    "agent.adam_eps": POSITIVE,
    "agent.clip_coef": POSITIVE,
    "agent.ppo_epochs": POSITIVE,
    "agent.num_minibatches": POSITIVE,
    "agent.gamma": Range(0, 1, low_open=True),
    "agent.gae_lambda": UNIT,
    "agent.huber_delta": POSITIVE,
    "agent.lambda_e": NON_NEGATIVE,
    "agent.lambda_D": NON_NEGATIVE,
    "agent.lambda_d": NON_NEGATIVE,
    "agent.lambda_h": NON_NEGATIVE,
    "agent.lambda_l": NON_NEGATIVE,
    "agent.max_grad_norm": POSITIVE,
    "train.num_envs": POSITIVE,
    "train.batch_size": POSITIVE,
    "train.total_env_steps": POSITIVE,
    "train.async_groups": POSITIVE,
    "train.torch_threads": NON_NEGATIVE,
    "train.checkpoint_interval": POSITIVE,
    "train.eval_interval": POSITIVE,
    "train.eval_episodes": POSITIVE,
    "tracking.export_interval": POSITIVE,
}


def _value(cfg: Config, key: str) -> Any:
    section, _, name = key.partition(".")
    return getattr(getattr(cfg, section), name)


# Checks between keys: each takes a range-checked config and returns an error message, or
# None when the config is fine. Add one with the decorator; they run in this order.
# ENV_RELATIONS are the ones within the env section (checked for an env on its own too).
Relation = Callable[[Config], str | None]
RELATIONS: list[Relation] = []
ENV_RELATIONS: list[Relation] = []


def _relation(check: Relation) -> Relation:
    RELATIONS.append(check)
    return check


def _env_relation(check: Relation) -> Relation:
    ENV_RELATIONS.append(check)
    return _relation(check)


@_env_relation
def _altitudes(cfg: Config) -> str | None:
    e = cfg.env
    if e.min_altitude_m > e.max_altitude_m:
        return f"'env.min_altitude_m' must be in (0, env.max_altitude_m], got {e.min_altitude_m!r}"
    return None


@_env_relation
def _channel_heights(cfg: Config) -> str | None:
    e = cfg.env
    if e.channel_model == "3gpp_36777" and not (
        e.min_altitude_m >= TR36777_MIN_HEIGHT_M and e.max_altitude_m <= TR36777_MAX_HEIGHT_M
    ):
        return (
            "'env.channel_model' 3gpp_36777 (UMa-AV) covers UAV heights "
            f"{TR36777_MIN_HEIGHT_M}-{TR36777_MAX_HEIGHT_M} m; "
            f"env.min_altitude_m/max_altitude_m are {e.min_altitude_m}/{e.max_altitude_m}"
        )
    return None


@_relation
def _heads_divide_width(cfg: Config) -> str | None:
    a = cfg.agent
    if a.hidden_dim % a.transformer_heads:
        return (
            f"'agent.hidden_dim' ({a.hidden_dim}) must be divisible by "
            f"'agent.transformer_heads' ({a.transformer_heads})"
        )
    return None


@_relation
def _sync_batch_is_whole(cfg: Config) -> str | None:
    t = cfg.train
    if t.batch_size % t.num_envs:
        return (
            f"'train.batch_size' ({t.batch_size}) must be a multiple of "
            f"'train.num_envs' ({t.num_envs}) so a sync batch is exactly num_envs x rollout_len"
        )
    return None


@_relation
def _rollout_holds_whole_windows(cfg: Config) -> str | None:
    t, k = cfg.train, cfg.agent.skill_interval
    rollout = t.batch_size // t.num_envs
    if rollout % k:
        return (
            f"the rollout length 'train.batch_size' / 'train.num_envs' ({t.batch_size} / "
            f"{t.num_envs} = {rollout}) must be a multiple of 'agent.skill_interval' ({k}), "
            "or rollouts would cut skill windows"
        )
    return None


@_relation
def _episodes_hold_whole_windows(cfg: Config) -> str | None:
    e, k = cfg.env, cfg.agent.skill_interval
    if e.max_steps % k:
        return (
            f"'env.max_steps' ({e.max_steps}) must be a multiple of 'agent.skill_interval' "
            f"({k}), or episode ends would shift skill windows off the rollout boundaries"
        )
    return None


@_relation
def _budget_holds_a_batch(cfg: Config) -> str | None:
    t = cfg.train
    if t.total_env_steps < t.batch_size:
        return (
            f"'train.total_env_steps' ({t.total_env_steps}) must be at least "
            f"'train.batch_size' ({t.batch_size}): one update needs a whole batch"
        )
    return None


@_relation
def _groups_divide_envs(cfg: Config) -> str | None:
    t = cfg.train
    if t.num_envs % t.async_groups:
        return (
            f"'train.num_envs' ({t.num_envs}) must be a multiple of "
            f"'train.async_groups' ({t.async_groups})"
        )
    return None


@_relation
def _minibatches_divide_envs(cfg: Config) -> str | None:
    a, t = cfg.agent, cfg.train
    if t.num_envs % a.num_minibatches:
        return f"'agent.num_minibatches' ({a.num_minibatches}) must divide 'train.num_envs'"
    return None


@_relation
def _device_name(cfg: Config) -> str | None:
    dev = cfg.train.device
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        return f"'train.device' must be auto, cpu, cuda or cuda:N, got {dev!r}"
    return None


def _check_values(cfg: Config, sections: tuple[str, ...] = tuple(SECTIONS)) -> None:
    """Checks that types alone cannot express, first error wins: every float finite (a NaN
    learning rate would otherwise reach torch and end in a traceback), each key of
    :data:`RANGES` in its range, then the :data:`RELATIONS` between keys. ``sections``:
    only these sections' keys (and, for ``("env",)``, only :data:`ENV_RELATIONS`)."""
    for section in sections:
        hints = typing.get_type_hints(SECTIONS[section])
        for f in dataclasses.fields(SECTIONS[section]):
            value = getattr(getattr(cfg, section), f.name)
            if hints[f.name] is float and not math.isfinite(value):
                raise ConfigError(f"'{section}.{f.name}' must be finite, got {value!r}")
    for key, allowed in RANGES.items():
        if key.partition(".")[0] not in sections:
            continue
        value = _value(cfg, key)
        if value not in allowed:
            raise ConfigError(f"'{key}' must be {allowed}, got {value!r}")
    for check in RELATIONS if sections == tuple(SECTIONS) else ENV_RELATIONS:
        message = check(cfg)
        if message is not None:
            raise ConfigError(message)


def check_env(env: EnvConfig) -> None:
    """Every check of an env config on its own (a hand-built :class:`EnvConfig` skips the
    YAML loader's): field types and allowed values, finite floats, ranges, and the
    relations within the env section. :class:`~hmasd.env.uav_env.UAVBaseStationEnv` runs
    it when built; :func:`from_dict` checks the same through the whole config."""
    if not isinstance(env, EnvConfig):
        raise ConfigError(f"env config must be an EnvConfig, got {type(env).__name__}")
    hints = typing.get_type_hints(EnvConfig)
    for f in dataclasses.fields(EnvConfig):
        value = getattr(env, f.name)
        if not _type_ok(value, hints[f.name]):
            raise ConfigError(f"'env.{f.name}' must be {_describe(hints[f.name])}, got {value!r}")
    _check_values(Config(env=env), ("env",))


def budget_warning(cfg: Config) -> str | None:
    """One line when ``train.total_env_steps`` is not a multiple of ``train.batch_size``
    (training stops after the last whole batch), else None. A warning, not an error: the
    defaults (200,000 steps of 960) are such a budget, and stopping a little short of a
    round number is what a researcher asking for one expects."""
    t = cfg.train
    if t.total_env_steps % t.batch_size == 0:
        return None
    d = derived(cfg)
    return (
        f"'train.total_env_steps' ({t.total_env_steps}) is not a multiple of "
        f"'train.batch_size' ({t.batch_size}): training runs "
        f"{d.num_updates * t.batch_size} env steps ({d.num_updates} updates)"
    )


def from_dict(data: Mapping[str, Any] | None, base: Config | None = None) -> Config:
    """Build a validated :class:`Config` from nested overrides of ``base`` (defaults)."""
    cfg = base or Config()
    data = data or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise ConfigError(
                f"unknown section '{name}' (allowed: {', '.join(SECTIONS)})"
            )
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(f"section '{name}' must be a mapping, got {values!r}")
        sections[name] = _build_section(SECTIONS[name], values, name, getattr(cfg, name))
    cfg = dataclasses.replace(cfg, **sections)
    _check_values(cfg)
    return cfg


def env_from_dict(values: Mapping[str, Any]) -> EnvConfig:
    """An :class:`EnvConfig` from ``env`` keys alone (the env on its own, e.g. PettingZoo):
    unknown keys and wrong types are errors; the env checks ranges when it is built. The
    rules that tie the env to a training schedule (max_steps vs the skill interval) are
    the trainer's, checked by :func:`from_dict` on a whole config."""
    return _build_section(EnvConfig, values, "env", EnvConfig())


def to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """Plain nested dict of a config (round-trips through :func:`from_dict`)."""
    return dataclasses.asdict(cfg)


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two nested override dicts; ``overrides`` wins."""
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in base.items()}
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; researchers write it everywhere."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text, reading ``1e-4`` as a float."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None


def load(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> Config:
    """Load a preset by name (``hmasd/configs/NAME.yaml``) or a YAML file by path.

    Errors name the file and the offending key.
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.exists()):
        if text not in preset_names():
            raise ConfigError(
                f"unknown config '{text}' (presets: {', '.join(preset_names())}; "
                "or give a path to a .yaml file)"
            )
        path = PRESET_DIR / f"{text}.yaml"
    data = read_yaml(path)
    try:
        cfg = from_dict(data)
        if overrides:
            cfg = from_dict(overrides, base=cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def dump(cfg: Config, path: Path) -> None:
    """Write a config as YAML, atomically."""
    from hmasd.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
