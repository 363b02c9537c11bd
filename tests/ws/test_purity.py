"""The sans-I/O core of ``ws`` imports no asyncio (STYLE: pure core, thin shells).

Only ``ws.exceptions`` may import asyncio, for ``Closed`` (a ``CancelledError``);
it imports nothing else of ``ws`` but ``closecodes``, which imports nothing at all.
Two checks: the source of each pure module (every ``import``, even inside a
function), and a real import of the pure modules in a fresh interpreter,
without running ``ws/__init__`` (which imports the asyncio shell).
"""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

from tests.support import scaled

WS = pathlib.Path(__file__).resolve().parents[2] / "ws"

PURE = ["frames", "protocol", "messages", "http11", "handshake", "deflate", "routing", "http", "closecodes"]
# The asyncio shell: the core must never import these.
SHELL = {"__init__", "connection", "server", "client", "endpoint", "mux", "upgrade"}
IO_MODULES = {"asyncio", "socket", "selectors", "ssl", "threading", "trio", "anyio", "uvloop"}


def imports_of(module: str) -> tuple[set[str], set[str]]:
    """(top-level absolute module names, sibling ``ws`` modules) imported anywhere in *module*."""
    tree = ast.parse((WS / f"{module}.py").read_text(), filename=f"ws/{module}.py")
    absolute: set[str] = set()
    local: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ws":
                    local.add(alias.name.split(".")[1] if "." in alias.name else "__init__")
                else:
                    absolute.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")[0]
                if top == "ws":
                    local.add(node.module.split(".")[1] if "." in node.module else "__init__")
                else:
                    absolute.add(top)
            elif node.module:
                local.add(node.module.split(".")[0])
            else:  # from . import x
                local.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            absolute.add("<dynamic __import__>")
    return absolute, local


def core_closure() -> set[str]:
    """PURE and every ``ws`` module they import, transitively (sources only;
    compiled extensions such as ``_speedups`` have none and are checked at runtime)."""
    seen: set[str] = set()
    todo = list(PURE)
    while todo:
        module = todo.pop()
        if module in seen or not (WS / f"{module}.py").exists():
            continue
        seen.add(module)
        todo += imports_of(module)[1]
    return seen


@pytest.mark.parametrize("module", PURE)
def test_pure_module_source_imports_no_io(module: str) -> None:
    absolute, local = imports_of(module)
    assert "<dynamic __import__>" not in absolute
    assert not local & SHELL, f"ws/{module}.py imports shell modules {local & SHELL}"
    for name in core_closure() - {"exceptions"}:
        absolute, local = imports_of(name)
        assert not absolute & IO_MODULES, f"ws/{name}.py imports {absolute & IO_MODULES}"
        assert not local & SHELL, f"ws/{name}.py imports shell modules {local & SHELL}"


def test_exceptions_imports_asyncio_and_nothing_else_of_ws() -> None:
    absolute, local = imports_of("exceptions")
    assert absolute & IO_MODULES == {"asyncio"}
    # ``messages`` is imported for type checking only; ``closecodes`` is a leaf.
    assert local <= {"messages", "closecodes"}


def test_closecodes_imports_nothing_of_ws_and_no_io() -> None:
    absolute, local = imports_of("closecodes")
    assert local == set()
    assert absolute <= {"__future__", "enum"}


SCRIPT = r"""
import builtins, importlib, json, sys, types

ws_dir, pure = sys.argv[1], sys.argv[2].split(",")
# A bare package object: importing ws.<module> does not run ws/__init__.py.
package = types.ModuleType("ws")
package.__path__ = [ws_dir]
sys.modules["ws"] = package

offenders = []
real_import = builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__", "")
    if importer.startswith("ws.") and importer != "ws.exceptions" and level == 0 and name.split(".")[0] == "asyncio":
        offenders.append(importer)
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = spy
for module in pure:
    importlib.import_module("ws." + module)
builtins.__import__ = real_import
loaded = sorted(name for name in sys.modules if name.startswith("ws."))
print(json.dumps({"offenders": offenders, "loaded": loaded}))
"""


def test_pure_modules_import_without_the_asyncio_shell() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(WS), ",".join(PURE)],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["offenders"] == []
    # Loading the core pulls in no shell module (connection, server, client, ...).
    assert not set(report["loaded"]) & {f"ws.{name}" for name in SHELL}
