"""What code a DAG rule runs, and a fingerprint of its meaning.

Snakemake reruns a job when an input file changes, but it cannot see the Python modules a
job imports. Listing whole packages as inputs reruns every job on any edit, a docstring typo
included. Instead each rule names its entry module(s); :func:`closure` follows their
``import`` / ``from ... import`` statements (at any depth in a file, function-level imports
included, relative imports resolved) to every module of this repository they can reach,
and :func:`fingerprint` hashes what those files *mean*: the AST with docstrings and bare
string statements removed and no line numbers, so comments, docstrings and formatting do
not count. The rules pass the fingerprint as a ``params`` value (a rerun trigger that
``snakemake --summary`` reports as "params changed").

What it does not see, on purpose or by necessity:

- Imports by computed name (``importlib.import_module(f"hmasd.commands.{name}")``): the
  CLI dispatches to its subcommand modules that way so that each rule's closure holds only
  the subcommand it runs; a rule names that module as a second entry.
- Lazy package attributes (PEP 562 ``__getattr__``): a package ``__init__`` that exports
  names of its submodules lazily lists them in a literal ``_LAZY = {"name": "submodule"}``
  dict; ``from package import name`` then follows ``package.submodule``.
- Modules outside the search roots (the standard library, installed packages) and data
  files: their versions belong to the software environment, not to this fingerprint.

Code that reads ``__doc__`` at run time would see docstring edits that the fingerprint
ignores; no module in hmasd/ or analysis/ does (``tests/test_codehash.py`` checks it).

The AST dump depends on the Python version (3.12 adds fields), so a new interpreter
changes every fingerprint: a rerun that is arguably right anyway.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hmasd.errors import CodeHashError

REPO = Path(__file__).resolve().parents[1]
# Where a job's imports are looked up, as on its sys.path: the repository root (hmasd,
# analysis) and the directory Snakemake puts on sys.path for workflow/scripts/*.py.
DEFAULT_ROOTS = (REPO, REPO / "workflow" / "scripts")
# Bump when the normalisation changes, so old fingerprints never match new ones.
VERSION = "codehash-1"


@dataclass(frozen=True)
class Module:
    """One module of the closure: its dotted name (a script: its path), file and package."""

    name: str
    path: Path
    package: str
    """Package that relative imports start from ('' for a top-level module or a script)."""
    script: bool = False
    """An entry script (``workflow/scripts/x.py``): no parent packages to run first."""


@dataclass(frozen=True)
class Import:
    """One name an ``import`` statement may load."""

    name: str
    """Absolute dotted name."""
    line: int
    written: str
    """The statement as written, for error messages."""
    maybe_attribute: bool
    """``a`` of ``from X import a``: a submodule, or just an attribute of ``X``."""


def find_module(name: str, roots: Sequence[Path] = DEFAULT_ROOTS) -> Module | None:
    """The module ``name`` (dotted) under one of ``roots``, or None when it is not there.

    A package counts only with an ``__init__.py``: the repository's plain directories
    (``tests``, ``config``) would otherwise be namespace packages that shadow nothing real.
    """
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    for root in map(Path, roots):
        parents = (root.joinpath(*parts[:i]) / "__init__.py" for i in range(1, len(parts)))
        if not all(p.is_file() for p in parents):
            continue
        base = root.joinpath(*parts)
        if (base / "__init__.py").is_file():
            return Module(name, base / "__init__.py", name)
        if base.with_name(base.name + ".py").is_file():
            return Module(name, base.with_name(base.name + ".py"), name.rpartition(".")[0])
    return None


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CodeHashError(f"{path}: cannot read ({exc.strerror})") from None


# Caches keyed by the file's text, not its mtime (coarse on some file systems): the rules
# of one DAG share most modules, and reading a file is cheap next to parsing it.
@functools.lru_cache(maxsize=512)
def _parse_text(filename: str, source: str) -> ast.Module:
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise CodeHashError(f"{filename}: syntax error at line {exc.lineno}: {exc.msg}") from None


@functools.lru_cache(maxsize=512)
def _normalized_text(filename: str, source: str) -> str:
    return normalized(source, filename)


def parse(path: Path) -> ast.Module:
    """The AST of ``path`` (cached: callers must not modify it); a missing or broken file is
    a :class:`CodeHashError`."""
    return _parse_text(str(path), _read(path))


def _absolute(module: Module, level: int, target: str | None, line: int) -> str:
    """Dotted name of a (possibly relative) import target as seen from ``module``."""
    if level == 0:
        return target or ""
    parts = module.package.split(".") if module.package else []
    if level - 1 >= len(parts):
        raise CodeHashError(
            f"{module.path}:{line}: relative import '{'.' * level}{target or ''}' goes "
            "beyond the top-level package"
        )
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_of(module: Module, tree: ast.Module) -> list[Import]:
    """Every import of ``tree``, in line order, relative ones made absolute.

    Imports anywhere count: top level, function bodies, ``try`` and ``if`` blocks, since
    any of them may run. ``from X import a`` yields ``X`` and ``X.a`` (the latter marked
    ``maybe_attribute``).
    """
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(a.name, node.lineno, f"import {a.name}", False) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            written = f"from {'.' * node.level}{node.module or ''} import"
            base = _absolute(module, node.level, node.module, node.lineno)
            found.append(Import(base, node.lineno, written, False))
            found += [
                Import(f"{base}.{a.name}", node.lineno, f"{written} {a.name}", True)
                for a in node.names
                if a.name != "*"
            ]
    return sorted(found, key=lambda i: i.line)


def _lazy_exports(package: Module) -> dict[str, str]:
    """``_LAZY = {"name": "submodule"}`` of a package ``__init__`` (see module docstring)."""
    if package.path.name != "__init__.py":
        return {}
    for node in parse(package.path).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if not any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
            continue
        try:
            value = ast.literal_eval(node.value) if node.value is not None else None
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise CodeHashError(f"{package.path}:{node.lineno}: _LAZY must be a literal dict")
        return {str(k): str(v) for k, v in value.items()}
    return {}


def _entry(entry: str | Path, roots: Sequence[Path]) -> Module:
    """An entry is a dotted module name or the path of a script (``workflow/scripts/x.py``)."""
    text = str(entry)
    if text.endswith(".py"):
        path = Path(text) if Path(text).is_absolute() else Path(roots[0]) / text
        if not path.is_file():
            raise CodeHashError(f"{text}: entry script not found")
        # A script runs as a top-level module; naming it by its path keeps it apart from
        # a module of the same stem.
        return Module(Path(text).as_posix(), path, "", script=True)
    module = find_module(text, roots)
    if module is None:
        raise CodeHashError(f"entry module '{text}' is not a module of this repository")
    return module


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(
    entries: Iterable[str | Path],
    roots: Sequence[Path] = DEFAULT_ROOTS,
    ignore: Iterable[str] = (),
) -> list[Module]:
    """Every module of this repository that running ``entries`` can import, sorted by name.

    Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first, so parent
    packages are part of the closure. A name whose top-level package lives here but that
    resolves to no module (``import hmasd.nope``) is an error naming the file and line: the
    job would fail on it anyway. Names of other top-level packages are not followed.

    ``ignore``: modules left out, and not followed, although the entries import them (for
    code whose only effect is a side product nothing downstream reads, see common.smk).
    Each must be reachable: a stale name (a module renamed since) is an error.
    """
    entries, roots = list(entries), tuple(Path(r) for r in roots)
    ignored = set(ignore)
    skipped: set[str] = set()
    seen: dict[str, Module] = {}
    todo = [_entry(e, roots) for e in entries]
    while todo:
        module = todo.pop()
        if module.name in seen or module.name in skipped:
            continue
        if module.name in ignored:
            skipped.add(module.name)
            continue
        seen[module.name] = module
        if not module.script:
            todo += [m for p in _parents(module.name) if (m := find_module(p, roots)) is not None]
        for imp in imports_of(module, parse(module.path)):
            if find_module(imp.name.split(".")[0], roots) is None:
                continue  # standard library or an installed package
            found = find_module(imp.name, roots)
            if found is not None:
                todo.append(found)
                continue
            if imp.maybe_attribute:
                package, _, attr = imp.name.rpartition(".")
                owner = find_module(package, roots)
                lazy = _lazy_exports(owner).get(attr) if owner is not None else None
                if lazy is None:
                    continue  # ``from package import attribute``
                target = find_module(f"{package}.{lazy}", roots)
                if target is None:
                    raise CodeHashError(
                        f"{owner.path}: _LAZY maps '{attr}' to '{package}.{lazy}', "
                        "which is not a module"
                    )
                todo.append(target)
                continue
            raise CodeHashError(
                f"{module.path}:{imp.line}: '{imp.written}' names '{imp.name}', which is "
                "not a module of this repository"
            )
    if stale := sorted(ignored - skipped):
        raise CodeHashError(
            f"ignored module(s) {', '.join(stale)} not imported by {', '.join(map(str, entries))}"
        )
    return sorted(seen.values(), key=lambda m: m.name)


class _StripDocs(ast.NodeTransformer):
    """Drop docstrings and every other statement that is a bare string constant."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                setattr(node, field, [s for s in body if not _is_bare_string(s)])
        return node


