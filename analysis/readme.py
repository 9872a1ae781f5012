"""Splice the DAG's own results into README.md: ``make readme``.

The README's numbers are never typed by hand. Between the markers

    <!-- results:begin -->
    <!-- results:end -->

this writes the tables the DAG wrote (``results/tables/readme_summary.md``, and the second
seed set's ``results/seeds5-9/tables/readme_summary.md`` when present), and the wall time
of the last measured DAG run (``results/dag_time.json``, written by
``benchmarks/dag_time.sh``) with the machine it ran on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hmasd.errors import HMASDError
from hmasd.io import atomic_write_text

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
SEED_SETS = (("seeds 0-4", "results/tables"), ("seeds 5-9", "results/seeds5-9/tables"))
TIMING = "results/dag_time.json"


def _demote(md: str) -> str:
    """Headings of a spliced file one level below the README's section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in md.splitlines())


def results_block(root: Path) -> str:
    parts = []
    timing = root / TIMING
    if timing.exists():
        t = json.loads(timing.read_text())
        parts.append(
            f"The default DAG (`{t['command']}`, from clean `results/`) took "
            f"**{t['seconds'] / 60:.1f} min** on {t['machine']}, {t['cores']} cores."
        )
    for name, folder in SEED_SETS:
        summary = root / folder / "readme_summary.md"
        if summary.exists():
            body = _demote(summary.read_text())
            parts.append(f"#### {name.capitalize()} (`{folder}/`)\n\n{body}")
    if not parts:
        missing = root / SEED_SETS[0][1] / "readme_summary.md"
        raise HMASDError(f"{missing}: no results yet: run make run")
    return "\n\n".join(parts)


def splice(readme: Path, block: str) -> str:
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise HMASDError(f"{readme}: needs one '{BEGIN}' line before one '{END}' line")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{block.strip()}\n{END}{tail}"


def main(root: Path = Path(".")) -> int:
    try:
        readme = root / "README.md"
        atomic_write_text(readme, splice(readme, results_block(root)))
    except HMASDError as exc:
        print(f"hmasd: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
