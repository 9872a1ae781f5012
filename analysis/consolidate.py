"""Every run's exports, evaluations, baselines and benchmarks -> typed Parquet datasets.

``consolidate`` is a full rebuild from the files it is given: rerunning it after a new seed
rewrites every dataset with that seed's rows added and nothing duplicated. Inputs are read
strictly (a missing column or key, a non-numeric value, a row cut short: one
``ExportError`` naming the file and the row) and tolerantly (extra columns and keys are
ignored). Outputs (``SCHEMAS`` of :mod:`analysis.schema`) are written atomically.

Ids come from the paths (the Snakemake layout):

- run dirs ``.../runs/{config}/{mode}/seed{seed}``
- evals ``.../runs/{config}/{mode}/seed{seed}/eval/{which}.json``
- baselines ``.../baselines/{config}/{policy}.json``
- benchmarks ``.../benchmarks/{rule}/{config}/{mode}/seed{seed}[_{which}].tsv``
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.schema import (
    BENCH_TSV,
    EPISODE_CSV,
    EPISODE_JSON,
    EVAL_SUMMARY,
    I64,
    REWARD_CSV,
    SCHEMAS,
    STR,
    SYNC_CSV,
    SYNC_DIAG_CSV,
    check,
    path_of,
)
from analysis.scores import method_name
from hmasd.errors import ExportError
from hmasd.grid import DEFAULT_LABEL
from hmasd.io import atomic_path

Columns = dict[str, Any]  # column name -> 1-D numpy array or list (one dataset chunk)
NA = frozenset({"NA", "na", "NaN", "nan", "", "-"})

SEED_DIR = re.compile(r"^seed(\d+)$")
BENCH_NAME = re.compile(r"^seed(\d+)(?:_(\w+))?\.tsv$")
STEP_FILE = {
    "episodes": re.compile(r"^episode_rewards_step_(\d+)\.csv$"),
    "sync_metrics": re.compile(r"^sync_metrics_step_(\d+)\.csv$"),
    "reward_components": re.compile(r"^reward_components_step_(\d+)\.csv$"),
    "skill_usage": re.compile(r"^skill_usage_step_(\d+)\.json$"),
}
CSV_SCHEMAS = {"episodes": EPISODE_CSV, "sync_metrics": SYNC_CSV,
               "reward_components": REWARD_CSV}
# Columns a file may lack all together (read as NaN): exports written before the tracker
# had them. A file with some but not all of a group is malformed.
LATE_COLUMNS = {"sync_metrics": tuple(SYNC_DIAG_CSV)}
ASYNC_CORRECTIONS = ("none", "decoupled")
SKILL_KEYS = ("team_skills", "individual_skills", "skill_switches", "total_steps",
              "sync_updates", "diversity", "individual_diversity")


# --------------------------------------------------------------------------------------
# Ids from paths


def run_id(run_dir: Path) -> tuple[str, str, int]:
    """``(config, mode, seed)`` of ``.../runs/{config}/{mode}/seed{seed}``."""
    p = Path(run_dir)
    m = SEED_DIR.match(p.name)
    if m is None or len(p.parts) < 3:
        raise ExportError(f"{p}: run dir must look like .../runs/{{config}}/{{mode}}/seed{{N}}")
    return p.parent.parent.name, p.parent.name, int(m.group(1))


def eval_id(path: Path) -> tuple[str, str, int, str]:
    """``(config, mode, seed, which)`` of ``.../{config}/{mode}/seed{seed}/eval/{which}.json``."""
    p = Path(path)
    if p.suffix != ".json" or p.parent.name != "eval":
        raise ExportError(f"{p}: eval JSON must look like .../seed{{N}}/eval/{{which}}.json")
    return (*run_id(p.parent.parent), p.stem)


def baseline_id(path: Path) -> tuple[str, str]:
    """``(config, policy)`` of ``.../baselines/{config}/{policy}.json``."""
    p = Path(path)
    if p.suffix != ".json" or len(p.parts) < 2:
        raise ExportError(f"{p}: baseline JSON must look like .../{{config}}/{{policy}}.json")
    return p.parent.name, p.stem


def benchmark_id(path: Path) -> tuple[str, str, str, int, str | None]:
    """``(rule, config, mode, seed, which)`` of a benchmark TSV path (``which`` None for
    ``seed{seed}.tsv``, else the suffix of ``seed{seed}_{which}.tsv``)."""
    p = Path(path)
    m = BENCH_NAME.match(p.name)
    if m is None or len(p.parts) < 4:
        raise ExportError(f"{p}: benchmark must look like "
                          ".../{rule}/{config}/{mode}/seed{N}[_{which}].tsv")
    rule, config, mode = p.parts[-4:-1]
    return rule, config, mode, int(m.group(1)), m.group(2)


# --------------------------------------------------------------------------------------
# Strict readers


def _where(path: Path, row: int) -> str:
    # Data rows count from 1; the header is line 1, so row r is line r + 1.
    return f"{path}, row {row} (line {row + 1})"


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExportError(f"{path}: file missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: unreadable ({exc})") from None


def _to_float(path: Path, col: str, values: Sequence[str], allow_na: bool) -> np.ndarray:
    if allow_na:
        values = ["nan" if v.strip() in NA else v for v in values]
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        for i, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise ExportError(
                    f"{_where(path, i + 1)}: column '{col}' has non-numeric value {v!r}"
                ) from None
        raise


def _to_int(path: Path, col: str, values: Sequence[str]) -> np.ndarray:
    x = _to_float(path, col, values, allow_na=False)
    # The tracker may write integer counters from float tensors ("3.0"); fractional or
    # non-finite values are not counters.
    bad = ~np.isfinite(x) | (x != np.round(x))
    if bad.any():
        i = int(np.argmax(bad))
        raise ExportError(f"{_where(path, i + 1)}: column '{col}' has non-integer value "
                          f"{values[i]!r}")
    return x.astype(np.int64)


def read_table_file(
    path: Path, schema: dict[str, tuple[pa.DataType, str]], delimiter: str = ",",
    allow_na: bool = False, late: Sequence[str] = (),
) -> Columns:
    """Read a CSV/TSV export strictly: every column of ``schema`` present, every row complete
    and numeric where ``schema`` says so. Extra columns are ignored. ``late``: float columns
    of ``schema`` that a file may lack all together (then read as NaN), but not in part.

    Returns ``{column: array (R,)}`` in file row order.
    """
    text = _read_text(path)
    if not text:
        raise ExportError(f"{path}: empty file (truncated export, no header)")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = rows[0]
    absent = set(late) if late and not any(c in header for c in late) else set()
    missing = [c for c in schema if c not in header and c not in absent]
    if missing:
        raise ExportError(f"{path}, header: missing column(s) {', '.join(missing)}")
    body = rows[1:]
    for r, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise ExportError(f"{_where(path, r)}: {len(row)} fields where the header has "
                              f"{len(header)} (truncated or malformed row)")
    if not text.endswith("\n"):
        # A file cut inside its last row may still split into the right number of fields.
        raise ExportError(f"{_where(path, len(body))}: row cut short (file does not end "
                          "with a newline: truncated export)")
    out: Columns = {}
    for col, (typ, _) in schema.items():
        if col in absent:
            out[col] = np.full(len(body), np.nan)
            continue
        j = header.index(col)
        values = [row[j] for row in body]
        if typ == STR:
            out[col] = values
        elif typ == I64:
            out[col] = _to_int(path, col, values)
        else:
            out[col] = _to_float(path, col, values, allow_na)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} "
                          f"({exc.msg}; truncated export?)") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: expected a JSON object at the top level")
    return data


def _require(path: Path, data: dict[str, Any], keys: Iterable[str], where: str = "") -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise ExportError(f"{path}{where}: missing key(s) {', '.join(missing)}")


def _number(path: Path, value: Any, key: str, where: str = "", integer: bool = False) -> float:
    if value is None and not integer:
        # The tracker writes non-finite floats as null (strict JSON has no NaN).
        return math.nan
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = math.isfinite(value) and float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ExportError(f"{path}{where}: key '{key}' is {value!r}, expected {kind}")
    return int(value) if integer else float(value)


def _episode_rows(path: Path, data: Any, where: str = "") -> Columns:
    """The ``per_episode`` rows of an episode summary (a baseline JSON, or one policy of an
    eval JSON) plus its summary columns."""
    if not isinstance(data, dict):
        raise ExportError(f"{path}{where}: expected an object")
    _require(path, data, ("per_episode", *EVAL_SUMMARY), where)
    rows = data["per_episode"]
    if not isinstance(rows, list):
        raise ExportError(f"{path}{where}: 'per_episode' must be a list of objects")
    out: Columns = {
        k: [_number(path, data[k], k, where, integer=t == I64)] * len(rows)
        for k, (t, _) in EVAL_SUMMARY.items()
    }
    for k in EPISODE_JSON:
        out[k] = []
    base = where
    for i, row in enumerate(rows):
        where = f"{base}, per_episode row {i}"
        if not isinstance(row, dict):
            raise ExportError(f"{path}{where}: expected an object")
        _require(path, row, EPISODE_JSON, where)
        for k, (t, _) in EPISODE_JSON.items():
            out[k].append(_number(path, row[k], k, where, integer=t == I64))
    return out


def _skill_rows(path: Path, step: int) -> Columns:
    """Flatten one ``skill_usage_step_N.json`` into long rows (team rows first)."""
    data = _read_json(path)
    _require(path, data, SKILL_KEYS)
    scalars = {
        "total_steps": _number(path, data["total_steps"], "total_steps", integer=True),
        "sync_updates": _number(path, data["sync_updates"], "sync_updates", integer=True),
        "skill_switches": _number(path, data["skill_switches"], "skill_switches", integer=True),
        "diversity": _number(path, data["diversity"], "diversity"),
        "individual_diversity": _number(
            path, data["individual_diversity"], "individual_diversity"),
    }
    long: list[tuple[str, int, int, int]] = []

    def counts(obj: Any, key: str) -> list[tuple[int, int]]:
        if not isinstance(obj, dict) or not all(str(s).isdigit() for s in obj):
            raise ExportError(f"{path}: '{key}' must map skill indices to counts")
        return sorted(
            (int(s), _number(path, c, f"{key}.{s}", integer=True)) for s, c in obj.items()
        )

    long += [("team", -1, s, c) for s, c in counts(data["team_skills"], "team_skills")]
    agents = data["individual_skills"]
    if not isinstance(agents, dict):
        raise ExportError(f"{path}: 'individual_skills' must map agent_i to skill counts")
    parsed = []
    for name, obj in agents.items():
        m = re.fullmatch(r"agent_(\d+)", str(name))
        if m is None:
            raise ExportError(f"{path}: individual_skills key {name!r} is not agent_<index>")
        parsed.append((int(m.group(1)), name, obj))
    for a, name, obj in sorted(parsed):
        long += [("individual", a, s, c) for s, c in counts(obj, f"individual_skills.{name}")]
    n = len(long)
    out: Columns = {"export_step": np.full(n, step, np.int64)}
    out["total_steps"] = np.full(n, scalars["total_steps"], np.int64)
    out["sync_updates"] = np.full(n, scalars["sync_updates"], np.int64)
    out["kind"] = [row[0] for row in long]
    out["agent"] = np.array([row[1] for row in long], np.int64)
    out["skill"] = np.array([row[2] for row in long], np.int64)
    out["count"] = np.array([row[3] for row in long], np.int64)
    out["skill_switches"] = np.full(n, scalars["skill_switches"], np.int64)
    out["diversity"] = np.full(n, scalars["diversity"], np.float64)
    out["individual_diversity"] = np.full(n, scalars["individual_diversity"], np.float64)
    return out


# --------------------------------------------------------------------------------------
# Per-input loaders: each returns one chunk of columns (ids included)


def _with_ids(chunk: Columns, ids: dict[str, Any]) -> Columns:
    n = len(next(iter(chunk.values()))) if chunk else 0
    return {**{k: [v] * n for k, v in ids.items()}, **chunk}


def step_files(paper_dir: Path, kind: str) -> list[tuple[int, Path]]:
    """``(N, path)`` of a run's ``*_step_N`` export files of one kind, sorted by N."""
    if not paper_dir.is_dir():
        return []
    found = []
    for p in paper_dir.iterdir():
        m = STEP_FILE[kind].match(p.name)
        if m is not None:
            found.append((int(m.group(1)), p))
    return sorted(found)


