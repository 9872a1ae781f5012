"""Snakemake `train_{mode}` job: fresh start or resume, then `hmasd train --resume-latest`.

`--resume-latest` resumes from the newest periodic checkpoint in the run dir. That is right
after a kill (node loss, `kill -9`, timeout), but wrong when Snakemake reruns a job because
its config, its code or a forced rerun asked for it: the old checkpoints would be picked up
as if the run had been interrupted. So each attempt leaves `.train_attempt.json` (a hash of
the resolved config's values and of the rule's code fingerprint, and "running"/"done");
only an unfinished attempt with the same hash is resumed. Anything else wipes the run's
training state and starts fresh. The code fingerprint is the rule's `params.code`
(hmasd/codehash.py: the meaning of the code, so a docstring edit keeps a resumable attempt).
"""

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from joblog import redirect_to

from hmasd.config import read_yaml
from hmasd.io import atomic_write_json

ATTEMPT = ".train_attempt.json"
# What `hmasd train` writes into a run dir (eval/ belongs to the evaluate rule).
TRAINING_STATE = ("models", "tb", "paper_data", "config.yaml", "train_summary.json")


def fingerprint(config: str | Path, code: str) -> str:
    """sha256 over the values of the resolved ``config`` (YAML; comments and layout do not
    count) and ``code``, the rule's semantic code fingerprint."""
    values = json.dumps(read_yaml(Path(config)), sort_keys=True)
    return hashlib.sha256(f"{values}\0{code}".encode()).hexdigest()


def prepare_run_dir(run_dir: Path, fp: str) -> bool:
    """Keep the run dir of an interrupted attempt with the same fingerprint (-> resume,
    True); otherwise remove its training state (-> fresh start, False)."""
    try:
        previous = json.loads((run_dir / ATTEMPT).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        previous = None
    resume = (
        isinstance(previous, dict)
        and previous.get("status") == "running"
        and previous.get("fingerprint") == fp
    )
    if not resume:
        for name in TRAINING_STATE:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    # The pid lets an operator (or the kill -9 test) find the job's training process.
    atomic_write_json(
        run_dir / ATTEMPT, {"fingerprint": fp, "status": "running", "pid": os.getpid()}
    )
    return resume


def main(smk: Any) -> int:
    run_dir = Path(smk.output.summary).parent
    with redirect_to(smk.log[0]):
        fp = fingerprint(smk.input.config, smk.params.code)
        resume = prepare_run_dir(run_dir, fp)
        state = "resuming an interrupted attempt" if resume else "fresh start"
        argv = [
            "train",
            "--config",
            str(smk.input.config),
            "--mode",
            smk.params.mode,
            "--seed",
            str(smk.wildcards.seed),
            "--out",
            str(run_dir),
            "--resume-latest",
            "--log-level",
            smk.params.log_level,
        ]
        print(f"[train job] {state}: hmasd {' '.join(argv)}", flush=True)
        from hmasd.cli import main as hmasd_main

        code = hmasd_main(argv)
        if code == 0:
            atomic_write_json(run_dir / ATTEMPT, {"fingerprint": fp, "status": "done"})
    return code


if __name__ == "__main__":
    sys.exit(main(snakemake))  # noqa: F821 (injected by Snakemake's script directive)
