"""`make readme`: the DAG's files spliced between the README's markers, nothing retyped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from analysis import readme
from hmasd.errors import HMASDError

ROW = {"section": "comparison", "family": "fam", "method": "HMASD sync - hover", "policy": "",
       "metric": "final_return", "low": "", "high": "", "n": "5", "n_of": "runs", "n_ref": "32",
       "note": "primary (c): anchor minus hover"}


def _tables(root: Path, folder: str, verdict: str, holm: float) -> None:
    out = root / folder
    out.mkdir(parents=True)
    (out / "readme_summary.md").write_text("Final checkpoints.\n\n## A heading\n")
    with (out / "sync_vs_async.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, [*ROW, "estimator", "value", "verdict"])
        w.writeheader()
        w.writerow({**ROW, "estimator": "holm_p", "value": repr(holm), "verdict": ""})
        w.writerow({**ROW, "estimator": "verdict", "value": "", "verdict": verdict})
        w.writerow({**ROW, "note": "", "estimator": "verdict", "value": "", "verdict": "x"})


def test_splices_summary_timing_and_verdicts_of_every_seed_set(tmp_path: Path) -> None:
    _tables(tmp_path, "results/tables", "not resolved at N=5", 0.2)
    _tables(tmp_path, "results/seeds5-9/tables", "holds", 0.0004)
    (tmp_path / "results/dag_time.json").write_text(json.dumps(
        {"seconds": 750.0, "command": "snakemake --cores all", "machine": "CPU X", "cores": 2}))
    (tmp_path / "README.md").write_text(
        f"intro\n{readme.BEGIN}\nold numbers\n{readme.END}\ntail\n")
    assert readme.main(tmp_path) == 0
    text = (tmp_path / "README.md").read_text()
    assert "old numbers" not in text and text.startswith("intro\n") and text.endswith("tail\n")
    assert "took **12.5 min** on CPU X, 2 cores" in text
    assert "### A heading" in text  # the summary's headings sit below the README's
    assert ("| fam | (c) | HMASD sync - hover | not resolved at N=5 (Holm p 0.200) | "
            "holds (Holm p <0.001) |") in text
    assert readme.main(tmp_path) == 0 and (tmp_path / "README.md").read_text() == text


def test_missing_results_or_markers_are_one_line_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "README.md").write_text(f"{readme.BEGIN}\n{readme.END}\n")
    assert readme.main(tmp_path) == 2
    assert "no results yet" in capsys.readouterr().err
    _tables(tmp_path, "results/tables", "holds", 0.01)
    (tmp_path / "README.md").write_text("no markers\n")
    assert readme.main(tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("hmasd: error: ") and err.count("\n") == 1
    with pytest.raises(HMASDError):
        readme.splice(tmp_path / "README.md", "x")