def load_run(run_dir: Path) -> dict[str, list[Columns]]:
    """Chunks of the four export datasets of one run (all step files, sorted by N)."""
    config, mode, seed = run_id(run_dir)
    ids = {"config": config, "mode": mode, "seed": seed}
    paper = Path(run_dir) / "paper_data"
    out: dict[str, list[Columns]] = {}
    for kind, schema in CSV_SCHEMAS.items():
        out[kind] = []
        for step, path in step_files(paper, kind):
            cols = read_table_file(path, schema, late=LATE_COLUMNS.get(kind, ()))
            n = len(next(iter(cols.values())))
            out[kind].append(_with_ids({"export_step": np.full(n, step, np.int64), **cols}, ids))
    out["skill_usage"] = [
        _with_ids(_skill_rows(path, step), ids) for step, path in step_files(paper, "skill_usage")
    ]
    return out


def _async_correction(path: Path, raw: Any) -> str:
    """``train.async_correction`` of a run's config: ``none`` where the key is absent (a
    config written before the key existed)."""
    train = raw.get("train") if isinstance(raw, dict) else None
    value = train.get("async_correction", "none") if isinstance(train, dict) else "none"
    if value not in ASYNC_CORRECTIONS:
        raise ExportError(f"{path}: key 'train.async_correction' is {value!r}, expected one "
                          f"of {', '.join(ASYNC_CORRECTIONS)}")
    return str(value)


