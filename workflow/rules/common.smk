import shlex
import sys
import json
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from analysis.outputs import DATASETS, FIGURES
from hmasd import codehash
from hmasd.config import MODEL_PREFIX, MODES, PRESET_DIR
from hmasd.errors import CodeHashError, ConfigError
from hmasd.grid import resolve_all

# --------------------------------------------------------------------------------------
# Config validation: first, before anything reads the config.


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def _one_line_error(exc) -> str:
    """One readable line naming the offending key of a jsonschema ValidationError."""
    where = _key_path(exc.absolute_path)
    if exc.validator == "additionalProperties":
        allowed = sorted(exc.schema.get("properties", {}))
        extra = sorted(set(exc.instance) - set(allowed))
        keys = ", ".join(_key_path([*exc.absolute_path, k]) for k in extra)
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown config key '{keys}'{hint}"
    if exc.validator == "propertyNames":
        return f"invalid name under '{where}': {exc.message}"
    return f"config key '{where}': {exc.message}"


def _grid_files() -> str:
    """The config file(s) the grid came from, for error messages."""
    files = workflow.config_settings.configfiles or workflow.configfiles
    return ", ".join(str(f) for f in files)


def validate_config(cfg: dict) -> dict:
    """Schema check (fills defaults), then every named config resolved and loaded through
    hmasd.grid / hmasd.config, so range errors (e.g. a rollout that would cut skill windows)
    and bad bases stop the DAG up front. Returns the resolved named configs."""
    try:
        # validate() resolves the schema path relative to this file.
        validate(cfg, schema="../schemas/config.schema.yaml")
    except WorkflowError as err:
        # validate() raises inside `except ValidationError`, so that error is the context.
        cause = err.__context__
        if not hasattr(cause, "validator"):
            raise
        raise WorkflowError(
            f"invalid config ({_grid_files()}): {_one_line_error(cause)}"
        ) from None
    try:
        return resolve_all(cfg)
    except ConfigError as exc:
        raise WorkflowError(f"invalid config ({_grid_files()}) {exc}") from None


# A --configfile that names `configs` is a whole grid (config/smoke.yaml,
# config/paper.yaml): it replaces config/config.yaml instead of being deep-merged into it,
# which would add config.yaml's named configs and seeds to the smoke grid. One without
# `configs` is an overlay on config/config.yaml (config/seeds5-9.yaml: another seed set).
# --config KEY=VALUE still edits on top.
_GIVEN = json.loads(json.dumps(workflow.config_settings.overwrite_config or {}))
if workflow.config_settings.configfiles and "configs" in _GIVEN:
    config.clear()
    config.update(_GIVEN)

NAMED = validate_config(config)


# --------------------------------------------------------------------------------------
# Names and paths

# MODES and MODEL_PREFIX (the trainer's model file names) come from hmasd.config.
WHICH = ("final", "best")
RUN_DIR = "results/runs/{config}/{mode}/seed{seed}"
# The study's aggregate outputs (Parquet, figures, tables) for this grid's seed set.
STUDY = config["study_dir"].rstrip("/")
# The hmasd CLI under the interpreter running Snakemake (the project's env), so shell rules
# work without the venv on PATH, locally and in SLURM jobs.
HMASD = f"{shlex.quote(sys.executable)} -m hmasd"
# FIGURES and CONSOLIDATED come from analysis/outputs.py (no matplotlib or pyarrow import).
CONSOLIDATED = DATASETS

CONFIG_NAMES = sorted(config["configs"])


wildcard_constraints:
    config="|".join(re.escape(name) for name in CONFIG_NAMES),
    mode="|".join(MODES),
    seed=r"\d+",
    policy="random|hover|kmeans",


def run_dir(config_name: str, mode: str, seed) -> str:
    return RUN_DIR.format(config=config_name, mode=mode, seed=seed)


def model_file(mode: str, which: str) -> str:
    """Path of a run's final or best checkpoint, relative to its run dir."""
    suffix = "_final" if which == "final" else ""
    return f"models/{MODEL_PREFIX[mode]}{suffix}.pt"


def eval_model(wildcards, which: str) -> str:
    return f"{run_dir(wildcards.config, wildcards.mode, wildcards.seed)}/{model_file(wildcards.mode, which)}"


def preset_file(wildcards) -> str:
    return str(_rel(PRESET_DIR / f"{NAMED[wildcards.config].preset}.yaml"))


def overrides_param(wildcards) -> str:
    """Canonical JSON of one config's resolved overrides (defaults, base chain, own): a
    Snakemake ``params`` value, so that editing one config reruns only its jobs (and its
    variants'), and editing ``defaults`` reruns every config."""
    return json.dumps(NAMED[wildcards.config].overrides, sort_keys=True)


def grid_param() -> str:
    """Family and label of every named config, for the analysis (canonical JSON)."""
    return json.dumps(
        {n: {"family": c.family, "label": c.label} for n, c in NAMED.items()},
        sort_keys=True,
    )


def rule_resources(rule_name: str) -> dict:
    return config["resources"][rule_name]


