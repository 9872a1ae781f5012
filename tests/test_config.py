"""The typed config: defaults from the paper, presets, and errors that name the key and file."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import pytest

from hmasd import config as C
from hmasd.errors import ConfigError


def test_defaults_match_paper_and_original() -> None:
    cfg = C.Config()
    a, t = cfg.agent, cfg.train
    assert (a.n_team_skills, a.n_ind_skills, a.skill_interval, a.hidden_dim) == (3, 3, 10, 64)
    assert (a.lr, a.adam_eps, a.clip_coef, a.ppo_epochs) == (1e-4, 1e-5, 0.2, 15)
    lambdas = (a.lambda_e, a.lambda_D, a.lambda_d, a.lambda_h, a.lambda_l)
    assert lambdas == (1, 0.1, 0.5, 0.001, 0.01)
    assert (a.max_grad_norm, a.gamma, a.gae_lambda, a.huber_delta) == (0.5, 0.99, 0.95, 10.0)
    # 32 envs (the paper's rollout threads) x 30 steps: the batch nearest the original's
    # 1024 whose rollouts hold whole k = 10 windows.
    assert (t.num_envs, t.batch_size) == (32, 960)
    assert C.derived(cfg).rollout_len == 30
    assert (cfg.env.n_uavs, cfg.env.n_users, cfg.env.max_users_per_uav, cfg.env.max_hops) == (
        5,
        50,
        10,
        3,
    )


def test_round_trip_through_dict_and_yaml(tmp_path: Path) -> None:
    cfg = C.load("cooperative_network", {"train": {"num_envs": 8, "batch_size": 80}})
    assert cfg.env.scenario == "cooperative_network"
    assert C.from_dict(C.to_dict(cfg)) == cfg
    path = tmp_path / "run.yaml"
    C.dump(cfg, path)
    assert C.load(path) == cfg
    assert not list(tmp_path.glob(".*tmp"))


def test_int_accepted_for_float_and_kept_float() -> None:
    cfg = C.from_dict({"agent": {"lr": 1}})
    assert isinstance(cfg.agent.lr, float)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"env": {"n_users": -3}}, "env.n_users"),
        ({"env": {"channel_model": "ray_tracing"}}, "env.channel_model"),
        ({"env": {"scenario": "mesh"}}, "'base_station', 'cooperative_network'"),
        ({"agent": {"ppo_epochs": 1.5}}, "agent.ppo_epochs"),
        ({"agent": {"value_norm": "yes"}}, "agent.value_norm"),
        ({"train": {"batch_size": 1000}}, "train.batch_size"),
        ({"train": {"learning_rate": 1}}, "unknown key 'train.learning_rate'"),
        ({"trainer": {}}, "unknown section 'trainer'"),
        ({"train": {"device": "tpu"}}, "train.device"),
        ({"agent": {"gamma": 1.5}}, "agent.gamma"),
    ],
)
def test_bad_values_name_the_key(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        C.from_dict(data)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(ConfigError, match="unknown config 'nope'.*default"):
        C.load("nope")


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text("env:\n  n_uavs: 5\n  colour: red\n")
    with pytest.raises(ConfigError, match=r"bad_key\.yaml: unknown key 'env\.colour'"):
        C.load(bad_key)
    broken = tmp_path / "broken.yaml"
    broken.write_text("env: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML at line"):
        C.load(broken)
    with pytest.raises(ConfigError, match="missing.yaml: file not found"):
        C.load(tmp_path / "missing.yaml")


def test_every_field_is_documented() -> None:
    """Each field has a docstring right after it (CleanRL style): the YAML keys are explained."""
    import inspect

    for cls in C.SECTIONS.values():
        source = inspect.getsource(cls)
        for f in dataclasses.fields(cls):
            after = source.split(f"    {f.name}:", 1)[1].splitlines()[1].strip()
            assert after.startswith('"""'), f"{cls.__name__}.{f.name} has no docstring"


def test_merge_is_deep() -> None:
    merged = C.merge({"env": {"n_uavs": 3, "n_users": 9}}, {"env": {"n_users": 20}, "agent": {}})
    assert merged == {"env": {"n_uavs": 3, "n_users": 20}, "agent": {}}


def test_presets_all_load() -> None:
    for name in C.preset_names():
        C.load(name)


def test_scientific_notation_without_dot_is_a_float(tmp_path: Path) -> None:
    path = tmp_path / "sci.yaml"
    path.write_text("agent:\n  lr: 1e-4\n  adam_eps: 3E-5\n")
    cfg = C.load(path)
    assert cfg.agent.lr == 1e-4 and cfg.agent.adam_eps == 3e-5


# ------------------------------------------------------------------------- value checks


def _float_keys() -> list[str]:
    keys = []
    for section, cls in C.SECTIONS.items():
        hints = typing.get_type_hints(cls)
        keys += [f"{section}.{f.name}" for f in dataclasses.fields(cls) if hints[f.name] is float]
    return keys


def _override(key: str, value: object) -> dict:
    section, name = key.split(".")
    return {section: {name: value}}


