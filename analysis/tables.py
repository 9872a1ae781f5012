"""The study's tables: ``sync_vs_async.{csv,md,tex}`` and ``readme_summary.md``.

:func:`make_tables` reads the consolidated datasets and writes the four files, in three
steps, each in its own module:

- :mod:`analysis.scores`: one row of scores per training run (final eval means, curve
  variability, speed, memory, policy lag, skill diagnostics), grouped by config family;
- :mod:`analysis.cells`: the statistics, one number per cell: the original's claims,
  performance under both evaluation policies, comparisons (with power and the
  Holm-adjusted primaries), skills and cost; training runs are the unit of inference;
- :mod:`analysis.render`: the cells as the tidy CSV, the Markdown and LaTeX tables and the
  README's summary.

All are byte-identical on rerun: the bootstrap RNG is seeded (``analysis.stats.SEED``) and
nothing depends on time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.cells import build_cells
from analysis.render import headline_policy, to_csv, to_latex, to_markdown, to_readme
from analysis.schema import read
from hmasd.io import atomic_write_text


def load(consolidated_dir: Path) -> dict[str, pd.DataFrame]:
    """The consolidated datasets the tables need, checked against their schemas."""
    names = ["runs", "eval", "episodes", "sync_metrics", "benchmarks", "baselines"]
    return {n: read(consolidated_dir, n).to_pandas() for n in names}


def make_tables(consolidated_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``out_dir/sync_vs_async.{csv,md,tex}`` and ``out_dir/readme_summary.md``."""
    data = load(Path(consolidated_dir))
    cells = build_cells(data)
    head = headline_policy(data)
    out_dir = Path(out_dir)
    written = []
    renders = [("sync_vs_async.csv", to_csv(cells)),
               ("sync_vs_async.md", to_markdown(cells, head)),
               ("sync_vs_async.tex", to_latex(cells, head)),
               ("readme_summary.md", to_readme(cells, data, head))]
    for name, text in renders:
        path = out_dir / name
        atomic_write_text(path, text)
        written.append(path)
    return written
