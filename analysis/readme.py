"""Splice the DAG's own results into README.md: ``make readme``.

The README's numbers are never typed by hand. Between the markers

    <!-- results:begin -->
    <!-- results:end -->

this writes the wall time of the last measured DAG run (``results/dag_time.json``, written
by ``benchmarks/dag_time.sh``) with the machine it ran on, the first seed set's
``results/tables/readme_summary.md`` as the DAG wrote it, and the verdicts of the primary
comparisons on every seed set present (their ``sync_vs_async.csv``), side by side.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from hmasd.errors import HMASDError
from hmasd.io import atomic_write_text

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
SEED_SETS = (
    ("seeds 0-4", "results/tables"),
    ("seeds 5-9", "results/seeds5-9/tables"),
    ("seeds 0-9", "results/seeds0-9/tables"),
)
TIMING = "results/dag_time.json"


def _demote(md: str) -> str:
    """Headings of a spliced file one level below the README's section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in md.splitlines())


def verdicts(root: Path) -> str:
    """The primary comparisons' verdicts (and Holm p) on each seed set that has tables."""
    found: dict[tuple[str, str, str], dict[str, str]] = {}
    sets = []
    for name, folder in SEED_SETS:
        path = root / folder / "sync_vs_async.csv"
        if not path.exists():
            continue
        sets.append(name)
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if not row["note"].startswith("primary ("):
                    continue
                key = (row["family"], row["note"][len("primary ("):][0], row["method"])
                cell = found.setdefault(key, {})
                if row["estimator"] == "verdict":
                    cell[name] = row["verdict"] + cell.get(name, "")
                elif row["estimator"] == "holm_p" and row["value"]:
                    h = float(row["value"])
                    shown = "<0.001" if h < 0.001 else f"{h:.3f}"
                    cell[name] = cell.get(name, "") + f" (Holm p {shown})"
    if not found:
        return ""
    head = "| Family | Primary | Comparison | " + " | ".join(sets) + " |"
    lines = [head, "|" + "---|" * (3 + len(sets))]
    for (family, key, method), cell in sorted(found.items()):
        lines.append(f"| {family} | ({key}) | {method} | "
                     + " | ".join(cell.get(n, "–") for n in sets) + " |")
    return "Verdicts of the primary comparisons on each seed set:\n\n" + "\n".join(lines)


def results_block(root: Path) -> str:
    parts = []
    timing = root / TIMING
    if timing.exists():
        t = json.loads(timing.read_text())
        parts.append(
            f"The default DAG (`{t['command']}`, from clean `results/`) took "
            f"**{t['seconds'] / 60:.1f} min** on {t['machine']}, {t['cores']} cores."
        )
    summary = root / SEED_SETS[0][1] / "readme_summary.md"
    if not summary.exists():
        raise HMASDError(f"{summary}: no results yet: run make run")
    parts.append(_demote(summary.read_text()))
    table = verdicts(root)
    if table:
        parts.append(table)
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
