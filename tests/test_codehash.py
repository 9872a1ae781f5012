"""hmasd.codehash: import closures and fingerprints of meaning, on small known files and on
the repository's own rules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hmasd import codehash as ch
from hmasd.errors import CodeHashError

REPO = Path(__file__).resolve().parents[1]
ROOTS = (REPO, REPO / "workflow" / "scripts")


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


BASE = {
    "pkg/__init__.py": '"""A package."""\n',
    "pkg/a.py": '''
        """Module a."""

        import os

        from pkg import b

        RATE = 0.5  # a constant


        def f(x):
            """Scale x."""
            return b.g(x) * RATE
        ''',
    "pkg/b.py": '''
        def g(x):
            from .sub import c  # relative, inside a function

            return c.h(x)
        ''',
    "pkg/sub/__init__.py": "",
    "pkg/sub/c.py": '''
        from ..d import K


        def h(x):
            return x + K
        ''',
    "pkg/d.py": "K = 1\n",
    "pkg/unused.py": "X = 2\n",
    "scripts/job.py": '''
        from helper import log

        from pkg.a import f
        ''',
    "scripts/helper.py": "def log(x):\n    return x\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write(tmp_path, BASE)


def roots(tree: Path) -> tuple[Path, Path]:
    return (tree, tree / "scripts")


def names(tree: Path, *entries: str) -> list[str]:
    return [m.name for m in ch.closure(entries, roots(tree))]


# ------------------------------------------------------------------------- closure


def test_closure_follows_function_level_and_relative_imports(tree: Path) -> None:
    assert names(tree, "pkg.a") == ["pkg", "pkg.a", "pkg.b", "pkg.d", "pkg.sub", "pkg.sub.c"]


def test_closure_of_a_script_holds_its_sibling_modules(tree: Path) -> None:
    got = names(tree, "scripts/job.py")
    assert got == [
        "helper",
        "pkg",
        "pkg.a",
        "pkg.b",
        "pkg.d",
        "pkg.sub",
        "pkg.sub.c",
        "scripts/job.py",
    ]
    assert "pkg.unused" not in got


def test_from_package_import_attribute_is_not_a_module(tree: Path) -> None:
    write(tree, {"pkg/e.py": "from pkg.d import K\nfrom pkg import d\n"})
    assert names(tree, "pkg.e") == ["pkg", "pkg.d", "pkg.e"]


def test_computed_imports_are_not_followed(tree: Path) -> None:
    write(tree, {"pkg/e.py": 'import importlib\nimportlib.import_module(f"pkg.{1}")\n'})
    assert names(tree, "pkg.e") == ["pkg", "pkg.e"]


def test_lazy_package_exports_are_followed(tree: Path) -> None:
    write(
        tree,
        {
            "pkg/__init__.py": '_LAZY = {"X": "unused"}\n',
            "pkg/e.py": "from pkg import X\n",
            "pkg/f.py": "import pkg\n",
        },
    )
    assert names(tree, "pkg.e") == ["pkg", "pkg.e", "pkg.unused"]
    assert names(tree, "pkg.f") == ["pkg", "pkg.f"]  # only `from pkg import X` loads X


def test_missing_module_of_a_local_package_is_an_error(tree: Path) -> None:
    write(tree, {"pkg/e.py": "def f():\n    from pkg.nope import x\n"})
    with pytest.raises(CodeHashError, match=r"e\.py:2: 'from pkg\.nope import' names 'pkg\.nope'"):
        ch.closure(["pkg.e"], roots(tree))


def test_missing_entry_is_an_error(tree: Path) -> None:
    with pytest.raises(CodeHashError, match="'pkg.nope' is not a module"):
        ch.closure(["pkg.nope"], roots(tree))
    with pytest.raises(CodeHashError, match="nope.py: entry script not found"):
        ch.closure(["scripts/nope.py"], roots(tree))


def test_relative_import_beyond_the_top_is_an_error(tree: Path) -> None:
    write(tree, {"pkg/e.py": "from ...x import y\n"})
    with pytest.raises(CodeHashError, match="beyond the top-level package"):
        ch.closure(["pkg.e"], roots(tree))


def test_syntax_error_names_file_and_line(tree: Path) -> None:
    write(tree, {"pkg/d.py": "K = (\n"})
    with pytest.raises(CodeHashError, match=r"d\.py: syntax error at line 1"):
        ch.fingerprint(["pkg.a"], roots(tree))


def test_installed_and_standard_modules_are_not_followed(tree: Path) -> None:
    write(tree, {"pkg/e.py": "import os\nimport yaml\nfrom collections import abc\n"})
    assert names(tree, "pkg.e") == ["pkg", "pkg.e"]


# ------------------------------------------------------------------------- fingerprint


def edit(tree: Path, rel: str, old: str, new: str) -> None:
    path = tree / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("rel", "old", "new"),
    [
        ("pkg/a.py", '"""Scale x."""', '"""Scale x by RATE (typo fixed)."""'),
        ("pkg/a.py", '"""Module a."""', '"""Module a, documented at length."""'),
        ("pkg/a.py", "# a constant", "# a constant, with a longer comment"),
        ("pkg/a.py", "RATE = 0.5", "RATE = (\n    0.5\n)"),  # reformatted
        ("pkg/a.py", "return b.g(x) * RATE", 'return b.g(x) * RATE\n    "a bare string"'),
        ("pkg/d.py", "K = 1", "# first line\n\n\nK = 1  # trailing"),
        ("pkg/sub/c.py", "def h(x):", 'def h(x):\n    """New docstring."""'),
    ],
)
def test_comments_docstrings_and_formatting_keep_the_fingerprint(
    tree: Path, rel: str, old: str, new: str
) -> None:
    before = ch.fingerprint(["scripts/job.py"], roots(tree))
    edit(tree, rel, old, new)
    assert ch.fingerprint(["scripts/job.py"], roots(tree)) == before


@pytest.mark.parametrize(
    ("rel", "old", "new"),
    [
        ("pkg/a.py", "RATE = 0.5", "RATE = 0.25"),  # a constant
        ("pkg/d.py", "K = 1", "K = 2"),  # deep in the closure, via a relative import
        ("pkg/sub/c.py", "return x + K", "return K + x"),
        ("scripts/helper.py", "return x", "return None"),
        ("pkg/b.py", "from .sub import c", "from .sub import c\n    import pkg.unused"),
    ],
)
def test_a_change_of_meaning_changes_the_fingerprint(
    tree: Path, rel: str, old: str, new: str
) -> None:
    before = ch.fingerprint(["scripts/job.py"], roots(tree))
    edit(tree, rel, old, new)
    assert ch.fingerprint(["scripts/job.py"], roots(tree)) != before


def test_modules_outside_the_closure_do_not_count(tree: Path) -> None:
    before = ch.fingerprint(["pkg.a"], roots(tree))
    edit(tree, "pkg/unused.py", "X = 2", "X = 3")
    edit(tree, "scripts/helper.py", "return x", "return None")  # only the script uses it
    assert ch.fingerprint(["pkg.a"], roots(tree)) == before


def test_fingerprint_is_a_stable_hex_digest(tree: Path) -> None:
    fp = ch.fingerprint(["pkg.a"], roots(tree))
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert ch.fingerprint(["pkg.a"], roots(tree)) == fp


def test_normalized_drops_docstrings_not_code() -> None:
    assert ch.normalized('def f():\n    """Doc."""\n    return 1\n') == ch.normalized(
        "def f():  # c\n    return (1)\n"
    )
    assert ch.normalized("x = 'a'\n") != ch.normalized("x = 'b'\n")  # strings in code count


# ------------------------------------------------------------------------- this repository
# The DAG's rules (workflow/rules/common.smk, RULE_CODE) run these entries; what each can
# reach decides what an edit reruns.

TRAIN = ["workflow/scripts/train.py", "hmasd.commands.train"]
EVALUATE = ["hmasd.__main__", "hmasd.commands.eval"]
BASELINE = ["hmasd.__main__", "hmasd.commands.baseline"]


def repo_closure(entries: list[str]) -> set[str]:
    return {m.name for m in ch.closure(entries, ROOTS)}


def test_evaluate_runs_neither_the_tracker_nor_the_trainer_nor_the_baselines() -> None:
    got = repo_closure(EVALUATE)
    assert {"hmasd.training.evaluate", "hmasd.env.uav_env", "hmasd.agent.hmasd"} <= got
    for name in (
        "hmasd.tracking",
        "hmasd.tracking.plots",
        "hmasd.training.trainer",
        "hmasd.env.baselines",
        "hmasd.commands.train",
    ):
        assert name not in got, name


def test_train_runs_the_tracker_but_not_the_baselines_or_other_commands() -> None:
    got = repo_closure(TRAIN)
    assert {"hmasd.training.trainer", "hmasd.tracking", "hmasd.env.uav_env", "joblog"} <= got
    assert not got & {"hmasd.env.baselines", "hmasd.commands.eval", "hmasd.commands.baseline"}
    assert not any(name.startswith("analysis") for name in got)


def test_baseline_runs_no_agent_and_no_training() -> None:
    got = repo_closure(BASELINE)
    assert "hmasd.env.baselines" in got
    assert not any(name.startswith(("hmasd.agent", "hmasd.training")) for name in got)


def test_analysis_scripts_run_only_their_modules() -> None:
    figures = repo_closure(["workflow/scripts/figures.py"])
    tables = repo_closure(["workflow/scripts/tables.py"])
    assert {"analysis.figures", "analysis.scores", "analysis.style", "analysis.stats",
            "analysis.schema"} <= figures
    for name in ("analysis.consolidate", "analysis.tables", "analysis.cells", "analysis.render"):
        assert name not in figures, name
    assert {"analysis.tables", "analysis.scores", "analysis.cells", "analysis.render"} <= tables
    assert "analysis.figures" not in tables


def test_no_repository_code_reads_docstrings_at_run_time() -> None:
    """The fingerprint ignores docstrings, which is sound only while no code reads them."""
    for path in [*(REPO / "hmasd").rglob("*.py"), *(REPO / "analysis").rglob("*.py")]:
        if path.name == "codehash.py":
            continue
        text = path.read_text()
        for needle in ("__doc__", "getdoc", "getsource"):
            assert needle not in text, f"{path.relative_to(REPO)} uses {needle}"


def test_ignored_modules_are_left_out_and_not_followed(tree: Path) -> None:
    assert names(tree, "pkg.a") == ["pkg", "pkg.a", "pkg.b", "pkg.d", "pkg.sub", "pkg.sub.c"]
    got = [m.name for m in ch.closure(["pkg.a"], roots(tree), ignore=["pkg.sub.c"])]
    assert got == ["pkg", "pkg.a", "pkg.b", "pkg.sub"]  # pkg.d only came through pkg.sub.c
    before = ch.fingerprint(["pkg.a"], roots(tree), ignore=["pkg.sub.c"])
    edit(tree, "pkg/sub/c.py", "return x + K", "return x - K")
    assert ch.fingerprint(["pkg.a"], roots(tree), ignore=["pkg.sub.c"]) == before


def test_an_ignored_module_that_is_not_imported_is_an_error(tree: Path) -> None:
    with pytest.raises(CodeHashError, match="ignored module.*pkg.renamed not imported by pkg.a"):
        ch.closure(["pkg.a"], roots(tree), ignore=["pkg.renamed"])
