"""The typed config: defaults from the paper, presets, and errors that name the key and file."""

from __future__ import annotations

import dataclasses
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