def load_run_info(run_dir: Path, grid: dict[str, dict[str, str]]) -> Columns:
    """The ``runs`` row of one run: grid metadata (family, label) and the hyperparameters
    that tell methods apart, read from the run's resolved ``config.yaml``."""
    import dataclasses

    from hmasd.config import TrainConfig, from_dict, parse_yaml
    from hmasd.errors import ConfigError

    config, mode, seed = run_id(run_dir)
    path = Path(run_dir) / "config.yaml"
    raw = parse_yaml(_read_text(path))
    correction = _async_correction(path, raw)
    known = any(f.name == "async_correction" for f in dataclasses.fields(TrainConfig))
    if not known and isinstance(raw, dict) and isinstance(raw.get("train"), dict):
        # A config package without the key cannot validate it; it was read above.
        raw = {**raw, "train": {k: v for k, v in raw["train"].items()
                                if k != "async_correction"}}
    try:
        cfg = from_dict(raw)
    except ConfigError as exc:
        raise ExportError(f"{path}: not a valid run config ({exc})") from None
    summary = _read_json(Path(run_dir) / "train_summary.json")
    machine = summary.get("machine") if isinstance(summary.get("machine"), dict) else {}
    meta = grid.get(config, {"family": config, "label": DEFAULT_LABEL})
    groups = cfg.train.async_groups if mode == "async" else 1
    row = {
        "family": meta["family"],
        "label": meta["label"],
        "method": method_name(meta["label"], mode, groups, correction),
        "async_groups": groups,
        "async_correction": correction,
        "n_team_skills": cfg.agent.n_team_skills,
        "n_ind_skills": cfg.agent.n_ind_skills,
        "lambda_e": cfg.agent.lambda_e,
        "lambda_D": cfg.agent.lambda_D,
        "lambda_d": cfg.agent.lambda_d,
        "user_obs": cfg.env.user_obs,
        "eval_policy": cfg.train.eval_policy,
        "total_env_steps": cfg.train.total_env_steps,
        "cpu_model": str(machine.get("cpu_model", "unknown")),
        "cpu_capability": str(machine.get("cpu_capability", "unknown")),
        "torch_version": str(machine.get("torch_version", "unknown")),
        "torch_threads": int(machine.get("torch_threads", 0)),
    }
    return _with_ids({k: [v] for k, v in row.items()}, {"config": config, "mode": mode,
                                                          "seed": seed})