# --------------------------------------------------------------------------------------
# Code fingerprints: Snakemake never reruns a job because an imported module changed, so
# each rule passes the fingerprint of the code it runs as a `code` param (a "params
# changed" rerun trigger). hmasd.codehash follows the imports of the rule's entry modules
# through this repository and hashes their ASTs without docstrings, so a comment, docstring
# or formatting edit reruns nothing and a change of meaning reruns exactly the rules that
# can reach it. (A rule's own script under workflow/scripts/ also reruns it when its mtime
# is newer than the outputs, as Snakemake does for every script.)

REPO = Path(workflow.basedir)

# The entry points of each rule's code: scripts by path, shell rules by module
# (`python -m hmasd eval` runs hmasd/__main__.py, then hmasd/commands/eval.py by name).
RULE_CODE = {
    "resolve_config": ["workflow/scripts/resolve_config.py"],
    "train": ["workflow/scripts/train.py", "hmasd.commands.train"],
    "evaluate": ["hmasd.__main__", "hmasd.commands.eval"],
    "baseline": ["hmasd.__main__", "hmasd.commands.baseline"],
    "consolidate": ["workflow/scripts/consolidate.py"],
    "figures": ["workflow/scripts/figures.py"],
    "tables": ["workflow/scripts/tables.py"],
}
# Modules a rule runs whose edits must not rerun it. hmasd.tracking.plots draws the train
# job's progress PNGs (paper_data/sync_training_progress_step_N.png): side products that no
# declared output holds and no downstream rule reads, so a plot tweak should not retrain
# every run and then re-evaluate and re-aggregate everything. Existing runs keep their old
# PNGs; `snakemake -R train_sync train_async` redraws them (by retraining).
RULE_CODE_IGNORED = {"train": ["hmasd.tracking.plots"]}


def _rel(path: Path) -> str:
    return os.path.relpath(path)


def code_fingerprint(rule_name: str) -> str:
    """sha256 of the meaning of the code ``rule_name`` runs (see hmasd/codehash.py)."""
    try:
        return codehash.fingerprint(
            RULE_CODE[rule_name],
            roots=(REPO, REPO / "workflow" / "scripts"),
            ignore=RULE_CODE_IGNORED.get(rule_name, ()),
        )
    except CodeHashError as exc:
        raise WorkflowError(f"code of the '{rule_name}' rule: {exc}") from None


# --------------------------------------------------------------------------------------
# Targets


def runs() -> list[tuple[str, str, int]]:
    """Every (config, mode, seed) the grid trains: each config in its own modes."""
    return [
        (name, mode, seed)
        for name in CONFIG_NAMES
        for mode in NAMED[name].modes
        for seed in config["seeds"]
    ]


def train_summaries() -> list[str]:
    return [f"{run_dir(c, m, s)}/train_summary.json" for c, m, s in runs()]


def eval_jsons() -> list[str]:
    return [f"{run_dir(c, m, s)}/eval/{w}.json" for c, m, s in runs() for w in WHICH]


FAMILIES = sorted({c.family for c in NAMED.values()})


def baseline_jsons() -> list[str]:
    """Baselines once per family: its variants play the same episodes."""
    return expand(
        "results/baselines/{config}/{policy}.json",
        config=FAMILIES,
        policy=config["baselines"]["policies"],
    )


def benchmark_tsvs() -> list[str]:
    train = [f"results/benchmarks/train/{c}/{m}/seed{s}.tsv" for c, m, s in runs()]
    evaluate = [
        f"results/benchmarks/evaluate/{c}/{m}/seed{s}.tsv" for c, m, s in runs()
    ]
    return train + evaluate


def consolidated_files() -> list[str]:
    return expand(f"{STUDY}/consolidated/{{name}}.parquet", name=CONSOLIDATED)


# `snakemake --report results/report.html`: the PNG figures and the CSV table, each with the
# caption in workflow/report/ (paths relative to workflow/rules/, where the rules live).
# (Bound to another name: a line starting with `report` is read as the report directive.)
report_output = report


def figure_files() -> list[str]:
    return expand(f"{STUDY}/figures/{{name}}.{{ext}}", name=FIGURES, ext=["png", "pdf"])


def table_files() -> list[str]:
    names = [
        "sync_vs_async.csv",
        "sync_vs_async.md",
        "sync_vs_async.tex",
        "readme_summary.md",
    ]
    return [f"{STUDY}/tables/{name}" for name in names]


# Rule outputs: the same files, the PNG figures and the CSV table marked for the report.
# Captions resolve relative to the file of the rule that declares them (rules/analysis.smk),
# so rule all, in the root Snakefile, lists the plain files.
def figure_outputs() -> list:
    return [
        (
            report_output(
                f, caption=f"../report/{Path(f).stem}.rst", category="Figures"
            )
            if f.endswith(".png")
            else f
        )
        for f in figure_files()
    ]


def table_outputs() -> list:
    return [
        (
            report_output(f, caption="../report/sync_vs_async.rst", category="Tables")
            if f.endswith(".csv")
            else f
        )
        for f in table_files()
    ]


def get_final_output() -> list[str]:
    """Every run's summary and evals, the baselines, the Parquet datasets, figures, tables."""
    return (
        train_summaries()
        + eval_jsons()
        + baseline_jsons()
        + consolidated_files()
        + figure_files()
        + table_files()
    )