@pytest.mark.parametrize("key", _float_keys())
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_float_must_be_finite(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as err:
        C.from_dict(_override(key, value))
    assert str(err.value) == f"'{key}' must be finite, got {value!r}"


def test_nan_in_a_yaml_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "nan.yaml"
    path.write_text("agent: {lr: .nan}\n")
    with pytest.raises(ConfigError) as err:
        C.load(path)
    assert str(err.value) == f"{path}: 'agent.lr' must be finite, got nan"


def test_every_ranged_key_is_a_field() -> None:
    fields = {f"{s}.{f.name}" for s, cls in C.SECTIONS.items() for f in dataclasses.fields(cls)}
    assert set(C.RANGES) <= fields


def _outside(r: C.Range) -> list[float]:
    """Values just outside ``r``: at an open bound, and a step beyond each bound."""
    out = []
    if r.low is not None:
        out += [r.low - 1] + ([r.low] if r.low_open else [])
    if r.high is not None:
        out += [r.high + 0.5] + ([r.high] if r.high_open else [])
    return out


def _inside_edges(r: C.Range) -> list[float]:
    return [b for b, is_open in ((r.low, r.low_open), (r.high, r.high_open)) if b is not None
            and not is_open]


@pytest.mark.parametrize("key", sorted(C.RANGES))
def test_each_range_rejects_outside_and_accepts_its_closed_bounds(key: str) -> None:
    allowed = C.RANGES[key]
    is_int = typing.get_type_hints(C.SECTIONS[key.split(".")[0]])[key.split(".")[1]] is int
    for value in _outside(allowed):
        if is_int and not float(value).is_integer():
            continue
        value = int(value) if is_int else float(value)
        with pytest.raises(ConfigError) as err:
            C.from_dict(_override(key, value))
        assert str(err.value) == f"'{key}' must be {allowed}, got {value!r}"
    for value in _inside_edges(allowed):
        C.from_dict(_override(key, int(value) if is_int else float(value)))


@pytest.mark.parametrize(
    ("r", "text"),
    [
        (C.POSITIVE, "> 0"),
        (C.NON_NEGATIVE, ">= 0"),
        (C.UNIT, "in [0, 1]"),
        (C.Range(0, 1, low_open=True), "in (0, 1]"),
        (C.Range(high=5, high_open=True), "< 5"),
    ],
)
def test_range_reads_as_maths(r: C.Range, text: str) -> None:
    assert str(r) == text


def test_ranges_from_the_field_docs() -> None:
    """Spot checks of what the docstrings imply: a discount of 1 and a GAE lambda of 0 are
    valid, a zero learning rate or clip range is not, dBm levels may be negative."""
    C.from_dict({"agent": {"gamma": 1.0, "gae_lambda": 0.0, "lambda_e": 0.0}})
    C.from_dict({"env": {"tx_power_dbm": -10.0, "noise_dbm": -120.0, "w_hops": 0.0}})
    C.from_dict({"train": {"torch_threads": 0}, "agent": {"init_log_std": -3.0}})
    for key in ("agent.lr", "agent.clip_coef", "agent.adam_eps", "agent.max_grad_norm"):
        with pytest.raises(ConfigError, match=f"'{key}' must be > 0"):
            C.from_dict(_override(key, 0.0))


def test_budget_below_one_batch_names_both_keys() -> None:
    with pytest.raises(ConfigError) as err:
        C.from_dict({"train": {"total_env_steps": 10, "batch_size": 80, "num_envs": 4}})
    assert str(err.value) == (
        "'train.total_env_steps' (10) must be at least 'train.batch_size' (80): "
        "one update needs a whole batch"
    )


def test_budget_not_a_multiple_of_the_batch_is_a_warning() -> None:
    cfg = C.from_dict({"train": {"total_env_steps": 1000, "batch_size": 80, "num_envs": 4}})
    assert C.budget_warning(cfg) == (
        "'train.total_env_steps' (1000) is not a multiple of 'train.batch_size' (80): "
        "training runs 960 env steps (12 updates)"
    )
    assert C.derived(cfg).num_updates * 80 == 960
    assert C.budget_warning(C.load("smoke")) is None


def test_relations_run_after_the_ranges_in_order() -> None:
    """Extending the checks is appending a function to RELATIONS: each sees a range-checked
    config and returns a message or None."""
    assert all(callable(check) for check in C.RELATIONS)
    cfg = C.Config()
    assert [check(cfg) for check in C.RELATIONS] == [None] * len(C.RELATIONS)


def test_modes_are_the_mode_type() -> None:
    assert C.MODES == ("sync", "async") == typing.get_args(C.Mode)
    assert set(C.MODEL_PREFIX) == set(C.MODES)


def test_env_checks_have_one_owner() -> None:
    """The env checks its config with hmasd.config's own checks: the same message for the
    same fault whether it comes from YAML or a hand-built EnvConfig."""
    import dataclasses
    import typing

    from hmasd.config import EnvConfig, Environment, check_env
    from hmasd.env import channel

    assert set(typing.get_args(Environment)) == set(channel.AL_HOURANI_PARAMS)
    for bad in ({"n_users": 0}, {"channel_model": "3gpp_36777", "min_altitude_m": 10.0},
                {"user_obs": "sideways"}, {"w_sinr": float("inf")}):
        with pytest.raises(ConfigError) as from_yaml:
            C.from_dict({"env": bad})
        with pytest.raises(ConfigError) as by_hand:
            check_env(dataclasses.replace(EnvConfig(), **bad))
        assert str(by_hand.value) == str(from_yaml.value)