def load_eval(path: Path) -> Columns:
    """Rows of one eval JSON: every episode of each evaluated policy."""
    config, mode, seed, which = eval_id(path)
    data = _read_json(path)
    _require(path, data, ("env_step", "policy_version", "policies"))
    if isinstance(data.get("mode"), str) and data["mode"] != mode:
        raise ExportError(f"{path}: key 'mode' is {data['mode']!r} but the path says {mode!r}")
    policies = data["policies"]
    if not isinstance(policies, dict) or not policies:
        raise ExportError(f"{path}: 'policies' must map each policy to its summary")
    chunks = []
    for policy in sorted(policies):
        rows = _episode_rows(path, policies[policy], where=f", policies.{policy}")
        n = len(rows["episode"])
        meta = {
            "which": which,
            "policy": policy,
            "checkpoint": str(data.get("checkpoint", "")),
            "env_step": _number(path, data["env_step"], "env_step", integer=True),
            "policy_version": _number(path, data["policy_version"], "policy_version",
                                      integer=True),
        }
        chunks.append({**{k: [v] * n for k, v in meta.items()}, **rows})
    merged = {k: [v for c in chunks for v in c[k]] for k in chunks[0]}
    return _with_ids(merged, {"config": config, "mode": mode, "seed": seed})


def load_baseline(path: Path) -> Columns:
    config, policy = baseline_id(path)
    return _with_ids(_episode_rows(path, _read_json(path)), {"config": config, "policy": policy})


