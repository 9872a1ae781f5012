"""Snakemake `resolve_config` job: preset + overrides -> results/configs/{config}.yaml."""

import json
import sys
from pathlib import Path
from typing import Any

from hmasd.config import dump, load
from hmasd.errors import HMASDError


def main(smk: Any) -> int:
    with open(smk.log[0], "w") as log:
        try:
            cfg = load(smk.params.preset, json.loads(smk.params.overrides))
        except HMASDError as exc:
            print(f"config '{smk.wildcards.config}': {exc}", file=log)
            return 2
        dump(cfg, Path(smk.output[0]))
        print(f"preset {smk.params.preset} + {smk.params.overrides} -> {smk.output[0]}", file=log)
    return 0


if __name__ == "__main__":
    sys.exit(main(snakemake))  # noqa: F821 (injected by Snakemake's script directive)
