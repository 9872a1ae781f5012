"""A realistic results tree in the exact export formats of the tracker, evaluator,
baselines and Snakemake benchmarks, for the analysis tests."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.schema import EPISODE_CSV, LAG_LEVELS, REWARD_CSV, SYNC_CSV

CONFIGS = ("base_station", "cooperative_network")
MODES = ("sync", "async")
# Ablations of the first config (name -> (modes, agent / train overrides, label)).
VARIANTS = {
    "base_station_flat": (
        ("sync",),
        {"agent": {"n_team_skills": 1, "n_ind_skills": 1, "lambda_D": 0.0, "lambda_d": 0.0}},
        "flat MAPPO",
    ),
    "base_station_async8": (("async",), {"train": {"async_groups": 8}}, "HMASD"),
    # The decoupled objective on stale samples; one seed fewer than the others, so its
    # comparison with the anchor is over independent seeds (Welch), not paired.
    "base_station_decoupled": (("async",), {"train": {"async_correction": "decoupled"}},
                               "HMASD"),
}
FEWER_SEEDS = ("base_station_decoupled",)
POLICIES = ("random", "hover", "kmeans")
N_AGENTS, N_TEAM, N_IND = 3, 3, 3
EXPORT_INTERVAL = 2048
N_EXPORTS = 5  # N runs 2048..10240: numeric and lexical file order differ
EVAL_EPISODES = 4
BENCH_HEADER = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                "mean_load", "cpu_time"]


@dataclass
class Tree:
    """Inputs of ``consolidate`` and the rows written per dataset."""

    root: Path
    run_dirs: list[Path] = field(default_factory=list)
    eval_jsons: list[Path] = field(default_factory=list)
    baseline_jsons: list[Path] = field(default_factory=list)
    benchmark_tsvs: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    grid: dict[str, dict[str, str]] = field(default_factory=dict)

    def inputs(self) -> dict[str, object]:
        return {"grid": self.grid, "run_dirs": self.run_dirs, "eval_jsons": self.eval_jsons,
                "baseline_jsons": self.baseline_jsons, "benchmark_tsvs": self.benchmark_tsvs}

    def count(self, name: str, n: int) -> None:
        self.rows[name] = self.rows.get(name, 0) + n


def _fmt(v: float) -> str:
    return str(np.float64(v)) if isinstance(v, float) else str(v)


def write_csv(path: Path, header: list[str], rows: list[list[object]], delimiter=",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows([[_fmt(v) for v in row] for row in rows])


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _level(config: str, mode: str) -> float:
    family = config if config in CONFIGS else CONFIGS[0]
    base = (10.0 if family == CONFIGS[0] else 6.0) + (1.0 if mode == "sync" else 0.0)
    return base - (2.0 if config.endswith("flat") else 0.0) - (0.5 if "8" in config else 0.0)


def _write_config(run: Path, config: str) -> None:
    import yaml

    from hmasd.config import dump, load

    overrides = VARIANTS[config][1] if config in VARIANTS else {}
    train = dict(overrides.get("train", {}))
    correction = train.pop("async_correction", None)
    preset = "cooperative_network" if config == "cooperative_network" else "default"
    dump(load(preset, {**overrides, "train": train}), run / "config.yaml")
    if correction is not None:
        # Set in the resolved YAML, as the trainer writes it, whether or not this config
        # package knows the key yet.
        data = yaml.safe_load((run / "config.yaml").read_text())
        data["train"]["async_correction"] = correction
        (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def write_run(tree: Tree, config: str, mode: str, seed: int, extra_column: bool = False) -> None:
    """One run dir with N_EXPORTS step files of each kind, its eval JSONs and benchmarks."""
    names = (*CONFIGS, *VARIANTS)
    rng = np.random.default_rng([names.index(config), MODES.index(mode), seed])
    run = tree.root / "runs" / config / mode / f"seed{seed}"
    paper = run / "paper_data"
    _write_config(run, config)
    tree.count("runs", 1)
    episode, version, t0 = 0, 0, 0.0
    for k in range(1, N_EXPORTS + 1):
        step = k * EXPORT_INTERVAL
        # Episodes: a return rising with env steps; a variable count per export.
        n_ep = int(rng.integers(3, 7))
        rows = []
        for _ in range(n_ep):
            env_step = int(step - EXPORT_INTERVAL + rng.integers(1, EXPORT_INTERVAL))
            ret = _level(config, mode) * env_step / (N_EXPORTS * EXPORT_INTERVAL) + rng.normal()
            comps = [ret, -0.1 * rng.random(), -0.5 * rng.random()]
            row = {"episode": episode, "env_id": int(rng.integers(0, 8)),
                   "total_reward": sum(comps), "episode_length": 100,
                   "timestamp": 1.7e9 + env_step / 500, "env_component": comps[0],
                   "team_disc_component": comps[1], "ind_disc_component": comps[2],
                   "env_return": ret, "throughput_mbps": 20 + 5 * rng.random(),
                   "connected_users": float(30 + rng.integers(0, 20)),
                   "coverage": rng.random(), "mean_sinr_db": 5 * rng.random(),
                   "fairness": rng.random(), "connectivity_ratio": 1.0, "mean_hops": 1.0,
                   "env_step": env_step, "policy_version": version}
            rows.append([row[c] for c in EPISODE_CSV])
            episode += 1
        header = list(EPISODE_CSV)
        if extra_column:  # readers must ignore unknown columns
            header.append("extra_col")
            rows = [r + ["x"] for r in rows]
        write_csv(paper / f"episode_rewards_step_{step}.csv", header, rows)
        tree.count("episodes", n_ep)
        # Updates: 4 per export; async ones carry stale samples and a lag.
        rows, reward_rows = [], []
        for u in range(4):
            version += 1
            env_steps = step - EXPORT_INTERVAL + (u + 1) * 512
            ct, ut = 1.0 + rng.random(), 0.5 + rng.random()
            t0 += ct + ut
            stale = 0.0 if mode == "sync" else 0.3 * rng.random()
            lag = 0.0 if mode == "sync" else 1 + rng.random()
            max_lag = 0 if mode == "sync" else int(rng.integers(1, 4))
            rows.append([version, 512, ct, ut, 512 / (ct + ut), stale, lag, float(max_lag),
                         env_steps, t0, *_diagnostics(rng, config, max_lag)])
            comps = [0.1 * rng.random(), -0.01 * rng.random(), -0.05 * rng.random()]
            reward_rows.append([env_steps, version, *comps, sum(comps)])
        write_csv(paper / f"sync_metrics_step_{step}.csv", list(SYNC_CSV), rows)
        write_csv(paper / f"reward_components_step_{step}.csv", list(REWARD_CSV), reward_rows)
        tree.count("sync_metrics", 4)
        tree.count("reward_components", 4)
        team = {str(i): int(rng.integers(0, 50)) for i in range(N_TEAM)}
        ind = {f"agent_{a}": {str(i): int(rng.integers(0, 50)) for i in range(N_IND)}
               for a in range(N_AGENTS)}
        write_json(paper / f"skill_usage_step_{step}.json", {
            "team_skills": team, "individual_skills": ind, "skill_switches": 7,
            "total_steps": step, "sync_updates": version, "diversity": 0.9,
            "individual_diversity": 0.8,
            "interval": {"start_step": step - EXPORT_INTERVAL, "end_step": step},
            "cumulative": {"team_skills": team},
        })
        tree.count("skill_usage", N_TEAM + N_AGENTS * N_IND)
    write_json(paper / "sync_training_summary.json", {"mode": mode, "total_env_steps": step})
    write_json(run / "train_summary.json", {"env_steps": step, "machine": {
        "cpu_model": "Test CPU", "cpu_capability": "AVX2", "torch_version": "2.13.0",
        "torch_threads": 1}})
    tree.run_dirs.append(run)
    prefix = "hmasd_sync_enhanced_tracking" if mode == "sync" else "hmasd_async_tracking"
    for which in ("final", "best"):
        # The deterministic policy a little better than the sampled one.
        policies = {
            "deterministic": _episodes_json(rng, _level(config, mode) + 0.5, EVAL_EPISODES),
            "stochastic": _episodes_json(rng, _level(config, mode), EVAL_EPISODES),
        }
        data = {"checkpoint": str(run / "models" / f"{prefix}_{which}.pt"), "config_name": config,
                "mode": mode, "seed": seed, "env_step": step, "policy_version": version,
                "episodes": EVAL_EPISODES, "headline": "deterministic", "policies": policies}
        path = run / "eval" / f"{which}.json"
        write_json(path, data)
        tree.eval_jsons.append(path)
        tree.count("eval", 2 * EVAL_EPISODES)
    bench = tree.root / "benchmarks"
    _bench(tree, bench / "train" / config / mode / f"seed{seed}.tsv", rng, 120.0)
    _bench(tree, bench / "evaluate" / config / mode / f"seed{seed}.tsv", rng, 10.0)


def _diagnostics(rng: np.random.Generator, config: str, max_lag: int) -> list[float]:
    """The diagnostic columns of one update: intrinsic shares, discriminator accuracies and
    majority rates (NaN for a flat method, which has no discriminator), then clip fraction
    and approx KL per lag level (0 at lag 0, where behaviour and learner coincide; growing
    with lag; NaN above the update's max lag)."""
    flat = config.endswith("flat")
    nan = float("nan")
    share_team, share_ind = (0.0, 0.0) if flat else (0.1 * rng.random(), 0.2 * rng.random())
    acc = [nan, nan] if flat else [0.5 + 0.3 * rng.random(), 0.4 + 0.3 * rng.random()]
    majority = [nan, nan] if flat else [0.35 + 0.1 * rng.random(), 0.35 + 0.1 * rng.random()]
    clip = [0.0 if k == 0 else 0.05 * k * (1 + rng.random()) if k <= max_lag else nan
            for k in range(LAG_LEVELS)]
    kl = [0.0 if k == 0 else 0.002 * k * (1 + rng.random()) if k <= max_lag else nan
          for k in range(LAG_LEVELS)]
    return [share_team, share_ind, acc[0], acc[1], majority[0], majority[1], *clip, *kl]


def _bench(tree: Tree, path: Path, rng: np.random.Generator, secs: float) -> None:
    s = secs * (1 + 0.1 * rng.random())
    row = [round(s, 4), f"0:02:{int(s) % 60:02d}", round(400 + 50 * rng.random(), 2), 2000.0,
           380.0, "NA", 1.5, 3.25, 95.0, round(s * 0.9, 2)]
    write_csv(path, BENCH_HEADER, [row], delimiter="\t")
    tree.benchmark_tsvs.append(path)
    tree.count("benchmarks", 1)


def _episodes_json(rng: np.random.Generator, level: float, n: int) -> dict:
    per = [{"episode": i, "return": level + rng.normal(), "length": 100,
            "throughput_mbps": 20 + 5 * rng.random(), "connected_users": 30 + 10 * rng.random(),
            "coverage": rng.random(), "mean_sinr_db": 5 * rng.random(), "fairness": rng.random(),
            "connectivity_ratio": 1.0, "mean_hops": 1.0} for i in range(n)]
    rets = [p["return"] for p in per]
    return {"episodes": n, "mean_reward": float(np.mean(rets)), "std_reward": float(np.std(rets)),
            "mean_throughput_mbps": float(np.mean([p["throughput_mbps"] for p in per])),
            "mean_connected_users": float(np.mean([p["connected_users"] for p in per])),
            "mean_coverage": float(np.mean([p["coverage"] for p in per])), "per_episode": per}


def write_baseline(tree: Tree, config: str, policy: str) -> None:
    rng = np.random.default_rng([CONFIGS.index(config), POLICIES.index(policy), 99])
    level = {"random": 2.0, "hover": 4.0, "kmeans": 9.0}[policy]
    path = tree.root / "baselines" / config / f"{policy}.json"
    write_json(path, {"policy": policy, **_episodes_json(rng, level, 6)})
    tree.baseline_jsons.append(path)
    tree.count("baselines", 6)


def make_tree(root: Path, configs=CONFIGS, modes=MODES, seeds=(0, 1), variants=True) -> Tree:
    tree = Tree(root)
    for c in configs:
        tree.grid[c] = {"family": c, "label": "HMASD"}
        for m in modes:
            for s in seeds:
                write_run(tree, c, m, s, extra_column=(s == 0 and m == "sync"))
        for p in POLICIES:
            write_baseline(tree, c, p)
    if variants and CONFIGS[0] in configs:
        for name, (vmodes, _, label) in VARIANTS.items():
            tree.grid[name] = {"family": CONFIGS[0], "label": label}
            for m in [m for m in vmodes if m in modes]:
                for s in (seeds[:-1] or seeds) if name in FEWER_SEEDS else seeds:
                    write_run(tree, name, m, s)
    return tree
