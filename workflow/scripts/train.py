"""Snakemake `train_{mode}` job: fresh start or resume, then `hmasd train --resume-latest`.

`--resume-latest` resumes from the newest periodic checkpoint in the run dir. That is right
after a kill (node loss, `kill -9`, a scheduler's signal or time limit), and after a job
that finished training but failed afterwards (killed while Snakemake checked its outputs,
which Snakemake then deleted): the run goes on from where it was, and ends with the
uninterrupted run's results. It is wrong when the config or the code changed: the old
checkpoints would be picked up as if nothing had. So each attempt leaves
`.train_attempt.json` with a hash of the resolved config's values, the rule's code
fingerprint and the torch version; an attempt with the same hash is resumed, anything else
wipes the run's training state and starts fresh. The code fingerprint is the rule's
`params.code` (hmasd/codehash.py: the meaning of the code, so a docstring edit keeps a
resumable attempt). A forced rerun of an unchanged run (`--forcerun`) therefore reproduces
it from its newest checkpoint; delete the run's directory to train it again from scratch.
"""

import hashlib
import json
import os
import shutil
import sys
from importlib.metadata import version
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
    count), ``code`` (the rule's semantic code fingerprint) and the torch version (read
    from the package metadata: importing torch takes seconds, during which a scheduler's
    signal would not yet be handled)."""
    values = json.dumps(read_yaml(Path(config)), sort_keys=True)
    return hashlib.sha256(f"{values}\0{code}\0{version('torch')}".encode()).hexdigest()


def prepare_run_dir(run_dir: Path, fp: str) -> bool:
    """Keep the run dir of an earlier attempt with the same fingerprint, interrupted or
    finished (-> resume, True); otherwise remove its training state (-> fresh start,
    False)."""
    try:
        previous = json.loads((run_dir / ATTEMPT).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        previous = None
    resume = isinstance(previous, dict) and previous.get("fingerprint") == fp
    if not resume:
        for name in TRAINING_STATE:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    # The pid lets an operator (or the kill -9 test) find the job's training process. The
    # status ("running", then "done") is for the operator too: resuming depends on the
    # fingerprint alone.
    atomic_write_json(
        run_dir / ATTEMPT, {"fingerprint": fp, "status": "running", "pid": os.getpid()}
    )
    return resume


def main(smk: Any) -> int:
    run_dir = Path(smk.output.summary).parent
    fp = fingerprint(smk.input.config, smk.params.code)
    resume = prepare_run_dir(run_dir, fp)
    state = "resuming an interrupted attempt" if resume else "fresh start"
    # Snakemake replaces the job's log at each attempt; the job's own output (the SLURM
    # log of a cluster job) keeps one line per attempt.
    print(f"[train job] {state} in {run_dir}", file=sys.stderr, flush=True)
    with redirect_to(smk.log[0]):
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
    if code != 0:  # how the attempt ended (e.g. "hmasd: stopped by SIGUSR1 at env step ...")
        lines = Path(smk.log[0]).read_text().strip().splitlines()
        print(f"[train job] {lines[-1] if lines else f'exit {code}'}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(snakemake))  # noqa: F821 (injected by Snakemake's script directive)
