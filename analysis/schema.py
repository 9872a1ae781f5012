"""Typed schemas of the consolidated Parquet datasets, declared once.

``consolidate`` builds every table against these schemas and checks it before writing;
``figures`` and ``tables`` read the files back with :func:`read`. Every dataset of a run
carries ``config``, ``mode`` and ``seed`` columns (baselines: ``config`` and ``policy``), so
a dataset is one file that pandas, pyarrow, polars and duckdb read as-is.

The ``export_step`` column is the ``N`` of the ``*_step_{N}`` export file a row came from.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.outputs import DATASETS
from hmasd.errors import ExportError

F64 = pa.float64()
I64 = pa.int64()
STR = pa.string()


def _field(name: str, typ: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, typ, nullable=nullable, metadata={"doc": doc})


RUN_ID = [
    _field("config", STR, "named config of config/config.yaml"),
    _field("mode", STR, "training schedule: sync or async"),
    _field("seed", I64, "training seed"),
]
EXPORT_STEP = _field("export_step", I64, "N of the paper_data/*_step_N export file")

# Columns of the tracker's CSV exports (the contract of hmasd/tracking.py), in file order.
EPISODE_CSV = {
    "episode": (I64, "episode counter of the run"),
    "env_id": (I64, "index of the env in the batch"),
    "total_reward": (F64, "episode return incl. intrinsic terms (mean over agents)"),
    "episode_length": (I64, "steps"),
    "timestamp": (F64, "wall-clock time (s)"),
    "env_component": (F64, "lambda_e * env reward, summed over the episode"),
    "team_disc_component": (F64, "lambda_D * log q_D, summed over the episode"),
    "ind_disc_component": (F64, "lambda_d * log q_d, summed over the episode"),
    "env_return": (F64, "sum of team env rewards of the episode"),
    "throughput_mbps": (F64, "episode mean system throughput (Mbps)"),
    "connected_users": (F64, "episode mean connected users"),
    "coverage": (F64, "episode mean coverage ratio (0..1)"),
    "mean_sinr_db": (F64, "episode mean SINR (dB)"),
    "fairness": (F64, "episode mean Jain fairness (0..1)"),
    "connectivity_ratio": (F64, "episode mean backhaul connectivity ratio (0..1)"),
    "mean_hops": (F64, "episode mean relay hops"),
    "env_step": (I64, "env steps of the run when the episode ended"),
    "policy_version": (I64, "policy version when the episode ended"),
}
SYNC_CORE_CSV = {
    "policy_version": (I64, "version after this update"),
    "samples_collected": (I64, "env transitions trained on"),
    "collection_time": (F64, "s spent collecting for this update"),
    "update_time": (F64, "s spent in the update"),
    "sync_efficiency": (F64, "samples / (collection + update time) (samples/s)"),
    "stale_fraction": (F64, "fraction of samples from an older policy version"),
    "mean_lag": (F64, "mean policy lag of the samples (versions)"),
    "max_lag": (I64, "max policy lag of the samples (versions)"),
    "env_steps": (I64, "env steps of the run at the update"),
    "wall_time": (F64, "s since training started"),
}
LAG_LEVELS = 8
"""Policy-lag levels of the per-lag staleness columns (lags 0..7; the trainer pools larger
lags into the last level)."""
# Diagnostics of each update (NaN where an update has none, e.g. no sample of a lag, or no
# skill discriminator in a flat method). The tracker writes them after ``wall_time``.
SYNC_DIAG_CSV = {
    "intrinsic_share_team": (F64, "share of |reward| from the team discriminator term"),
    "intrinsic_share_ind": (F64, "share of |reward| from the individual discriminator term"),
    "team_disc_accuracy": (F64, "team discriminator accuracy on the update's samples"),
    "ind_disc_accuracy": (F64, "individual discriminator accuracy on the update's samples"),
    "team_skill_majority": (F64, "share of the most frequent team skill in the samples"),
    "ind_skill_majority": (F64, "share of the most frequent individual skill in the samples"),
    **{f"clipfrac_lag{k}": (F64, f"clip fraction of pi / pi_behav at the update's start, "
                                 f"samples of policy lag {k}") for k in range(LAG_LEVELS)},
    **{f"approx_kl_lag{k}": (F64, f"approx KL(pi_behav || pi) at the update's start, samples "
                                  f"of policy lag {k} (nats)") for k in range(LAG_LEVELS)},
}
SYNC_CSV = {**SYNC_CORE_CSV, **SYNC_DIAG_CSV}
REWARD_CSV = {
    "env_steps": (I64, "env steps of the run"),
    "policy_version": (I64, "policy version"),
    "env_component": (F64, "mean lambda_e * r per agent-step"),
    "team_disc_component": (F64, "mean lambda_D * log q_D per agent-step"),
    "ind_disc_component": (F64, "mean lambda_d * log q_d per agent-step"),
    "total": (F64, "sum of the three components"),
}
# Keys of the eval / baseline JSON per_episode rows.
EPISODE_JSON = {
    "episode": (I64, "eval episode index"),
    "return": (F64, "episode return (team env reward)"),
    "length": (I64, "steps"),
    "throughput_mbps": (F64, "episode mean system throughput (Mbps)"),
    "connected_users": (F64, "episode mean connected users"),
    "coverage": (F64, "episode mean coverage ratio (0..1)"),
    "mean_sinr_db": (F64, "episode mean SINR (dB)"),
    "fairness": (F64, "episode mean Jain fairness (0..1)"),
}
EVAL_SUMMARY = {
    "episodes": (I64, "eval episodes of this checkpoint"),
    "mean_reward": (F64, "mean eval return"),
    "std_reward": (F64, "std of the eval returns (over episodes)"),
}
# Snakemake benchmark TSV columns (NA where psutil could not measure).
BENCH_TSV = {
    "s": (F64, "wall time (s)"),
    "h:m:s": (STR, "wall time"),
    "max_rss": (F64, "peak resident set size (MB)"),
    "max_vms": (F64, "peak virtual memory (MB)"),
    "max_uss": (F64, "peak unique set size (MB)"),
    "max_pss": (F64, "peak proportional set size (MB)"),
    "io_in": (F64, "MB read"),
    "io_out": (F64, "MB written"),
    "mean_load": (F64, "mean CPU load (%)"),
    "cpu_time": (F64, "CPU time (s)"),
}


def _cols(schema: dict[str, tuple[pa.DataType, str]], nullable: bool = False) -> list[pa.Field]:
    return [_field(k, t, d, nullable and t != STR) for k, (t, d) in schema.items()]


SCHEMAS: dict[str, pa.Schema] = {
    "runs": pa.schema(
        [
            *RUN_ID,
            _field("family", STR, "config family: the root of the config's base chain"),
            _field("label", STR, "method label of the config (HMASD, flat MAPPO, ...)"),
            _field("method", STR, "label, mode and (async) groups: one table row"),
            _field("async_groups", I64, "train.async_groups (1 for sync runs)"),
            _field("async_correction", STR, "train.async_correction: none or decoupled "
                   "(none where the run's config predates the key)"),
            _field("n_team_skills", I64, "agent.n_team_skills"),
            _field("n_ind_skills", I64, "agent.n_ind_skills"),
            _field("lambda_e", F64, "agent.lambda_e"),
            _field("lambda_D", F64, "agent.lambda_D"),
            _field("lambda_d", F64, "agent.lambda_d"),
            _field("user_obs", STR, "env.user_obs"),
            _field("eval_policy", STR, "train.eval_policy: the headline evaluation policy"),
            _field("total_env_steps", I64, "train.total_env_steps"),
            _field("cpu_model", STR, "CPU the run trained on (train_summary.json machine)"),
            _field("cpu_capability", STR, "torch's CPU kernel level (AVX2, AVX512, ...)"),
            _field("torch_version", STR, "torch version of the run"),
            _field("torch_threads", I64, "torch intra-op threads of the run"),
        ]
    ),
    "episodes": pa.schema([*RUN_ID, EXPORT_STEP, *_cols(EPISODE_CSV)]),
    "sync_metrics": pa.schema([*RUN_ID, EXPORT_STEP, *_cols(SYNC_CSV)]),
    "reward_components": pa.schema([*RUN_ID, EXPORT_STEP, *_cols(REWARD_CSV)]),
    "skill_usage": pa.schema(
        [
            *RUN_ID,
            EXPORT_STEP,
            _field("total_steps", I64, "env steps of the run at the export"),
            _field("sync_updates", I64, "updates of the run at the export"),
            _field("kind", STR, "team or individual"),
            _field("agent", I64, "agent index; -1 for team skills"),
            _field("skill", I64, "skill index"),
            _field("count", I64, "skill choices since the previous export"),
            _field("skill_switches", I64, "team-skill switches since the previous export"),
            _field("diversity", F64, "normalised entropy of the team-skill counts"),
            _field("individual_diversity", F64, "mean normalised entropy per agent"),
        ]
    ),
    "eval": pa.schema(
        [
            *RUN_ID,
            _field("which", STR, "checkpoint evaluated: final or best"),
            _field("policy", STR, "evaluated policy: deterministic or stochastic"),
            _field("checkpoint", STR, "checkpoint path"),
            _field("env_step", I64, "env steps of the checkpoint"),
            _field("policy_version", I64, "policy version of the checkpoint"),
            *_cols(EVAL_SUMMARY),
            *_cols(EPISODE_JSON),
        ]
    ),
    "baselines": pa.schema(
        [
            _field("config", STR, "named config of config/config.yaml"),
            _field("policy", STR, "baseline policy: random, hover or kmeans"),
            *_cols(EVAL_SUMMARY),
            *_cols(EPISODE_JSON),
        ]
    ),
    "benchmarks": pa.schema(
        [
            _field("rule", STR, "Snakemake rule: train or evaluate"),
            *RUN_ID,
            _field("which", STR, "the _{which} suffix of the file name; null (train, and evaluate "
                   "jobs, which cover final and best at once)", nullable=True),
            _field("repeat", I64, "row of the benchmark file (Snakemake repeats)"),
            *_cols(BENCH_TSV, nullable=True),
        ]
    ),
}
assert list(SCHEMAS) == DATASETS, "analysis/outputs.py lists the datasets built here"


def check(table: pa.Table, name: str) -> None:
    """Raise ``ExportError`` unless ``table`` has exactly the declared schema of ``name``
    (names, order, types) and no nulls in non-nullable columns."""
    schema = SCHEMAS[name]
    if not table.schema.equals(schema, check_metadata=False):
        raise ExportError(f"{name}: table schema {table.schema} differs from the declared one")
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise ExportError(f"{name}: null values in non-nullable column '{field.name}'")


def path_of(consolidated_dir: Path, name: str) -> Path:
    return Path(consolidated_dir) / f"{name}.parquet"


def read(consolidated_dir: Path, name: str) -> pa.Table:
    """Read one consolidated dataset and check it against its declared schema."""
    path = path_of(consolidated_dir, name)
    if not path.exists():
        raise ExportError(f"{path}: consolidated dataset missing (run the consolidate rule)")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ExportError(f"{path}: unreadable Parquet ({exc})") from None
    check(table, name)
    return table
