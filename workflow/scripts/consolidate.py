"""Snakemake `consolidate` job: every export, eval, baseline and benchmark -> Parquet."""

import sys
from pathlib import Path
from typing import Any

from joblog import run_logged


def main(smk: Any) -> int:
    return run_logged(smk.log[0], lambda: run(smk))


def run(smk: Any) -> int:
    import json

    from analysis.consolidate import consolidate

    consolidate(
        grid=json.loads(smk.params.grid),
        run_dirs=[Path(p).parent for p in smk.input.summaries],
        eval_jsons=[Path(p) for p in smk.input.evals],
        baseline_jsons=[Path(p) for p in smk.input.baselines],
        benchmark_tsvs=[Path(p) for p in smk.input.benchmarks],
        out_dir=Path(smk.output[0]).parent,
    )
    print("wrote", ", ".join(smk.output))
    return 0


if __name__ == "__main__":
    sys.exit(main(snakemake))  # noqa: F821 (injected by Snakemake's script directive)
