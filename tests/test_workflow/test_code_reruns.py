"""Code edits rerun what their meaning can reach, and nothing else (dry runs on copies of one
completed smoke run; see workflow/rules/common.smk, RULE_CODE, and hmasd/codehash.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import (
    SMOKE,
    change_a_constant,
    edit_without_meaning,
    planned,
    rules_of,
    snakemake,
    touch_later,
    write_later,
)

pytestmark = pytest.mark.slow

AGGREGATES = {"consolidate": 1, "figures": 1, "tables": 1, "all": 1}
# The smoke grid: smoke (sync, async), smoke_flat (sync) and smoke_async4 (async), 2 seeds
# each: 4 sync and 4 async runs, one evaluate job per run (final + best), 3 baselines for
# the one family.
TRAINING = {"train_sync": 4, "train_async": 4, "evaluate": 8}
BASELINES = {"baseline": 3}


def summary_rows(root: Path) -> dict[str, list[str]]:
    """``snakemake --summary``: output file -> its row (status in column 5, plan in 6)."""
    out = snakemake(root, "--summary", "--configfile", SMOKE).stdout
    return {r.split("\t")[0]: r.split("\t") for r in out.splitlines() if "\t" in r}


def test_docstring_and_comment_edits_anywhere_rerun_nothing(smoke_copy: Path) -> None:
    """Every module of hmasd/ and analysis/ and the scripts' shared joblog.py. (The entry
    scripts under workflow/scripts/ are left out: Snakemake reruns a `script:` rule when its
    script is newer than the outputs, whatever the edit.)"""
    edited = [
        *sorted((smoke_copy / "hmasd").rglob("*.py")),
        *sorted((smoke_copy / "analysis").rglob("*.py")),
        smoke_copy / "workflow" / "scripts" / "joblog.py",
    ]
    assert len(edited) > 30
    for path in edited:
        edit_without_meaning(path)
    assert planned(smoke_copy) == []


def test_a_bare_touch_reruns_nothing(smoke_copy: Path) -> None:
    for path in (smoke_copy / "hmasd").rglob("*.py"):
        touch_later(path)
    assert planned(smoke_copy) == []


def test_changed_env_constant_reruns_training_evaluation_baselines_and_aggregates(
    smoke_copy: Path,
) -> None:
    change_a_constant(smoke_copy / "hmasd" / "env" / "uav_env.py")
    # The resolved configs depend only on hmasd/config.py (and what it imports).
    assert rules_of(planned(smoke_copy)) == {**TRAINING, **BASELINES, **AGGREGATES}
    # --summary says why: the code fingerprint is a params value.
    rows = summary_rows(smoke_copy)
    for path in (
        "results/runs/smoke/sync/seed0/train_summary.json",
        "results/runs/smoke/async/seed1/models/hmasd_async_tracking_final.pt",
        "results/runs/smoke/sync/seed0/eval/final.json",
        "results/baselines/smoke/kmeans.json",
    ):
        assert rows[path][4:6] == ["params changed", "update pending"], rows[path]
    assert rows["results/configs/smoke.yaml"][4:6] == ["ok", "no update"]


def test_baselines_edit_reruns_only_baselines_and_aggregates(smoke_copy: Path) -> None:
    change_a_constant(smoke_copy / "hmasd" / "env" / "baselines.py")
    assert rules_of(planned(smoke_copy)) == {**BASELINES, **AGGREGATES}


def test_progress_plot_edit_reruns_no_evaluation(smoke_copy: Path) -> None:
    """hmasd/tracking/plots.py only draws the train job's progress PNGs, which nothing
    downstream reads: the train rule ignores it (common.smk, RULE_CODE_IGNORED), so neither
    training nor, through new checkpoints, evaluation reruns."""
    change_a_constant(smoke_copy / "hmasd" / "tracking" / "plots.py")
    assert planned(smoke_copy) == []


def test_tracker_edit_reruns_training_and_what_reads_it_but_no_baseline(
    smoke_copy: Path,
) -> None:
    """hmasd/tracking/ is in the train rule's code only; evaluation reruns because its
    input checkpoints are rebuilt, baselines do not."""
    path = smoke_copy / "hmasd" / "tracking" / "tracker.py"
    write_later(path, path.read_text() + "\n_EDITED_BY_A_TEST = 1\n")
    assert rules_of(planned(smoke_copy)) == {**TRAINING, **AGGREGATES}
    rows = summary_rows(smoke_copy)
    assert rows["results/runs/smoke/sync/seed1/train_summary.json"][4] == "params changed"
    assert rows["results/baselines/smoke/hover.json"][4:6] == ["ok", "no update"]


def test_analysis_edits_rerun_only_the_rules_that_run_them(smoke_copy: Path) -> None:
    change_a_constant(smoke_copy / "analysis" / "figures.py")
    assert rules_of(planned(smoke_copy)) == {"figures": 1, "all": 1}
    path = smoke_copy / "analysis" / "schema.py"  # read by all three analysis rules
    write_later(path, path.read_text() + "\n_EDITED_BY_A_TEST = 1\n")
    assert rules_of(planned(smoke_copy)) == AGGREGATES
