"""``snakemake --lint``, minus the one lint this workflow declines on purpose.

Snakemake's linter asks every rule for a conda environment or a container. This workflow
runs every rule in the one environment it is started from (every rule imports the same
`hmasd` package; `make setup` installs it), so its rules declare neither: a per-rule conda
env would need this repository installed into it, which Snakemake's env creation cannot
do from a relative path. Every other lint fails the check. Exit 0 when clean, 1 otherwise.
"""

from __future__ import annotations

import re
import subprocess
import sys

DECLINED = "Specify a conda environment or container for each rule."


def other_lints(text: str) -> list[str]:
    """The lint titles (``* title:`` lines) of ``snakemake --lint`` output that are not
    :data:`DECLINED`, each prefixed by the rule or file it is about."""
    found, where = [], "workflow"
    for line in text.splitlines():
        head = re.match(r"Lints for (.+?)[:(]", line)
        if head:
            where = head.group(1).strip()
        item = re.match(r"\s+\* (.+):$", line)
        if item and item.group(1) != DECLINED:
            found.append(f"{where}: {item.group(1)}")
    return found


def main() -> int:
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True
    )
    text = res.stdout + res.stderr
    if res.returncode != 0 and "Lints for" not in text:
        print(text, file=sys.stderr)
        return 1
    bad = other_lints(text)
    for line in bad:
        print(f"lint: {line}", file=sys.stderr)
    if not bad:
        print("snakemake --lint: clean (per-rule conda envs declined: tools/lint_workflow.py)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
