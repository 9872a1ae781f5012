"""The DAG's static checks: lint, snakefmt, schema vs the typed config, each grid's DAG."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from hmasd import config as C
from hmasd.grid import resolve_all

from .helpers import BIN, REPO, Job, copy_repo, job_env, parse_jobs, rules_of, snakemake

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("static") / "repo")


def test_snakemake_lint_is_clean(repo_copy: Path) -> None:
    """Snakemake's linter finds nothing but the per-rule conda envs this workflow declines
    (tools/lint_workflow.py, what `make lint` runs)."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "lint_workflow.py")],
        cwd=repo_copy,
        env=job_env(repo_copy),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "clean" in proc.stdout


def test_snakefmt_check_is_clean() -> None:
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _json_type(annotation: typing.Any) -> dict[str, typing.Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return {"enum": list(typing.get_args(annotation))}
    return {"type": {int: "integer", float: "number", bool: "boolean", str: "string"}[annotation]}


@pytest.mark.parametrize("section", sorted(C.SECTIONS))
def test_schema_overrides_match_the_typed_config(section: str) -> None:
    """Each override section of the schema lists exactly the dataclass fields, typed alike,
    so the schema rejects what hmasd.config rejects and accepts what it accepts."""
    schema = yaml.safe_load(SCHEMA.read_text())
    block = schema["$defs"][f"{section}_overrides"]
    assert block["additionalProperties"] is False
    cls = C.SECTIONS[section]
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    assert list(block["properties"]) == fields
    for name in fields:
        prop = {k: v for k, v in block["properties"][name].items() if k != "description"}
        assert prop == _json_type(hints[name]), name


def test_every_schema_object_is_closed() -> None:
    def walk(node: typing.Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                raise AssertionError(f"{where} has no additionalProperties")
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(yaml.safe_load(SCHEMA.read_text()), "schema")


def test_the_dag_builds_the_analysis_outputs_without_heavy_imports() -> None:
    """common.smk lists figures and datasets from analysis/outputs.py, a module that imports
    neither matplotlib nor pyarrow (building the DAG stays fast)."""
    code = ("import sys, analysis.outputs; "
            "print(any(m in sys.modules for m in ('matplotlib', 'pyarrow', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "from analysis.outputs import DATASETS, FIGURES" in text


@pytest.mark.parametrize("grid", ["config/config.yaml", "config/smoke.yaml", "config/paper.yaml"])
def test_each_grid_builds_its_dag(repo_copy: Path, grid: str) -> None:
    """A --configfile replaces config/config.yaml (no merge), and the job counts follow the
    grid: each config in its own modes x seeds, one evaluate job per run (final and best),
    baselines once per family."""
    proc = snakemake(repo_copy, "--dry-run", "--configfile", grid)
    counts = rules_of(parse_jobs(proc.stdout + proc.stderr))
    spec = yaml.safe_load((REPO / grid).read_text())
    spec.setdefault("device", "cpu")
    named = resolve_all(spec)
    seeds = len(spec["seeds"])
    runs = {m: seeds * sum(m in n.modes for n in named.values()) for m in ("sync", "async")}
    assert counts == {
        "resolve_config": len(named),
        "train_sync": runs["sync"],
        "train_async": runs["async"],
        "evaluate": runs["sync"] + runs["async"],
        "baseline": 3 * len({n.family for n in named.values()}),
        "consolidate": 1,
        "figures": 1,
        "tables": 1,
        "all": 1,
    }


def test_default_grid_holds_the_study_and_its_controls() -> None:
    """Both scenarios in both modes, and on base_station the flat-MAPPO control; the paper
    grid adds two more async staleness levels."""
    spec = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    named = resolve_all(spec)
    modes = {c: set(n.modes) for c, n in named.items()}
    assert modes["base_station"] == modes["cooperative_network"] == {"sync", "async"}
    assert modes["base_station_flat"] == {"sync"}
    assert named["base_station_flat"].overrides["agent"]["n_team_skills"] == 1
    paper = resolve_all(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    groups = {n.overrides.get("train", {}).get("async_groups") for n in paper.values()}
    assert {2, 8} <= groups
    assert {n.family for n in named.values()} == {"base_station", "cooperative_network"}


def test_default_grid_is_at_least_two_configs_two_modes_five_seeds() -> None:
    grid = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert len(grid["configs"]) >= 2
    assert set(grid["modes"]) == {"sync", "async"}
    assert len(grid["seeds"]) >= 5
    assert grid["baselines"]["policies"] == ["random", "hover", "kmeans"]


def test_job_parser_reads_rule_and_wildcards() -> None:
    text = "rule train_sync:\n    input: a\n    wildcards: config=smoke, seed=2\n\nrule all:\n"
    assert parse_jobs(text) == [Job("train_sync", {"config": "smoke", "seed": "2"}), Job("all", {})]
