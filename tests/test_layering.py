"""The shape of the source tree: no import cycles, no reach into another module's
private attributes, no module past the size one reader can hold.

These read the source with :mod:`ast`; they do not import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ws", "rooms")
MAX_LINES = 600
# The standard library's own names for its types, which it exposes no other way.
STDLIB_TYPES = {"_Compress", "_Decompress"}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imports(name: str, path: Path) -> set[str]:
    """Every module of ours that *name* imports, anywhere in its body
    (TYPE_CHECKING blocks and imports inside functions count: they are cycles too)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # ``from . import codec`` imports the module ``pkg.codec``.
            candidates = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for candidate in candidates:
            if (ROOT / candidate.replace(".", "/")).with_suffix(".c").exists():
                break  # a compiled module of ours (ws._speedups): imports nothing of ours
            while candidate and candidate not in MODULES:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
                break
    return targets


def test_no_import_cycles():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    # A package's __init__ re-exports its modules; a module importing its own
    # package's __init__ would close a cycle, so those edges stay in.
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def _private_names_defined(tree: ast.Module) -> set[str]:
    """The ``_names`` a module defines: functions, classes, attributes it assigns,
    slots it declares.  Reading one of these on any object is the module's own business."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets):
            for elt in ast.walk(node.value):
                if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                    names.add(elt.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def _private_reaches(path: Path) -> list[str]:
    """``line: .attr`` for each ``obj._attr`` read in *path* that is not the module's own."""
    tree = _tree(path)
    own = _private_names_defined(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or attr.startswith("__") or attr == "_":
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue  # its own (perhaps inherited) state
        if attr in own or attr in STDLIB_TYPES:
            continue  # a private of this module, on another instance of its classes
        found.append(f"{node.lineno}: .{attr}")
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_reach_into_another_modules_privates(name):
    assert _private_reaches(MODULES[name]) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {lines} lines"


def test_the_checks_see_what_they_look_for(tmp_path):
    """The checker itself: a reach it must report, and the module's own privates it must not."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "class A:\n"
        "    __slots__ = ('_slot',)\n"
        "    def f(self, other):\n"
        "        return other._hidden + self._mine + other._slot + other._g()\n"
        "def _g(): pass\n"
    )
    assert _private_reaches(bad) == ["4: ._hidden"]