def _is_bare_string(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def normalized(source: str, filename: str = "<string>") -> str:
    """The meaning of ``source``: its AST without docstrings, comments, line numbers or
    formatting, as text. Two sources with the same ``normalized`` run the same way."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise CodeHashError(f"{filename}: syntax error at line {exc.lineno}: {exc.msg}") from None
    return ast.dump(_StripDocs().visit(tree), annotate_fields=True, include_attributes=False)


def fingerprint(
    entries: Iterable[str | Path],
    roots: Sequence[Path] = DEFAULT_ROOTS,
    ignore: Iterable[str] = (),
) -> str:
    """sha256 over (name, normalised AST) of every module in the closure of ``entries``
    (less ``ignore``, see :func:`closure`).

    Equal fingerprints mean the same modules with the same code, up to comments,
    docstrings and formatting; a changed constant, a new import, a renamed module change it.
    """
    digest = hashlib.sha256(VERSION.encode() + b"\0")
    for module in closure(entries, roots, ignore):
        text = _normalized_text(str(module.path), _read(module.path))
        digest.update(module.name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def describe(
    entries: Iterable[str | Path],
    roots: Sequence[Path] = DEFAULT_ROOTS,
    ignore: Iterable[str] = (),
) -> str:
    """The closure as one line of module names (to see what a rule's fingerprint covers)."""
    return " ".join(m.name for m in closure(entries, roots, ignore))
