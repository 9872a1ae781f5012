"""Snakemake `tables` job: Parquet datasets -> results/tables/sync_vs_async.{csv,md,tex}."""

import sys
from pathlib import Path
from typing import Any

from joblog import run_logged


def main(smk: Any) -> int:
    return run_logged(smk.log[0], lambda: run(smk))


def run(smk: Any) -> int:
    from analysis.tables import make_tables

    written = make_tables(Path(smk.input.data[0]).parent, Path(smk.output[0]).parent)
    print("wrote", ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main(snakemake))  # noqa: F821 (injected by Snakemake's script directive)