def load_benchmark(path: Path) -> Columns:
    rule, config, mode, seed, which = benchmark_id(path)
    cols = read_table_file(path, BENCH_TSV, delimiter="\t", allow_na=True)
    if np.isnan(cols["s"]).any():
        i = int(np.argmax(np.isnan(cols["s"])))
        raise ExportError(f"{_where(path, i + 1)}: column 's' (wall time) is missing")
    n = len(cols["s"])
    ids = {"rule": rule, "config": config, "mode": mode, "seed": seed, "which": which}
    return _with_ids({"repeat": np.arange(n, dtype=np.int64), **cols}, ids)


# --------------------------------------------------------------------------------------
# Assembly and writing


def _array(values: Any, field: pa.Field) -> pa.Array:
    if field.type == STR:
        return pa.array(list(values), type=STR)
    arr = np.asarray(values, dtype=field.type.to_pandas_dtype())
    # Benchmarks: "NA" (psutil could not measure) becomes null, not NaN.
    mask = np.isnan(arr) if field.nullable and arr.dtype.kind == "f" else None
    return pa.array(arr, type=field.type, mask=mask)


def build_table(name: str, chunks: list[Columns]) -> pa.Table:
    """Concatenate chunks into a table of the declared schema ``SCHEMAS[name]``."""
    schema = SCHEMAS[name]
    columns = []
    for field in schema:
        parts = [c[field.name] for c in chunks if len(c[field.name])]
        if field.type == STR:
            values: Any = [v for part in parts for v in part]
        else:
            values = np.concatenate([np.asarray(p) for p in parts]) if parts else []
        columns.append(_array(values, field))
    table = pa.Table.from_arrays(columns, schema=schema)
    check(table, name)
    return table


def write_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _unique(paths: Iterable[Path], key: Any, what: str) -> list[Path]:
    """Deduplicate by id (the same path listed twice is fine; two paths, one id is not)."""
    by_id: dict[Any, Path] = {}
    for p in paths:
        p = Path(p)
        k = key(p)
        if k in by_id and by_id[k].resolve() != p.resolve():
            raise ExportError(f"{p}: same {what} as {by_id[k]}")
        by_id[k] = p
    return [by_id[k] for k in sorted(by_id, key=lambda k: tuple("" if v is None else v
                                                                for v in k))]


def consolidate(
    run_dirs: list[Path],
    eval_jsons: list[Path],
    baseline_jsons: list[Path],
    benchmark_tsvs: list[Path],
    out_dir: Path,
    grid: dict[str, dict[str, str]] | None = None,
) -> None:
    """Rebuild every dataset of ``analysis.schema.SCHEMAS`` under ``out_dir`` from the given
    inputs (rows sorted by id, then export step, then file order). ``grid``: family and
    label of each named config (``{config: {"family": ..., "label": ...}}``; a config
    missing there is its own family, labelled HMASD)."""
    chunks: dict[str, list[Columns]] = {name: [] for name in SCHEMAS}
    for run_dir in _unique(run_dirs, run_id, "run id"):
        chunks["runs"].append(load_run_info(run_dir, grid or {}))
        for kind, parts in load_run(run_dir).items():
            chunks[kind] += parts
    chunks["eval"] = [load_eval(p) for p in _unique(eval_jsons, eval_id, "eval id")]
    chunks["baselines"] = [
        load_baseline(p) for p in _unique(baseline_jsons, baseline_id, "baseline id")
    ]
    chunks["benchmarks"] = [
        load_benchmark(p) for p in _unique(benchmark_tsvs, benchmark_id, "benchmark id")
    ]
    # Build everything before writing anything, so a bad input leaves old outputs intact.
    tables = {name: build_table(name, chunks[name]) for name in SCHEMAS}
    for name, table in tables.items():
        write_table(table, path_of(out_dir, name))
